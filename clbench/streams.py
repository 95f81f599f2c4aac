"""Stream definitions (one file each in tasks/) and loading their tasks' data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from clbench.data.datasets import (DatasetSpec, DataSource, ImageSplits, TextDatasetSpec, per_class_subset,
                                   stratified_split)
from clbench.data.offline_data import OFFLINE_DATASETS
from clbench.data.text_data import TEXT_DATASETS
from clbench.data.tokens import Tokenization
from clbench.data.torchvision_data import TORCHVISION_DATASETS
from clbench.errors import UsageError
from clbench.settings import Setting

# the built-in ones; plugins add more (clbench.registry)
DATASETS = {**OFFLINE_DATASETS, **TORCHVISION_DATASETS, **TEXT_DATASETS}

DEFAULT_BACKBONE = "efficientnet_lite0"

# The settings streams define, overridable with --set; they are run settings, not strategy settings.
STREAM_SETTINGS = ("image_size", "max_tokens", "train_per_class", "test_per_class")


@dataclass(frozen=True)
class TaskSpec:
    """One task of a stream: a data set by name (clbench list datasets), optionally restricted to
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

    A stream of images has image_size (0: the backbone's own input size); a stream of texts has
    max_tokens instead (texts are truncated to that many tokens), and none of image_size.
    train_per_class / test_per_class 0 mean every example. `backbone` is what runs of the stream
    use unless --backbone names another. Subsets, and the validation split of the training subset, are drawn with
    `subset_seed`, the same for every run seed (unless a run sets resample_data).
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
    max_tokens: int | None = None  # set: a stream of texts
    backbone: str = DEFAULT_BACKBONE

    def __post_init__(self):
        if not self.tasks:
            raise ValueError(f"stream {self.name!r} has no tasks")

    @property
    def is_text(self) -> bool:
        return self.max_tokens is not None

    def settings(self) -> dict[str, Setting]:
        """The stream's settings, overridable with --set; they are run settings, not strategy settings."""
        size = ({"max_tokens": Setting(self.max_tokens, "tokens a text is cut or padded to, the tokenizer's "
                                                        "start and end tokens included", within="[3, inf)")}
                if self.is_text else
                {"image_size": Setting(self.image_size, "image side in pixels; 0: the backbone's input size",
                                       within="[0, inf)")})
        return {**size,
                "train_per_class": Setting(self.train_per_class, "training examples a class, validation included; "
                                                                 "0: every one", within="[0, inf)"),
                "test_per_class": Setting(self.test_per_class, "test examples a class; 0: every one",
                                          within="[0, inf)")}

    def defaults(self) -> dict:
        return {key: setting.default for key, setting in self.settings().items()}


@dataclass
class TaskData:
    name: str
    num_classes: int
    train_x: torch.Tensor  # uint8 (N, H, W) or (N, H, W, C), the model's ImageInput preprocesses it; or token ids
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    # held out of the training data (empty with val_fraction 0): what every choice is made on
    val_x: torch.Tensor
    val_y: torch.Tensor


# Salt of the validation split's seed, so that it is not the draw of the training subset's
_VALIDATION_SALT = 1


def data_seed(stream: StreamSpec, config: dict, run_seed: int) -> tuple[int, ...]:
    """The seed of a run's data subsets: the stream's, or with resample_data the run seed's as well."""
    return (stream.subset_seed, run_seed) if config.get("resample_data") else (stream.subset_seed,)


def load_stream(stream: StreamSpec, config: dict, source: DataSource, image_size: int, run_seed: int = 0,
                datasets: Mapping[str, DatasetSpec | TextDatasetSpec] = DATASETS,
                tokenization: Tokenization | None = None) -> list[TaskData]:
    """Load, restrict to the task's classes and subsample every task's data, and hold out
    val_fraction of every class of its training subset for validation (none where the settings have
    no val_fraction, as inspections'); seeds: see data_seed.
    `image_size` is the size variable-size images (Flowers102) are decoded at; `tokenization` what
    turns texts into token ids (a text backbone's); `datasets` the table the stream's data set
    names are looked up in (registry.datasets(): built-in and plugins')."""
    seed = data_seed(stream, config, run_seed)
    loaded: dict[str, ImageSplits] = {}
    tasks = []
    for spec in stream.tasks:
        if spec.dataset not in loaded:
            loaded[spec.dataset] = _load(spec.dataset, datasets[spec.dataset], source, image_size, tokenization)
        splits = loaded[spec.dataset]
        train_x, train_y = _select(splits.train_x, splits.train_y, spec.classes, config["train_per_class"], seed)
        test_x, test_y = _select(splits.test_x, splits.test_y, spec.classes, config["test_per_class"], seed)
        kept, held_out = (torch.from_numpy(index) for index in
                          stratified_split(train_y.numpy(), config.get("val_fraction", 0.0), (*seed, _VALIDATION_SALT)))
        num_classes = len(spec.classes) if spec.classes else splits.num_classes
        tasks.append(TaskData(spec.label, num_classes, train_x[kept], train_y[kept], test_x, test_y,
                              train_x[held_out], train_y[held_out]))
    return tasks


def _load(name: str, dataset: DatasetSpec | TextDatasetSpec, source: DataSource, image_size: int,
          tokenization: Tokenization | None) -> ImageSplits:
    if not isinstance(dataset, TextDatasetSpec):
        return dataset.load(source, image_size)
    if tokenization is None:
        raise UsageError(f"data set {name!r} holds texts, which this backbone cannot read; use a text backbone "
                         "(clbench list backbones)")
    return tokenization.tokenized(name, dataset.load(source))


def _select(x: torch.Tensor, y: torch.Tensor, classes, per_class: int, seed) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.as_tensor(y).long()
    if classes:
        keep = torch.isin(y, torch.tensor(classes))
        x, y = x[keep], y[keep]
        relabel = torch.full((max(classes) + 1,), -1, dtype=torch.long)
        relabel[torch.tensor(classes)] = torch.arange(len(classes))
        y = relabel[y]
    index = torch.from_numpy(per_class_subset(y.numpy(), per_class or None, seed))
    return torch.as_tensor(x)[index].contiguous(), y[index]
