"""LoRA's adapters through the peft library, fresh for each task and merged into the weights after
it (strategies/lora.py says which layers and what rank)."""

import re

import torch
from avalanche.training.plugins import SupervisedPlugin
from torch import nn

from clbench.methods.state import model_device
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
    """Fresh adapters before each task's optimizer is built; merged into the weights after the task.

    Inside a task the model's state_dict() holds the backbone's own weights (the adapted layers' base
    weights under their own names) and this callback's state the adapters, so that a checkpoint
    written inside a task loads into a fresh model, and the resumed task's adapters start from it."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.tuner = None
        self.trainable: dict[str, bool] = {}
        self.resumed_adapters: dict[str, torch.Tensor] | None = None
        self._own_names_hook = None

    def after_train_dataset_adaptation(self, strategy, **kwargs):  # comes before the optimizer is built
        backbone = strategy.model.backbone
        self.trainable = {name: p.requires_grad for name, p in backbone.named_parameters()}
        peft = import_quietly("peft", "peft")
        self.tuner = peft.LoraModel(backbone, lora_config(backbone, self.config), "default")
        self._own_names_hook = backbone.register_state_dict_post_hook(_without_adapters)
        if self.resumed_adapters is not None:
            _load_adapters(backbone, self.resumed_adapters)
            self.resumed_adapters = None

    def after_training_exp(self, strategy, **kwargs):
        self._own_names_hook.remove()
        self.tuner.merge_and_unload()  # in place: the backbone's layers get their base layers back
        self.tuner = None
        for name, p in strategy.model.backbone.named_parameters():
            p.requires_grad_(self.trainable[name])

    def state_dict(self) -> dict:
        if self.tuner is None:
            return {"adapters": None}
        return {"adapters": {name: p.detach() for name, p in _adapters(self.tuner.model).items()}}

    def load_state_dict(self, state: dict, model) -> None:
        device = model_device(model)
        adapters = state["adapters"]
        self.resumed_adapters = None if adapters is None else {n: t.to(device) for n, t in adapters.items()}


def _is_adapter(name: str) -> bool:
    return any(part.startswith("lora_") for part in name.split("."))


def _adapters(backbone: nn.Module) -> dict[str, nn.Parameter]:
    return {name: p for name, p in backbone.named_parameters() if _is_adapter(name)}


def _without_adapters(module, state_dict, prefix, local_metadata) -> None:
    """The adapted layers' entries under the names they have without adapters: base_layer's weights
    as the layer's own, the adapters left out (they are the callback's state)."""
    for key in [key for key in state_dict if key.startswith(prefix)]:
        name = key[len(prefix):]
        if _is_adapter(name):
            del state_dict[key]
        elif "base_layer" in (parts := name.split(".")):
            state_dict[prefix + ".".join(part for part in parts if part != "base_layer")] = state_dict.pop(key)


def _load_adapters(backbone: nn.Module, adapters: dict[str, torch.Tensor]) -> None:
    own = _adapters(backbone)
    if own.keys() != adapters.keys():
        raise RuntimeError("the checkpoint's LoRA adapters do not match the layers adapted now")
    with torch.no_grad():
        for name, p in own.items():
            p.copy_(adapters[name])
