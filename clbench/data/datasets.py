"""What every data set of clbench provides, and where data is looked for."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from clbench.errors import UsageError


@dataclass
class ImageSplits:
    """Grey-scale or colour images as uint8 tensors (N, H, W) or (N, H, W, C), or a text data set's
    token ids (N, max_tokens) as int32 (clbench.data.tokens); labels int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int


@dataclass
class TextSplits:
    """Texts with int64 labels; a backbone's tokenizer turns them into ImageSplits-shaped token ids
    (clbench.data.tokens)."""

    train_texts: list[str]
    train_y: torch.Tensor
    test_texts: list[str]
    test_y: torch.Tensor
    num_classes: int


@dataclass(frozen=True)
class DataSource:
    """Where to look for data and whether a download may be tried."""

    data_root: Path | None = None
    download: bool = True


def cache_dir() -> Path:
    return Path(os.environ.get("CLBENCH_CACHE", Path.home() / ".cache" / "clbench"))


@dataclass(frozen=True)
class DatasetSpec:
    description: str
    load: Callable[[DataSource, int], ImageSplits]  # (source, size variable-size images are decoded at)


@dataclass(frozen=True)
class TextDatasetSpec:
    """A data set of texts: a text stream's tasks name these, a text backbone's tokenizer encodes them."""

    description: str
    load: Callable[[DataSource], TextSplits]


def data_roots(source: DataSource) -> list[Path]:
    """Folders searched for data, in order: --data-root, $CLBENCH_DATA, clbench's cache."""
    roots = [source.data_root, os.environ.get("CLBENCH_DATA") or None, cache_dir() / "data"]
    return [Path(root) for root in roots if root is not None]


def per_class_subset(labels, per_class: int | None, seed) -> np.ndarray:
    """Sorted indices of `per_class` examples of every class, drawn with `seed` (an int or a sequence
    of ints, as numpy's default_rng takes it); all of them if per_class is None."""
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if per_class > len(members):
            raise UsageError(f"class {c} has only {len(members)} examples, fewer than the {per_class} asked for; "
                             "lower train_per_class / test_per_class with --set")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def stratified_split(labels, fraction: float, seed) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (kept, held-out) indices, holding out round(fraction x n) examples of every class of n
    examples, at least one when fraction > 0 and at least one kept, drawn with `seed`."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held_out = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = max(1, round(fraction * len(members))) if fraction > 0 else 0
        if count >= len(members):
            raise UsageError(f"class {c} has {len(members)} training examples, too few to hold out "
                             f"val_fraction={fraction} of them; lower val_fraction or raise train_per_class with --set")
        held_out.append(rng.choice(members, size=count, replace=False))
    held_out = np.sort(np.concatenate(held_out)) if held_out else np.array([], dtype=int)
    return np.setdiff1d(np.arange(len(labels)), held_out), held_out
