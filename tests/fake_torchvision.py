"""Writers of tiny data sets in the exact on-disk layouts torchvision's dataset classes read, and
a fixture-style helper that makes torchvision's md5 lists describe the written files."""

import hashlib
import pickle
from pathlib import Path

import numpy as np
from idx_files import idx_bytes
from PIL import Image
from scipy.io import savemat
from torchvision import datasets as tv


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(root: Path, cls, per_class: int, seed: int = 0) -> None:
    """CIFAR-10/100's pickled batches (dicts of uint8 rows of 3072 pixels, channel-major)."""
    rng = np.random.default_rng(seed)
    classes = 10 if cls is tv.CIFAR10 else 100
    label_key = "labels" if cls is tv.CIFAR10 else "fine_labels"
    folder = root / cls.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    files = cls.train_list + cls.test_list
    for name, _ in files:
        labels = np.repeat(np.arange(classes), per_class).tolist()
        batch = {"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8), label_key: labels}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / cls.meta["filename"]).write_bytes(pickle.dumps({cls.meta["key"]: [f"c{i}" for i in range(classes)]}))


def trust_cifar(monkeypatch, root: Path, cls) -> None:
    folder = root / cls.base_folder
    monkeypatch.setattr(cls, "train_list", [[n, md5(folder / n)] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, md5(folder / n)] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(folder / cls.meta["filename"])})


def write_svhn(root: Path, per_class: int, seed: int = 0) -> None:
    """SVHN's MATLAB files: X (32, 32, 3, N) uint8, y (N, 1) with digit 0 stored as 10."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for name in ("train_32x32.mat", "test_32x32.mat"):
        labels = np.repeat(np.arange(1, 11), per_class).reshape(-1, 1).astype(np.uint8)
        savemat(root / name, {"X": rng.integers(0, 256, (32, 32, 3, len(labels)), dtype=np.uint8), "y": labels})


def trust_svhn(monkeypatch, root: Path) -> None:
    split_list = {split: [url, name, md5(root / name) if (root / name).exists() else checksum]
                  for split, (url, name, checksum) in tv.SVHN.split_list.items()}
    monkeypatch.setattr(tv.SVHN, "split_list", split_list)


def write_idx_dataset(root: Path, cls, per_class: int, seed: int = 0) -> None:
    """MNIST-format sets as torchvision keeps them: decompressed idx files in <root>/<Class>/raw."""
    rng = np.random.default_rng(seed)
    raw = root / cls.__name__ / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        labels = np.repeat(np.arange(10), per_class)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(rng.integers(0, 256, (len(labels), 28, 28))))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


def write_flowers102(root: Path, classes: int, train_per_class: int, test_per_class: int, seed: int = 0) -> list[Path]:
    """Flowers102: jpg/image_NNNNN.jpg, imagelabels.mat (labels 1..102), setid.mat (1-based ids)."""
    rng = np.random.default_rng(seed)
    folder = root / "flowers-102"
    (folder / "jpg").mkdir(parents=True, exist_ok=True)
    per_class = train_per_class + 1 + test_per_class  # one validation image each
    labels = np.repeat(np.arange(1, classes + 1), per_class)
    paths = []
    for image_id in range(1, len(labels) + 1):
        size = tuple(int(s) for s in rng.integers(40, 80, 2))
        path = folder / "jpg" / f"image_{image_id:05d}.jpg"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    ids = np.arange(1, len(labels) + 1).reshape(classes, per_class)
    savemat(folder / "imagelabels.mat", {"labels": labels.reshape(1, -1)})
    savemat(folder / "setid.mat", {"trnid": ids[:, :train_per_class].reshape(1, -1),
                                   "valid": ids[:, train_per_class:train_per_class + 1].reshape(1, -1),
                                   "tstid": ids[:, train_per_class + 1:].reshape(1, -1)})
    return paths


def trust_flowers102(monkeypatch, root: Path) -> None:
    folder = root / "flowers-102"
    file_dict = {key: (name, md5(folder / name) if key != "image" else checksum)
                 for key, (name, checksum) in tv.Flowers102._file_dict.items()}
    monkeypatch.setattr(tv.Flowers102, "_file_dict", file_dict)
