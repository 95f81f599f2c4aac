"""Writers for small files in the exact on-disk formats the real loaders read."""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

FASHION_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format (LeCun): magic (0, 0, type 0x08 = ubyte, ndim), big-endian int32 dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.tobytes()


def write_fashion_mnist(directory: Path, train_per_class=3, test_per_class=2, gz=True, seed=0) -> dict:
    """Write a tiny Fashion-MNIST in idx format into `directory`; return {file name: md5 of contents}."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = np.repeat(np.arange(10), per_class)
        images = rng.integers(0, 256, size=(len(labels), 28, 28))
        for kind, array in (("images", images), ("labels", labels)):
            name = FASHION_NAMES[(split, kind)]
            data = idx_bytes(array)
            checksums[name] = hashlib.md5(data).hexdigest()
            if gz:
                (directory / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)
    return checksums
