import copy
import logging
import math
import warnings

import pytest
import torch

from clbench.optim.state import optimizer_state_bytes
from clbench.registry import strategies
from clbench.settings import RunSettings, TaskContext

strategies()  # importing the method strategies imports Avalanche, which warns (jaxopt): not the steps' doing


def tiny_backbone():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 300))


def config_for(name, task_steps=10, task=0, run_seed=0, **overrides):
    """The strategy's settings with `overrides`, for the optimizer of task `task`."""
    return RunSettings({**strategies()[name].defaults, **overrides},
                       TaskContext(index=task, steps=task_steps, run_seed=run_seed))


def one_step(name, **overrides):
    backbone, head = tiny_backbone(), torch.nn.Linear(300, 4)
    before = copy.deepcopy((backbone, head))
    optimizer = strategies()[name].make_optimizer(backbone, head, 1e-2, config_for(name, **overrides))
    loss = head(backbone(torch.randn(2, 3, 8, 8))).logsumexp(dim=1).mean()
    loss.backward()
    optimizer.step()
    return optimizer, (backbone, head), before


def changed(after, before):
    return {name: int((p != q).sum()) for (name, p), q in zip(after.named_parameters(), before.parameters())}


@pytest.mark.parametrize("name", ["adamw", "adamw8bit", "galore", "microadam", "nanoadam", "sgd"])
def test_every_strategy_trains_backbone_and_head_quietly(name, caplog):
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        optimizer, (backbone, head), (old_backbone, old_head) = one_step(name)
    assert [str(w.message) for w in caught] == [] and caplog.records == []
    assert all(count > 0 for count in changed(head, old_head).values())
    assert changed(backbone, old_backbone)["0.weight"] > 0
    assert optimizer_state_bytes(optimizer) > 0


def test_nanoadam_masks_the_backbone_weights_only():
    _, (backbone, head), (old_backbone, old_head) = one_step("nanoadam", density=0.1)
    counts = changed(backbone, old_backbone)
    assert counts["0.weight"] == math.ceil(0.1 * 16 * 27) and counts["5.weight"] == math.ceil(0.1 * 300 * 16)
    assert counts["5.bias"] == 300 and counts["1.weight"] == 16  # biases and BatchNorm dense


def test_nanoadam_masks_the_biases_with_mask_biases():
    _, (backbone, _), (old_backbone, _) = one_step("nanoadam", density=0.1, mask_biases=True)
    counts = changed(backbone, old_backbone)
    assert counts["5.bias"] == 30 and counts["1.weight"] == 16  # BatchNorm still dense


def test_mask_biases_that_masks_nothing_is_refused():
    with pytest.raises(ValueError, match="mask_biases=true changes nothing on this backbone"):
        one_step("nanoadam", mask_biases=True, dense_names="0.bias, 5.bias")


def random_mask(**overrides):
    optimizer, (backbone, _), _ = one_step("nanoadam", criterion="random", density=0.1, **overrides)
    return optimizer.mask_index(backbone[5].weight)


def test_random_masks_differ_between_tasks_and_run_seeds_and_repeat_otherwise():
    first = random_mask(task=0, run_seed=0)
    assert torch.equal(first, random_mask(task=0, run_seed=0))
    for other in (random_mask(task=1, run_seed=0), random_mask(task=0, run_seed=1), random_mask(mask_seed=5)):
        assert not torch.equal(first, other)


@pytest.mark.parametrize("control", ["random_mask", "large_mask"])
def test_a_mask_control_moves_as_many_weights_as_nanoadam_and_the_same_dense_parts(control):
    _, (backbone, head), (old_backbone, old_head) = one_step(control, density=0.1)
    _, (nano_backbone, nano_head), _ = one_step("nanoadam", density=0.1)
    assert changed(backbone, old_backbone) == changed(nano_backbone, old_backbone)
    assert changed(head, old_head) == changed(nano_head, old_head)


def moved_entries(name):
    _, (backbone, _), (old_backbone, _) = one_step(name, density=0.1)
    return (backbone[5].weight != old_backbone[5].weight).flatten(), old_backbone[5].weight.abs().flatten()


def test_large_mask_moves_the_largest_weights_and_nanoadam_the_smallest():
    for name, pick_largest in (("large_mask", True), ("nanoadam", False)):
        moved, magnitude = moved_entries(name)
        expected = magnitude.topk(int(moved.sum()), largest=pick_largest).indices
        assert set(moved.nonzero().flatten().tolist()) == set(expected.tolist()), name


def test_random_mask_moves_neither_the_smallest_nor_the_largest_weights():
    moved, magnitude = moved_entries("random_mask")
    count = int(moved.sum())
    for largest in (False, True):
        extreme = set(magnitude.topk(count, largest=largest).indices.tolist())
        assert len(extreme & set(moved.nonzero().flatten().tolist())) < count // 2


def test_a_mask_control_takes_nanoadams_stream_settings_and_has_no_criterion_setting():
    from clbench.config import resolve_config
    from clbench.errors import UsageError
    from clbench.registry import get_stream

    stream = get_stream("fashionmnist_mnist")
    config = resolve_config(stream, strategies()["random_mask"], [])
    assert config["mask_interval"] == stream.strategy_settings["nanoadam"]["mask_interval"]
    with pytest.raises(UsageError, match="criterion"):
        resolve_config(stream, strategies()["large_mask"], ["criterion=small"])


def test_nanoadam_trains_the_dense_parts_at_dense_lr():
    optimizer, (backbone, head), (old_backbone, old_head) = one_step("nanoadam", dense_lr=1e-5)
    assert sorted(group["lr"] for group in optimizer.param_groups) == [1e-5, 1e-2]
    moved = (head.weight - old_head.weight).abs().max()  # Adam's first step is about lr per entry
    assert 0.5e-5 < moved <= 1.01e-5
    assert (backbone[0].weight - old_backbone[0].weight).abs().max() > 1e-3  # masked: the task's lr


def test_microadam_official_prepares_the_model_the_package_needs():
    prepare = strategies()["microadam"].prepare_model
    model = tiny_backbone().to(memory_format=torch.channels_last)
    prepare(model, config_for("microadam"))
    assert model[0].weight.dtype == torch.float32  # official=false: untouched
    prepare(model, config_for("microadam", official=True))
    assert all(p.dtype == torch.bfloat16 and p.is_contiguous() for p in model.parameters())


def test_adamw8bit_keeps_8bit_moments():
    optimizer, (backbone, _), _ = one_step("adamw8bit")
    state = optimizer.state[backbone[5].weight]  # 4800 entries: above bitsandbytes' 4096 threshold
    assert state["state1"].dtype == state["state2"].dtype == torch.uint8


@pytest.mark.parametrize(
    "name, overrides, message",
    [("nanoadam", {"criterion": "median"}, "criterion="),
     ("microadam", {"official": True}, "official=true needs a CUDA GPU"), ("galore", {"rank": 0}, "rank=0"),
     ("sgd", {"momentum": -1.0}, "momentum")],
)
def test_bad_settings_raise_value_errors(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        one_step(name, **overrides)


def test_shared_state_tensors_count_once():
    params = [torch.nn.Parameter(torch.randn(5000)) for _ in range(2)]
    config = config_for("adamw8bit")
    optimizer = strategies()["adamw8bit"].make_optimizer(torch.nn.ParameterList(params[:1]),
                                                         torch.nn.ParameterList(params[1:]), 1e-3, config)
    for p in params:
        p.grad = torch.randn(5000)
    optimizer.step()
    first, second = (optimizer.state[p] for p in params)
    assert first["qmap1"] is second["qmap1"]  # bitsandbytes shares its quantisation maps
    per_param = sum(t.numel() * t.element_size() for t in first.values() if torch.is_tensor(t))
    assert optimizer_state_bytes(optimizer) == 2 * per_param - 2 * 256 * 4  # qmap1 and qmap2 once


@pytest.mark.parametrize("name", ["adamw", "adamw8bit", "galore", "microadam", "nanoadam", "sgd"])
def test_optimizer_state_survives_a_weights_only_checkpoint(name):
    import io

    overrides = {"rank": 8} if name == "galore" else {}
    optimizer, _, _ = one_step(name, **overrides)
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)  # checkpoints are read this way: no code runs
    before = optimizer.state_dict()
    optimizer.load_state_dict(loaded)
    after = optimizer.state_dict()
    assert before["param_groups"] == after["param_groups"] and before["state"].keys() == after["state"].keys()
    for index, state in before["state"].items():
        for key, value in state.items():
            restored = after["state"][index][key]
            pairs = [(value, restored)] if not isinstance(value, dict) else [(value[k], restored[k]) for k in value]
            for old, new in pairs:
                if isinstance(old, torch.Tensor):
                    assert old.dtype == new.dtype and torch.equal(old, new), (name, key)
                else:
                    assert old == new, (name, key)


def steps_moved(name, steps, **overrides):
    """Which entries of the last Linear's weight moved over `steps` steps of one task, and the masks drawn."""
    backbone, head = tiny_backbone(), torch.nn.Linear(300, 4)
    before = backbone[5].weight.detach().clone()
    optimizer = strategies()[name].make_optimizer(backbone, head, 1e-2, config_for(name, task_steps=steps,
                                                                                   **overrides))
    for _ in range(steps):
        optimizer.zero_grad()
        head(backbone(torch.randn(2, 3, 8, 8))).logsumexp(dim=1).mean().backward()
        optimizer.step()
    return int((backbone[5].weight != before).sum()), optimizer.mask_refreshes()


def test_random_fixed_keeps_one_mask_a_task_where_random_mask_draws_a_new_one_at_each_refresh():
    fixed, fixed_masks = steps_moved("random_fixed", 6, density=0.1)
    redrawn, redrawn_masks = steps_moved("random_mask", 6, density=0.1, mask_interval=2)
    assert fixed_masks == 1 and fixed == math.ceil(0.1 * 300 * 16)
    assert redrawn_masks == 3 and redrawn > 2 * fixed
    assert "mask_interval" not in strategies()["random_fixed"].defaults


def test_random_fixed_moves_as_many_weights_as_nanoadam_in_one_step_with_a_mask_of_its_task_and_seed():
    _, (backbone, _), (old_backbone, _) = one_step("random_fixed", density=0.1)
    _, (nano_backbone, _), _ = one_step("nanoadam", density=0.1)
    assert changed(backbone, old_backbone) == changed(nano_backbone, old_backbone)

    def mask(**overrides):
        optimizer, (trained, _), _ = one_step("random_fixed", density=0.1, **overrides)
        return optimizer.mask_index(trained[5].weight)

    assert torch.equal(mask(task=0), mask(task=0))
    assert not torch.equal(mask(task=0), mask(task=1)) and not torch.equal(mask(run_seed=0), mask(run_seed=1))


def test_dense_only_moves_the_dense_parts_as_nanoadam_does_and_no_masked_weight():
    _, (backbone, head), (old_backbone, old_head) = one_step("dense_only")
    _, (nano_backbone, nano_head), _ = one_step("nanoadam")
    counts = changed(backbone, old_backbone)
    assert counts["0.weight"] == 0 and counts["5.weight"] == 0  # what NanoAdam masks never moves
    assert counts["5.bias"] == 300 and counts["1.weight"] == 16 and counts["1.bias"] == 16
    for name in ("5.bias", "1.weight", "1.bias"):  # the dense parts take NanoAdam's very step
        assert torch.equal(dict(backbone.named_parameters())[name], dict(nano_backbone.named_parameters())[name])
    assert torch.equal(head.weight, nano_head.weight)


def test_the_controls_take_nanoadams_stream_settings_where_they_have_them():
    from clbench.config import resolve_config
    from clbench.registry import get_stream

    stream = get_stream("fashionmnist_mnist")
    for name in ("random_fixed", "dense_only"):
        config = resolve_config(stream, strategies()[name], [])
        assert "mask_interval" not in config and config["lr"] == [1e-3, 1e-3]
