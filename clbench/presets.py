"""The paper's continual-learning settings (arXiv 2506.21374, Sec. 4 and appendix), applied
automatically when a run's stream, backbone and strategy match one of its experiments, so that
`clbench run --stream cifar10_flowers102 --strategy nanoadam --backbone resnet18` is the paper's run.
--set still overrides every key.

Not stated in the paper, and filled in here: the ResNets' batch size (128, as for ViT-L) and the
per-task learning rates of AdamW and MicroAdam on the ResNets (their strategy defaults).
"""

from __future__ import annotations

# Flowers102 trained on its train split (1,020 images) or on train and val (2,040): the paper does not say which.
PAPER_STREAMS = ("cifar10_flowers102", "cifar10_flowers102_trainval")

_BACKBONE_SETTINGS = {
    "vit_large_patch16_224": {"epochs": 5, "batch_size": 128, "lr_schedule": "cosine", "label_smoothing": 0.1},
    "resnet101": {"epochs": 30, "batch_size": 128, "lr_schedule": "constant"},
    "resnet18": {"epochs": 30, "batch_size": 128, "lr_schedule": "constant"},
}

_STRATEGY_SETTINGS = {
    ("vit_large_patch16_224", "nanoadam"): {"lr": [1e-3, 2e-3], "density": 0.001, "mask_interval": 100},
    ("vit_large_patch16_224", "adamw"): {"lr": [1e-4, 1e-4], "weight_decay": 0.0},
    ("vit_large_patch16_224", "microadam"): {"lr": [1e-4, 1e-4], "weight_decay": 0.0},
    ("resnet101", "nanoadam"): {"lr": [0.01, 0.007], "density": 0.01, "mask_interval": 100},
    ("resnet18", "nanoadam"): {"lr": [0.009, 0.007], "density": 0.01, "mask_interval": 100},
}


def paper_preset(stream: str, backbone: str, strategy: str) -> dict:
    """The paper's settings for this combination, or {} when the paper did not run it."""
    if stream not in PAPER_STREAMS or backbone not in _BACKBONE_SETTINGS:
        return {}
    return {**_BACKBONE_SETTINGS[backbone], **_STRATEGY_SETTINGS.get((backbone, strategy), {})}
