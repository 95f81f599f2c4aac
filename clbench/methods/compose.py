"""A method strategy: continual-learning callbacks on top of an optimizer strategy chosen with
--set optimizer=NAME, whose own settings --set reaches as well. A method trains once composed with
its optimizer (`trained_with`), which the run does when it resolves the strategy it trains."""

from __future__ import annotations

from typing import Callable

from torch import nn

from clbench.settings import Setting
from clbench.strategy import Strategy

DEFAULT_OPTIMIZER = "adamw"
OPTIMIZER_KEY = "optimizer"
OPTIMIZER_SETTING = Setting(DEFAULT_OPTIMIZER, "the optimizer strategy the method trains with (any strategy that is "
                                               "not a method); its settings can be set as well")


def method_strategy(name: str, description: str, defaults: dict, make_callbacks: Callable[[dict], list] | None = None,
                    prepare_model: Callable[[nn.Module, dict], None] | None = None, joint: bool = False) -> Strategy:
    """A strategy that trains with the optimizer strategy named by its "optimizer" setting, with that
    optimizer's callbacks and model preparation, plus the method's own (prepare_model runs after the
    optimizer's)."""

    def needs_an_optimizer(*args):
        raise RuntimeError(f"method {name!r} trains with an optimizer strategy: train trained_with(method, optimizer)")

    return Strategy(name=name, description=description, defaults={OPTIMIZER_KEY: OPTIMIZER_SETTING, **defaults},
                    make_optimizer=needs_an_optimizer, make_callbacks=make_callbacks or (lambda config: []),
                    prepare_model=prepare_model or (lambda model, config: None), joint=joint)


def is_method(strategy: Strategy) -> bool:
    return OPTIMIZER_KEY in strategy.defaults


def trained_with(method: Strategy, optimizer: Strategy) -> Strategy:
    """The method composed with its optimizer strategy: the optimizer's optimizer, the optimizer's
    callbacks then the method's, the optimizer's model preparation then the method's."""

    def callbacks(config):
        return [*optimizer.make_callbacks(config), *method.make_callbacks(config)]

    def prepare(model, config):
        optimizer.prepare_model(model, config)
        method.prepare_model(model, config)

    return Strategy(name=method.name, description=method.description, defaults=method_settings(method, optimizer),
                    make_optimizer=optimizer.make_optimizer, make_callbacks=callbacks, prepare_model=prepare,
                    joint=method.joint)


def method_settings(method: Strategy, optimizer: Strategy) -> dict[str, Setting]:
    """The optimizer's settings, then the method's."""
    if clash := set(method.settings) & set(optimizer.settings):
        raise RuntimeError(f"method {method.name!r} redefines settings {sorted(clash)} of optimizer {optimizer.name!r}")
    return {**optimizer.settings, **method.settings}
