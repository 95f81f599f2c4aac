import math

import pytest
import torch

from clbench.config import RUN_DEFAULTS, SMOKE_OVERRIDES, resolve_config
from clbench.errors import UsageError
from clbench.registry import get_strategy, get_stream


@pytest.fixture
def stream():
    return get_stream("fashionmnist_mnist")


@pytest.fixture
def nanoadam():
    return get_strategy("nanoadam")


def test_defaults_merge_run_stream_and_strategy(stream, nanoadam):
    config = resolve_config(stream, nanoadam, [])
    assert config["image_size"] == stream.image_size
    assert config["density"] == nanoadam.defaults["density"]
    assert config["lr"] == [nanoadam.defaults["lr"]] * 2


def test_set_overrides_are_typed(stream, nanoadam):
    config = resolve_config(stream, nanoadam, ["epochs=5", "density=0.05", "bias_correction=false"])
    assert config["epochs"] == 5 and isinstance(config["epochs"], int)
    assert config["density"] == 0.05
    assert config["bias_correction"] is False


def test_learning_rate_per_task(stream, nanoadam):
    assert resolve_config(stream, nanoadam, ["lr=1e-3,2e-3"])["lr"] == [1e-3, 2e-3]


def test_smoke_overrides_then_set(stream, nanoadam):
    config = resolve_config(stream, nanoadam, ["epochs=2"], smoke=True)
    assert config["train_per_class"] == SMOKE_OVERRIDES["train_per_class"]
    assert config["epochs"] == 2


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("densty=0.1", "unknown --set key 'densty'; did you mean density"),
        ("epochs=two", "not a valid int"),
        ("epochs=1.5", "not a valid int"),
        ("density=nan", "not a valid float"),
        ("bias_correction=maybe", "not a valid bool"),
        ("lr=1e-3,2e-3,3e-3", "give 1 or one per task (2)"),
        ("lr=-1", "lr must be more than 0"),
        ("lr=1e-3,-2e-3", "lr must be more than 0"),
        ("epochs=0", "epochs must be at least 1"),
        ("density=2", "density must be in (0, 1]"),
        ("criterion=smallest", "criterion must be one of small, large, random, large_gradient"),
        ("state_dtype=fp8", "state_dtype must be one of bfloat16, float16, float32"),
        ("val_fraction=1", "val_fraction must be in [0, 1)"),
        ("lr_schedule=step", "lr_schedule must be one of constant, cosine"),
        ("epochs", "is not key=value"),
    ],
)
def test_bad_set_values_name_the_problem(stream, nanoadam, assignment, message):
    with pytest.raises(UsageError) as info:
        resolve_config(stream, nanoadam, [assignment])
    assert message in str(info.value)


def test_the_papers_runs_get_the_papers_settings():
    paper_stream = get_stream("cifar10_flowers102")
    config = resolve_config(paper_stream, get_strategy("nanoadam"), [], backbone="resnet18")
    assert config["preset"] == "paper" and config["lr"] == [0.009, 0.007]
    assert config["epochs"] == 30 and config["batch_size"] == 128 and config["density"] == 0.01
    vit = resolve_config(paper_stream, get_strategy("nanoadam"), ["lr=5e-4"], backbone="vit_large_patch16_224")
    assert vit["lr"] == [5e-4, 5e-4] and vit["density"] == 0.001  # --set wins over the preset
    assert vit["lr_schedule"] == "cosine" and vit["label_smoothing"] == 0.1 and vit["epochs"] == 5
    other = resolve_config(get_stream("fashionmnist_mnist"), get_strategy("nanoadam"), [], backbone="resnet18")
    assert other["preset"] == "" and other["epochs"] == RUN_DEFAULTS["epochs"]
    trainval = resolve_config(get_stream("cifar10_flowers102_trainval"), get_strategy("nanoadam"), [],
                              backbone="resnet18")
    assert trainval["preset"] == "paper" and trainval["lr"] == [0.009, 0.007]


def test_the_offline_streams_refresh_nanoadams_mask_several_times_per_task():
    nanoadam, adamw = get_strategy("nanoadam"), get_strategy("adamw")
    for name, steps in (("fashionmnist_mnist", 96), ("fashionmnist_mnist_digits", 66), ("split_fashionmnist", 21)):
        stream = get_stream(name)
        config = resolve_config(stream, nanoadam, [])
        classes = len(stream.tasks[0].classes or range(10))  # the offline data sets have 10 classes
        per_task = math.ceil(stream.train_per_class * classes / config["batch_size"]) * config["epochs"]
        assert per_task == steps and per_task // config["mask_interval"] >= 3
        assert resolve_config(stream, nanoadam, ["mask_interval=100"])["mask_interval"] == 100  # --set wins
        assert "mask_interval" not in resolve_config(stream, adamw, [])
    assert resolve_config(get_stream("cifar10_flowers102"), nanoadam, [])["mask_interval"] == 100


def test_cosine_schedule_decays_each_task_to_zero():
    from types import SimpleNamespace

    from clbench.training.callbacks import CosineSchedule

    param = torch.nn.Parameter(torch.zeros(1))
    schedule = CosineSchedule()
    for batches, epochs in [(2, 2), (2, 1)]:
        steps = batches * epochs
        strategy = SimpleNamespace(optimizer=torch.optim.SGD([param], lr=0.1), dataloader=[None] * batches,
                                   train_epochs=epochs)
        schedule.before_training_exp(strategy)
        lrs = []
        for _ in range(steps):
            lrs.append(strategy.optimizer.param_groups[0]["lr"])
            strategy.optimizer.step()
            schedule.after_training_iteration(strategy)
        assert lrs[0] == pytest.approx(0.1) and strategy.optimizer.param_groups[0]["lr"] == pytest.approx(0.0)
        assert lrs == sorted(lrs, reverse=True)
