"""Splitting a backbone into the tensors an optimizer masks and those it trains densely."""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _NormBase

NORM_LAYERS = (_NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)


def split_masked_dense(backbone: nn.Module, mask_biases: bool = False) -> tuple[list, list]:
    """(masked, dense) parameter lists: weights of normalisation layers, and biases unless
    `mask_biases`, are dense; every other trainable backbone parameter is masked."""
    masked, dense = [], []
    for module in backbone.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            is_dense = isinstance(module, NORM_LAYERS) or (name == "bias" and not mask_biases)
            (dense if is_dense else masked).append(param)
    return masked, dense
