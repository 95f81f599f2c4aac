"""A method strategy: continual-learning plugins on top of an optimizer strategy chosen with
--set optimizer=NAME, whose own settings --set reaches as well."""

from __future__ import annotations

from typing import Callable

from torch import nn

from clbench.assignments import split_assignment
from clbench.errors import UsageError
from clbench.registry import closest, get_strategy, strategies
from clbench.settings import Setting
from clbench.strategy import Strategy

DEFAULT_OPTIMIZER = "adamw"
OPTIMIZER_KEY = "optimizer"
OPTIMIZER_SETTING = Setting(DEFAULT_OPTIMIZER, "the optimizer strategy the method trains with (any strategy that is "
                                               "not a method); its settings can be set as well")


def method_strategy(name: str, description: str, defaults: dict, make_plugins: Callable[[dict], list] | None = None,
                    prepare_model: Callable[[nn.Module, dict], None] | None = None, joint: bool = False) -> Strategy:
    """A strategy that trains with the optimizer strategy named by its "optimizer" setting, with that
    optimizer's plugins and model preparation, plus the method's own (prepare_model runs after the
    optimizer's)."""

    def make_optimizer(backbone, head, lr, config):
        return optimizer_of(config).make_optimizer(backbone, head, lr, config)

    def all_plugins(config):
        return [*optimizer_of(config).make_plugins(config), *(make_plugins(config) if make_plugins else [])]

    def prepare(model, config):
        optimizer_of(config).prepare_model(model, config)
        if prepare_model:
            prepare_model(model, config)

    return Strategy(name=name, description=description, defaults={OPTIMIZER_KEY: OPTIMIZER_SETTING, **defaults},
                    make_optimizer=make_optimizer, make_plugins=all_plugins, prepare_model=prepare, joint=joint)


def is_method(strategy: Strategy) -> bool:
    return OPTIMIZER_KEY in strategy.defaults


def optimizer_of(config: dict) -> Strategy:
    return get_strategy(config[OPTIMIZER_KEY])


def chosen_optimizer(method: Strategy, assignments: list[str]) -> Strategy:
    """The optimizer strategy a run of `method` with these --set assignments trains with (the last
    optimizer= wins, as for every --set key). One-line UsageError for an unknown one or a method."""
    name = method.defaults[OPTIMIZER_KEY]
    for assignment in assignments:
        key, value = split_assignment(assignment)
        if key == OPTIMIZER_KEY:
            name = value
    optimizers = [s.name for s in strategies().values() if not is_method(s)]
    if name not in strategies() or is_method(get_strategy(name)):
        raise UsageError(f"--set optimizer={name} is not an optimizer strategy; {closest(name, optimizers)}")
    return get_strategy(name)


def method_settings(method: Strategy, optimizer: Strategy) -> dict[str, Setting]:
    """The optimizer's settings, then the method's."""
    if clash := set(method.settings) & set(optimizer.settings):
        raise RuntimeError(f"method {method.name!r} redefines settings {sorted(clash)} of optimizer {optimizer.name!r}")
    return {**optimizer.settings, **method.settings}
