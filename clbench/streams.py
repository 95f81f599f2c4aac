"""Stream definitions (one file each in tasks/) and loading their tasks' data."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from clbench.datasets import DataSource, ImageSplits, per_class_subset
from clbench.offline_data import OFFLINE_DATASETS
from clbench.torchvision_data import TORCHVISION_DATASETS

DATASETS = {**OFFLINE_DATASETS, **TORCHVISION_DATASETS}

# The settings a stream defines, overridable with --set; they are run settings, not strategy settings.
STREAM_SETTINGS = ("image_size", "train_per_class", "test_per_class")


@dataclass(frozen=True)
class TaskSpec:
    """One task of a stream: a data set from DATASETS, optionally restricted to
    some of its classes (relabelled 0..n-1 in the order given)."""

    dataset: str
    classes: tuple[int, ...] | None = None
    name: str | None = None  # default: the data set's name

    @property
    def label(self) -> str:
        return self.name or self.dataset


@dataclass(frozen=True)
class StreamSpec:
    """A sequence of tasks plus the data settings a run may override with --set.

    image_size 0 means the backbone's own input size; train_per_class / test_per_class 0 mean
    every example. Subsets are drawn with `subset_seed`, the same for every run seed.
    `strategy_settings` gives strategies settings that suit this stream's length (e.g. NanoAdam's
    mask interval), {strategy name: {key: value}}; --set and the paper's presets override them.
    """

    name: str
    description: str
    tasks: tuple[TaskSpec, ...]
    image_size: int = 0
    train_per_class: int = 0
    test_per_class: int = 0
    subset_seed: int = 0
    strategy_settings: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self):
        unknown = [t.dataset for t in self.tasks if t.dataset not in DATASETS]
        if unknown:
            raise ValueError(f"stream {self.name!r} names unknown data sets {unknown}; known: {sorted(DATASETS)}")
        if not self.tasks:
            raise ValueError(f"stream {self.name!r} has no tasks")

    def defaults(self) -> dict:
        return {key: getattr(self, key) for key in STREAM_SETTINGS}


@dataclass
class TaskData:
    name: str
    num_classes: int
    train_x: torch.Tensor  # uint8 (N, H, W) or (N, H, W, C); the model's ImageInput preprocesses it
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_stream(stream: StreamSpec, config: dict, source: DataSource, image_size: int) -> list[TaskData]:
    """Load, restrict to the task's classes and subsample (fixed seed) every task's data.
    `image_size` is the size variable-size images (Flowers102) are decoded at."""
    loaded: dict[str, ImageSplits] = {}
    tasks = []
    for spec in stream.tasks:
        if spec.dataset not in loaded:
            loaded[spec.dataset] = DATASETS[spec.dataset].load(source, image_size)
        splits = loaded[spec.dataset]
        train_x, train_y = _select(splits.train_x, splits.train_y, spec.classes, config["train_per_class"],
                                   stream.subset_seed)
        test_x, test_y = _select(splits.test_x, splits.test_y, spec.classes, config["test_per_class"],
                                 stream.subset_seed)
        num_classes = len(spec.classes) if spec.classes else splits.num_classes
        tasks.append(TaskData(spec.label, num_classes, train_x, train_y, test_x, test_y))
    return tasks


def _select(x: torch.Tensor, y: torch.Tensor, classes, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.as_tensor(y).long()
    if classes:
        keep = torch.isin(y, torch.tensor(classes))
        x, y = x[keep], y[keep]
        relabel = torch.full((max(classes) + 1,), -1, dtype=torch.long)
        relabel[torch.tensor(classes)] = torch.arange(len(classes))
        y = relabel[y]
    index = torch.from_numpy(per_class_subset(y.numpy(), per_class or None, seed))
    return torch.as_tensor(x)[index].contiguous(), y[index]
