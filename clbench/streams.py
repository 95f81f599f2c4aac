"""Stream definitions (one file each in tasks/) and turning them into backbone-ready tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from clbench.datasets import DATASETS, DataSource, ImageSplits, per_class_subset


@dataclass(frozen=True)
class TaskSpec:
    """One task of a stream: a data set from clbench.datasets.DATASETS."""

    dataset: str


@dataclass(frozen=True)
class StreamSpec:
    """A sequence of tasks plus the data settings a run may override with --set."""

    name: str
    description: str
    tasks: tuple[TaskSpec, ...]
    image_size: int
    train_per_class: int
    test_per_class: int
    subset_seed: int = 0

    def __post_init__(self):
        unknown = [t.dataset for t in self.tasks if t.dataset not in DATASETS]
        if unknown:
            raise ValueError(f"stream {self.name!r} names unknown data sets {unknown}; known: {sorted(DATASETS)}")

    def defaults(self) -> dict:
        return {
            "image_size": self.image_size,
            "train_per_class": self.train_per_class,
            "test_per_class": self.test_per_class,
        }


@dataclass
class TaskData:
    name: str
    num_classes: int
    train_x: torch.Tensor  # float (N, 3, S, S), normalised for the backbone
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_stream(stream: StreamSpec, config: dict, source: DataSource, mean, std) -> list[TaskData]:
    """Load, subsample (fixed seed, the same for every run seed) and preprocess every task."""
    tasks = []
    for spec in stream.tasks:
        splits: ImageSplits = DATASETS[spec.dataset][1](source)
        train_idx = per_class_subset(splits.train_y, config["train_per_class"], stream.subset_seed)
        test_idx = per_class_subset(splits.test_y, config["test_per_class"], stream.subset_seed)
        size = config["image_size"]
        tasks.append(TaskData(
            name=spec.dataset,
            num_classes=splits.num_classes,
            train_x=to_backbone_input(splits.train_x[train_idx], size, mean, std),
            train_y=splits.train_y[train_idx].long(),
            test_x=to_backbone_input(splits.test_x[test_idx], size, mean, std),
            test_y=splits.test_y[test_idx].long(),
        ))
    return tasks


def to_backbone_input(images: torch.Tensor, size: int, mean, std) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, H, W, C) -> float (N, 3, size, size), resized and normalised."""
    x = torch.as_tensor(images)
    x = x.unsqueeze(-1) if x.dim() == 3 else x
    x = x.permute(0, 3, 1, 2).float().div_(255)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(mean).view(1, 3, 1, 1)
    std = torch.tensor(std).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()
