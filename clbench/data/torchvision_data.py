"""Data sets read by torchvision's own dataset classes.

Each is looked for under --data-root, $CLBENCH_DATA and clbench's cache (in torchvision's on-disk
layout), its files checked against the md5 sums torchvision itself lists, and downloaded by
torchvision into the cache when no folder has it and downloads are allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from clbench.data.datasets import DataSource, DatasetSpec, ImageSplits, cache_dir, data_roots
from clbench.errors import UsageError


def torchvision_class(name: str):
    """torchvision.datasets' class `name`, imported when data are loaded: torchvision takes a second to
    import, which naming the data sets (clbench list) should not pay."""
    from torchvision import datasets

    return getattr(datasets, name)


@dataclass(frozen=True)
class TorchvisionData:
    title: str
    num_classes: int
    files: Callable[[Path], list[tuple[Path, str | None]]]  # root -> files that must exist, with md5 or None
    arrays: Callable[[Path, bool, bool, int], tuple]  # (root, train, download, size) -> (uint8 images, labels)

    def load(self, source: DataSource, size: int) -> ImageSplits:
        roots = data_roots(source)
        root = next((r for r in roots if self._present(r)), None)
        download = root is None
        if download and not source.download:
            raise UsageError(f"{self.title} not found (looked in {', '.join(map(str, roots))}); pass --data-root DIR "
                             "holding torchvision's layout of it, or drop --no-download")
        if download:
            root = cache_dir() / "data"
        else:
            self._verify(root)
        try:
            train_x, train_y = self.arrays(root, True, download, size)
            test_x, test_y = self.arrays(root, False, download, size)
        except (OSError, RuntimeError, ValueError) as exc:
            action = "downloading into" if download else "reading"
            raise UsageError(f"{self.title}: {action} {root} failed ({exc}); "
                             "pass --data-root DIR holding torchvision's layout of it") from None
        if download:
            self._verify(root)
        return ImageSplits(torch.as_tensor(train_x), torch.as_tensor(np.asarray(train_y), dtype=torch.long),
                           torch.as_tensor(test_x), torch.as_tensor(np.asarray(test_y), dtype=torch.long),
                           self.num_classes)

    def _present(self, root: Path) -> bool:
        """Whether `root` holds the data set; a partial copy is an error naming the missing file."""
        present = [path.exists() for path, _ in self.files(root)]
        if any(present) and not all(present):
            missing = next(path for path, _ in self.files(root) if not path.exists())
            raise UsageError(f"{self.title} in {root} is incomplete: {missing} is missing; "
                             "fetch it again or point --data-root elsewhere")
        return all(present)

    def _verify(self, root: Path) -> None:
        from torchvision.datasets.utils import check_md5

        for path, md5 in self.files(root):
            if md5 is not None and not check_md5(str(path), md5):
                raise UsageError(f"checksum mismatch in {path}: it is not {self.title}'s file or is truncated; "
                                 "delete it (downloads fetch it again) or point --data-root elsewhere")


def _cifar(name: str, classes: int) -> TorchvisionData:
    def files(root: Path):
        cls = torchvision_class(name)
        folder = root / cls.base_folder
        return [(folder / file, md5) for file, md5 in cls.train_list + cls.test_list] + [
            (folder / cls.meta["filename"], cls.meta["md5"])]

    def arrays(root, train, download, size):
        data = torchvision_class(name)(str(root), train=train, download=download)
        return data.data, data.targets

    return TorchvisionData(name.replace("CIFAR", "CIFAR-"), classes, files, arrays)


def _svhn_files(root: Path):
    return [(root / name, md5) for split, (_, name, md5) in torchvision_class("SVHN").split_list.items() if split != "extra"]


def _svhn_arrays(root, train, download, size):
    data = torchvision_class("SVHN")(str(root), split="train" if train else "test", download=download)
    return data.data.transpose(0, 2, 3, 1), data.labels


def _idx(name: str) -> TorchvisionData:
    """MNIST-format sets: torchvision keeps the downloaded .gz (md5 listed) and the decompressed files."""

    def files(root: Path):
        raw = root / name / "raw"
        listed = []
        for url, md5 in torchvision_class(name).resources:
            archive = raw / Path(url).name
            listed.append((raw / archive.stem, None))
            if archive.exists():
                listed.append((archive, md5))
        return listed

    def arrays(root, train, download, size):
        data = torchvision_class(name)(str(root), train=train, download=download)
        return data.data, data.targets

    return TorchvisionData(name, 10, files, arrays)


def _flowers_files(root: Path):
    folder = root / "flowers-102"
    listed = torchvision_class("Flowers102")._file_dict.items()
    return [(folder / "jpg", None)] + [(folder / name, md5) for key, (name, md5) in listed if key != "image"]


def _flowers_arrays(train_splits: tuple[str, ...]):
    """Flowers102's official splits: `train_splits` to train ("train", 10 images per class, or with
    "val" another 10), "test" to test; every image decoded at `size` (shorter side resized, centre crop)."""

    def arrays(root, train, download, size):
        from PIL import Image
        from torchvision.transforms import v2

        def load_image(path):
            try:
                with Image.open(path) as image:
                    image.draft("RGB", (size, size))  # JPEG decodes at a reduced scale: much faster
                    return image.convert("RGB")
            except OSError as exc:
                raise UsageError(f"cannot read {path} ({exc}); delete the Flowers102 folder and fetch it again") from None

        transform = v2.Compose([v2.PILToTensor(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])
        images, labels = [], []
        for split in train_splits if train else ("test",):
            data = torchvision_class("Flowers102")(str(root), split=split, download=download, loader=load_image, transform=transform)
            for image, label in (data[i] for i in range(len(data))):
                images.append(image)
                labels.append(label)
        return torch.stack(images).permute(0, 2, 3, 1).contiguous(), labels

    return arrays


TORCHVISION_DATASETS = {
    "cifar10": DatasetSpec("CIFAR-10, 50k/10k 32x32 colour images, 10 classes (torchvision)", _cifar("CIFAR10", 10).load),
    "cifar100": DatasetSpec("CIFAR-100, 50k/10k 32x32 colour images, 100 classes (torchvision)",
                            _cifar("CIFAR100", 100).load),
    "svhn": DatasetSpec("SVHN, 73k/26k 32x32 house-number digits (torchvision)",
                        TorchvisionData("SVHN", 10, _svhn_files, _svhn_arrays).load),
    "mnist": DatasetSpec("MNIST, 60k/10k 28x28 digits (torchvision)", _idx("MNIST").load),
    "kmnist": DatasetSpec("Kuzushiji-MNIST, 60k/10k 28x28 cursive Japanese characters (torchvision)",
                          _idx("KMNIST").load),
    "flowers102": DatasetSpec("Oxford Flowers102, official split 1,020/6,149, 102 classes (torchvision)",
                              TorchvisionData("Flowers102", 102, _flowers_files, _flowers_arrays(("train",))).load),
    "flowers102_trainval": DatasetSpec(
        "Oxford Flowers102 trained on the official train and val splits (2,040), tested on test (6,149) (torchvision)",
        TorchvisionData("Flowers102", 102, _flowers_files, _flowers_arrays(("train", "val"))).load),
}
