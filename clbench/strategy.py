"""The strategy plugin contract: what a file in strategies/ (or a user's plugin folder) defines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import nn
from torch.optim import Optimizer

from clbench.settings import Setting, learning_rate, settings_of

# make_optimizer(backbone, head, lr, config) -> a fresh optimizer for one task.
OptimizerFactory = Callable[[nn.Module, nn.Module, float, dict], Optimizer]
# prepare_model(model, config): changes the whole model (on its device) in place before training.
ModelPreparation = Callable[[nn.Module, dict], None]


@dataclass(frozen=True)
class Strategy:
    """A named optimizer with default hyperparameters, plus optional Avalanche callbacks.

    `defaults` declares the strategy's settings, each a `Setting` (default, allowed values, help) or
    a plain default; every key can be overridden with --set and is checked against its declaration
    when the run is planned. After construction `defaults` holds the default values and `settings`
    the declarations. "lr" is per task: a number for all tasks, or one per task. A fresh optimizer is built for
    every task from the backbone and that task's head only, so earlier heads stay untouched.
    make_optimizer's config is a read-only mapping of the run's settings (`RunSettings`), and
    `config.task` the task it builds an optimizer for: `.index`, `.steps` (the optimizer steps the
    task will take, for schedules) and `.run_seed` (for anything random the optimizer draws). A joint strategy's optimizer gets every head
    (an nn.ModuleList) as `head`.
    """

    name: str
    description: str
    defaults: dict
    make_optimizer: OptimizerFactory
    make_callbacks: Callable[[dict], list] = field(default=lambda config: [])
    # e.g. a dtype or memory format the optimizer needs; a ValueError is a usage error
    prepare_model: ModelPreparation = field(default=lambda model, config: None)
    # True: the first task trains on every task's data at once (each example through its own task's
    # head), later tasks train nothing: joint training, the reference no sequential run can beat
    joint: bool = False
    # the strategy this one is a control of (random_mask of nanoadam): the settings streams and the
    # paper's preset give that strategy (its mask interval, density) apply to this one as well
    variant_of: str = ""
    settings: dict[str, Setting] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "settings", settings_of(self.defaults))
        object.__setattr__(self, "defaults", {key: setting.default for key, setting in self.settings.items()})


def adam_settings(lr: float) -> dict[str, Setting]:
    """The settings every Adam-family strategy shares, with its default lr."""
    return {
        "lr": learning_rate(lr),
        "weight_decay": Setting(0.0, "decoupled weight decay", within="[0, inf)"),
        "beta1": Setting(0.9, "decay of the first moment", within="[0, 1)"),
        "beta2": Setting(0.999, "decay of the second moment", within="[0, 1)"),
    }


def adam_options(config) -> dict:
    """The Adam-family optimizer's keyword arguments from those settings (lr aside)."""
    return {"betas": (config["beta1"], config["beta2"]), "weight_decay": config["weight_decay"]}


def trainable_parameters(backbone: nn.Module, head: nn.Module) -> list[nn.Parameter]:
    """The parameters a dense optimizer trains for one task: the backbone's and the task head's."""
    return [p for module in (backbone, head) for p in module.parameters() if p.requires_grad]
