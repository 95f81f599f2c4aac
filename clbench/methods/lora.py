"""LoRA's adapters through the peft library, fresh for each task and merged into the weights after
it (strategies/lora.py says which layers and what rank)."""

import re

from avalanche.training.plugins import SupervisedPlugin
from torch import nn

from clbench.errors import UsageError
from clbench.quiet import import_quietly


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
