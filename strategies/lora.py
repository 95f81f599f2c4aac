"""LoRA (Hu et al. 2021) through the peft library: each task trains fresh low-rank adapters on the
backbone's dense convolutions and linear layers (AdamW on the adapters and the task's head), merged
into the weights when the task ends, so that every task's change to a layer is of low rank.

Adapted: every nn.Linear and every nn.Conv2d with groups == 1 (on EfficientNet-Lite the stem, the
1x1 expansions and projections and the head convolution). Depthwise and other grouped convolutions
stay frozen, as do norm layers and biases: peft refuses a grouped convolution unless the rank is a
multiple of its groups. With rank 0 (the default) each layer gets the rank whose adapter holds
about `density` of its weights (r = density x in x out x k^2 / (in x k^2 + out), at least 1), so
the adapters hold about as many parameters as NanoAdam updates at the same density; lora_alpha is
the rank, a scale of 1.
"""

import re

from avalanche.training.plugins import SupervisedPlugin
from torch import nn

from clbench.errors import UsageError
from clbench.quiet import import_quietly
from clbench.strategy import Strategy
from clbench_strategies.adamw import make_optimizer  # AdamW on what trains: the adapters and the head


def adapted_layers(backbone: nn.Module) -> dict[str, nn.Module]:
    """name -> module of the layers LoRA adapts: linear layers and ungrouped convolutions."""
    return {name: module for name, module in backbone.named_modules()
            if isinstance(module, nn.Linear) or (isinstance(module, nn.Conv2d) and module.groups == 1)}


def layer_rank(module: nn.Module, density: float) -> int:
    """The rank whose A and B hold about `density` of the layer's weights, at least 1."""
    if isinstance(module, nn.Linear):
        fan_in, fan_out = module.in_features, module.out_features
    else:
        fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
        fan_out = module.out_channels
    return max(1, round(density * fan_in * fan_out / (fan_in + fan_out)))


def lora_config(backbone: nn.Module, config: dict):
    peft = import_quietly("peft", "peft")
    layers = adapted_layers(backbone)
    if not layers:
        raise ValueError("the backbone has no linear layer or ungrouped convolution for LoRA to adapt; "
                         "choose another strategy")
    ranks = {name: config["rank"] or layer_rank(module, config["density"]) for name, module in layers.items()}
    pattern = {re.escape(name): rank for name, rank in ranks.items()}
    return peft.LoraConfig(target_modules=list(layers), r=1, lora_alpha=1, rank_pattern=pattern,
                           alpha_pattern=pattern, lora_dropout=config["dropout"], bias="none")


class LoraAdapters(SupervisedPlugin):
    """Fresh adapters before each task's optimizer is built; merged into the weights after the task."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.tuner = None
        self.trainable: dict[str, bool] = {}

    def after_train_dataset_adaptation(self, strategy, **kwargs):  # comes before the optimizer is built
        if strategy.checkpoints_in_task:
            raise UsageError("strategy lora cannot continue from a checkpoint inside a task (its adapters are not part "
                             "of the model's saved state); run it without --checkpoint-every")
        backbone = strategy.model.backbone
        self.trainable = {name: p.requires_grad for name, p in backbone.named_parameters()}
        peft = import_quietly("peft", "peft")
        self.tuner = peft.LoraModel(backbone, lora_config(backbone, self.config), "default")

    def after_training_exp(self, strategy, **kwargs):
        self.tuner.merge_and_unload()  # in place: the backbone's layers get their base layers back
        self.tuner = None
        for name, p in strategy.model.backbone.named_parameters():
            p.requires_grad_(self.trainable[name])


def check_settings(model, config):
    if config["rank"] < 0 or not 0 < config["density"] <= 1:
        raise ValueError(f"rank must be 0 (from density) or more and density in (0, 1], got rank={config['rank']}, "
                         f"density={config['density']}")


STRATEGY = Strategy(
    name="lora",
    description="LoRA (peft) on the backbone's linear and ungrouped conv layers, merged after each task; "
                "ranks hold ~density of each layer's weights",
    defaults={"lr": 1e-3, "density": 0.01, "rank": 0, "dropout": 0.0, "weight_decay": 0.0, "beta1": 0.9,
              "beta2": 0.999},
    make_optimizer=make_optimizer,
    make_plugins=lambda config: [LoraAdapters(config)],
    prepare_model=check_settings,
)
