"""The torchvision-backed data sets and the streams built on them, on tiny files written in each
data set's exact on-disk format and read by torchvision's own dataset classes."""

import pickle

import pytest
import torch
from fake_torchvision import (trust_cifar, trust_flowers102, trust_svhn, write_cifar, write_flowers102,
                              write_idx_dataset, write_svhn)
from torchvision import datasets as tv

from clbench.config import resolve_config
from clbench.data.datasets import DataSource
from clbench.training.engine import RunRequest, run_experiment
from clbench.errors import UsageError
from clbench.registry import get_strategy, get_stream
from clbench.streams import load_stream
from clbench.data.torchvision_data import TORCHVISION_DATASETS


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("CLBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CLBENCH_DATA", raising=False)
    return tmp_path / "data"


def load(name, root, size=32, download=False):
    return TORCHVISION_DATASETS[name].load(DataSource(root, download=download), size)


@pytest.mark.parametrize("name, cls, train_files", [("cifar10", tv.CIFAR10, 5), ("cifar100", tv.CIFAR100, 1)])
def test_cifar_is_read_by_torchvision_in_channel_last_order(root, monkeypatch, name, cls, train_files):
    write_cifar(root, cls, per_class=2)
    trust_cifar(monkeypatch, root, cls)
    splits = load(name, root)
    classes = 10 if cls is tv.CIFAR10 else 100
    assert splits.train_x.shape == (train_files * 2 * classes, 32, 32, 3) and splits.train_x.dtype == torch.uint8
    assert torch.equal(torch.bincount(splits.test_y), torch.full((classes,), 2)) and splits.num_classes == classes
    first = pickle.loads((root / cls.base_folder / cls.train_list[0][0]).read_bytes())["data"][0]
    assert torch.equal(splits.train_x[0], torch.from_numpy(first.reshape(3, 32, 32).transpose(1, 2, 0).copy()))


def test_svhn_labels_ten_become_zero(root, monkeypatch):
    write_svhn(root, per_class=3)
    trust_svhn(monkeypatch, root)
    splits = load("svhn", root)
    assert splits.train_x.shape == (30, 32, 32, 3)
    assert torch.equal(torch.bincount(splits.train_y), torch.full((10,), 3))


@pytest.mark.parametrize("name, cls", [("mnist", tv.MNIST), ("kmnist", tv.KMNIST)])
def test_idx_sets_are_read_from_torchvision_raw_folders(root, name, cls):
    write_idx_dataset(root, cls, per_class=2)
    splits = load(name, root)
    assert splits.train_x.shape == (20, 28, 28) and splits.test_x.shape == (20, 28, 28)


def test_flowers102_uses_the_official_split_at_the_requested_size(root, monkeypatch):
    write_flowers102(root, classes=3, train_per_class=2, test_per_class=4)
    trust_flowers102(monkeypatch, root)
    splits = load("flowers102", root, size=24)
    assert splits.train_x.shape == (6, 24, 24, 3) and splits.test_x.shape == (12, 24, 24, 3)
    assert splits.train_y.tolist() == [0, 0, 1, 1, 2, 2] and splits.num_classes == 102


def test_flowers102_trainval_trains_on_the_train_and_val_splits(root, monkeypatch):
    write_flowers102(root, classes=3, train_per_class=2, test_per_class=4)  # and one val image per class
    trust_flowers102(monkeypatch, root)
    splits = load("flowers102_trainval", root, size=24)
    assert splits.train_x.shape == (9, 24, 24, 3) and splits.test_x.shape == (12, 24, 24, 3)
    assert sorted(splits.train_y.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    official = load("flowers102", root, size=24)
    train_images = {bytes(image.numpy()) for image in splits.train_x}
    assert all(bytes(image.numpy()) in train_images for image in official.train_x)


def test_checksum_mismatch_names_the_file(root, monkeypatch):
    write_cifar(root, tv.CIFAR10, per_class=1)
    trust_cifar(monkeypatch, root, tv.CIFAR10)
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-10])  # truncated
    with pytest.raises(UsageError, match=r"checksum mismatch in .*data_batch_3"):
        load("cifar10", root)


def test_a_missing_file_is_named(root, monkeypatch):
    write_cifar(root, tv.CIFAR10, per_class=1)
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(UsageError, match=r"CIFAR-10 in .* is incomplete: .*test_batch is missing"):
        load("cifar10", root)


def test_missing_data_without_download_says_where_it_looked_and_how_to_fix(root):
    with pytest.raises(UsageError) as error:
        load("svhn", root)
    message = str(error.value)
    assert "SVHN not found" in message and str(root) in message
    assert "--data-root" in message and "--no-download" in message


def test_a_truncated_image_is_named(root, monkeypatch):
    paths = write_flowers102(root, classes=1, train_per_class=2, test_per_class=1)
    trust_flowers102(monkeypatch, root)
    paths[1].write_bytes(paths[1].read_bytes()[:50])
    with pytest.raises(UsageError, match=r"cannot read .*image_00002\.jpg"):
        load("flowers102", root)


def test_clbench_data_environment_variable_is_searched(root, monkeypatch):
    write_idx_dataset(root, tv.MNIST, per_class=1)
    monkeypatch.setenv("CLBENCH_DATA", str(root))
    assert load("mnist", None).train_x.shape == (10, 28, 28)


def test_download_goes_through_torchvision_into_the_cache(root, monkeypatch, tmp_path):
    write_cifar(tmp_path / "server", tv.CIFAR10, per_class=1)
    trust_cifar(monkeypatch, tmp_path / "server", tv.CIFAR10)
    calls = []

    def fake_download(self):
        calls.append(self.root)
        write_cifar(Path(self.root), tv.CIFAR10, per_class=1)

    from pathlib import Path

    monkeypatch.setattr(tv.CIFAR10, "download", fake_download)
    splits = load("cifar10", None, download=True)
    assert calls and Path(calls[0]) == tmp_path / "cache" / "data" and splits.train_x.shape[0] == 50


def test_split_cifar100_restricts_and_relabels_each_task(root, monkeypatch):
    write_cifar(root, tv.CIFAR100, per_class=3)
    trust_cifar(monkeypatch, root, tv.CIFAR100)
    stream = get_stream("split_cifar100")
    tasks = load_stream(stream, {"train_per_class": 0, "test_per_class": 2}, DataSource(root, download=False), 32)
    assert [t.name for t in tasks] == [f"cifar100_{i}" for i in range(10)]
    everything = load("cifar100", root)
    seen = set()
    for spec, task in zip(stream.tasks, tasks):
        assert task.num_classes == 10 and torch.equal(torch.bincount(task.train_y), torch.full((10,), 3))
        first_class = everything.train_x[everything.train_y == spec.classes[0]]
        assert torch.equal(task.train_x[task.train_y == 0], first_class)
        seen |= set(spec.classes)
    assert seen == set(range(100))


def test_the_papers_stream_runs_end_to_end_on_files_in_torchvision_layout(root, monkeypatch):
    write_cifar(root, tv.CIFAR10, per_class=4)
    trust_cifar(monkeypatch, root, tv.CIFAR10)
    write_flowers102(root, classes=3, train_per_class=6, test_per_class=4)
    trust_flowers102(monkeypatch, root)
    stream, strategy = get_stream("cifar10_flowers102"), get_strategy("nanoadam")
    config = resolve_config(stream, strategy, [], smoke=True)
    record = run_experiment(RunRequest(stream, strategy, "efficientnet_lite0", 0, config, "cpu",
                                       DataSource(root, download=False)), progress=False)
    assert record["status"] == "completed" and record["tasks"] == ["cifar10", "flowers102"]
    assert len(record["accuracy_matrix"]) == 2
