"""The validation split of every task: held out of the training data, fixed across seeds and runs."""

import pytest
import torch

from clbench import streams
from clbench.config import resolve_config
from clbench.data.datasets import DatasetSpec, DataSource, ImageSplits
from clbench.errors import UsageError
from clbench.registry import get_strategy
from clbench.streams import StreamSpec, TaskSpec, load_stream


def numbered_images(first: int, count: int) -> torch.Tensor:
    """count 4x4 uint8 images whose first two pixels spell their number, so each one can be traced."""
    ids = torch.arange(first, first + count)
    images = torch.zeros(count, 4, 4, dtype=torch.uint8)
    images[:, 0, 0], images[:, 0, 1] = ids // 256, ids % 256
    return images


def image_ids(images: torch.Tensor) -> set[int]:
    return set((images[:, 0, 0].long() * 256 + images[:, 0, 1].long()).tolist())


@pytest.fixture
def stream(monkeypatch):
    """Two tasks of a data set of 300 numbered training images (ids 0-299) and 100 test ones (1000-1099)."""
    splits = ImageSplits(numbered_images(0, 300), torch.arange(300) % 3,
                         numbered_images(1000, 100), torch.arange(100) % 3, 3)
    monkeypatch.setitem(streams.DATASETS, "numbered", DatasetSpec("numbered images", lambda source, size: splits))
    return StreamSpec("numbered", "two tasks of numbered images", (TaskSpec("numbered", (0, 1), "a"),
                                                                   TaskSpec("numbered", (2, 1), "b")),
                      train_per_class=50, test_per_class=20)


def settings(stream, *assignments):
    return resolve_config(stream, get_strategy("adamw"), list(assignments))


def test_validation_is_held_out_of_training_and_disjoint_from_test(stream):
    for task in load_stream(stream, settings(stream), DataSource(), 4):
        train, val, test = image_ids(task.train_x), image_ids(task.val_x), image_ids(task.test_x)
        assert len(val) == 10 and len(train) == 90 and len(test) == 40  # 10% of 50 per class, 2 classes
        assert not train & val and not val & test and val <= set(range(300))
        assert torch.equal(torch.bincount(task.val_y), torch.tensor([5, 5]))


def test_validation_split_is_identical_across_seeds_and_runs(stream):
    config = settings(stream)
    first = load_stream(stream, config, DataSource(), 4, run_seed=0)
    for again in (load_stream(stream, config, DataSource(), 4, run_seed=0),
                  load_stream(stream, config, DataSource(), 4, run_seed=7)):
        for a, b in zip(first, again):
            assert torch.equal(a.val_x, b.val_x) and torch.equal(a.train_x, b.train_x)


def test_resample_data_draws_subsets_and_split_with_the_run_seed(stream):
    config = settings(stream, "resample_data=true")
    seed0, seed1 = (load_stream(stream, config, DataSource(), 4, run_seed=seed)[0] for seed in (0, 1))
    assert image_ids(seed0.train_x) != image_ids(seed1.train_x) and image_ids(seed0.val_x) != image_ids(seed1.val_x)
    assert image_ids(seed0.test_x) != image_ids(seed1.test_x)
    again = load_stream(stream, config, DataSource(), 4, run_seed=1)[0]
    assert torch.equal(again.val_x, seed1.val_x)


def test_val_fraction_zero_holds_out_nothing_and_out_of_range_is_refused(stream):
    (task, _) = load_stream(stream, settings(stream, "val_fraction=0"), DataSource(), 4)
    assert len(task.val_x) == 0 and len(task.train_x) == 100
    with pytest.raises(UsageError, match="val_fraction=1.0 is not allowed"):
        settings(stream, "val_fraction=1")
    with pytest.raises(UsageError, match="too few to hold out"):
        load_stream(stream, settings(stream, "train_per_class=1"), DataSource(), 4)
