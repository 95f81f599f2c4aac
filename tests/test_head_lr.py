"""head_lr: the heads train with their own AdamW, the same for every strategy, and the strategy's
optimizer moves only the backbone; CombinedOptimizer steps, schedules and saves the two as one."""

import json
import types
from pathlib import Path

import pytest
import torch

from clbench.config import resolve_config
from clbench.errors import UsageError
from clbench.optim.combined import CombinedOptimizer
from clbench.records import SETTINGS_ADDED_LATER, config_hash
from clbench.registry import get_stream, strategies
from clbench.settings import RunSettings
from clbench.training.template import TaskIncrementalTemplate
from clbench.training.model import TaskHeadsModel

RESULTS = Path(__file__).resolve().parents[1] / "results" / "runs"


def params(seed):
    torch.manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(5))]


def set_grads(tensors, step):
    for i, p in enumerate(tensors):
        p.grad = torch.full_like(p, 0.1 * (i + 1) * (step + 1)).sin()


def test_combined_steps_schedules_and_resumes_as_its_parts_would_alone():
    alone, together = (params(0), params(1)), (params(0), params(1))
    parts = [torch.optim.AdamW(alone[0], lr=0.1), torch.optim.SGD(alone[1], lr=0.5, momentum=0.9)]
    combined = CombinedOptimizer(torch.optim.AdamW(together[0], lr=0.1),
                                 torch.optim.SGD(together[1], lr=0.5, momentum=0.9))
    schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6) for o in parts]
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(combined, T_max=6)
    for step in range(3):
        for tensors in (*alone, *together):
            set_grads(tensors, step)
        for o, s in zip(parts, schedules):
            o.step(), s.step()
        combined.step(), schedule.step()
    saved = combined.state_dict()
    resumed = CombinedOptimizer(torch.optim.AdamW(together[0], lr=0.1),
                                torch.optim.SGD(together[1], lr=0.5, momentum=0.9))
    resumed.load_state_dict(saved)
    for step in range(3, 5):
        for tensors in (*alone, *together):
            set_grads(tensors, step)
        for o in parts:
            o.step()
        resumed.step()
    for a, b in zip([*alone[0], *alone[1]], [*together[0], *together[1]]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [g["lr"] for g in combined.param_groups] == [g["lr"] for o in parts for g in o.param_groups]
    assert len(combined.state) == 4
    combined.zero_grad()
    assert all(p.grad is None for tensors in together for p in tensors)


def optimizer_for(strategy: str, head_lr: float, frozen_backbone: bool = False):
    backbone = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.LayerNorm(8))
    backbone.num_features = 8
    backbone.requires_grad_(not frozen_backbone)
    model = TaskHeadsModel(backbone, [3, 2])
    config = RunSettings({**resolve_config(get_stream("fashionmnist_mnist"), strategies()[strategy],
                                           [f"head_lr={head_lr}"]), "density": 0.5})
    template = types.SimpleNamespace(_clbench_strategy=strategies()[strategy], _clbench_config=config, _seed=0)
    return TaskIncrementalTemplate._optimizer_for(template, model, 1, task_steps=10), model


@pytest.mark.parametrize("strategy", ["adamw", "nanoadam", "random_mask", "microadam", "sgd"])
def test_with_head_lr_the_head_has_its_own_adamw_and_the_strategy_only_the_backbone(strategy):
    optimizer, model = optimizer_for(strategy, head_lr=3e-3)
    strategy_part, head_part = optimizer.parts
    head = {id(p) for p in model.heads[1].parameters()}
    assert type(head_part) is torch.optim.AdamW and {id(p) for g in head_part.param_groups for p in g["params"]} == head
    assert [g["lr"] for g in head_part.param_groups] == [3e-3]
    held = {id(p) for g in strategy_part.param_groups for p in g["params"]}
    assert held == {id(p) for p in model.backbone.parameters()}


def test_without_head_lr_the_strategy_trains_the_head():
    optimizer, model = optimizer_for("nanoadam", head_lr=0.0)
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert not isinstance(optimizer, CombinedOptimizer) and {id(p) for p in model.heads[1].parameters()} <= held


def test_with_head_lr_a_frozen_backbone_trains_the_head_alone():
    optimizer, model = optimizer_for("adamw", head_lr=3e-3, frozen_backbone=True)
    assert type(optimizer) is torch.optim.AdamW
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {id(p) for p in model.heads[1].parameters()}


def test_a_negative_head_lr_is_a_usage_error():
    with pytest.raises(UsageError, match="head_lr"):
        resolve_config(get_stream("fashionmnist_mnist"), strategies()["adamw"], ["head_lr=-1"])


def test_committed_records_keep_their_names_and_head_lr_names_its_own():
    record_files = sorted(RESULTS.glob("*__seed*__*.json"))[:20]
    assert record_files
    for path in record_files:
        config = json.loads(path.read_text())["config"]
        before = {key: value for key, value in config.items() if key not in SETTINGS_ADDED_LATER}
        assert path.stem.endswith(config_hash(config))
        assert config_hash({**before, **SETTINGS_ADDED_LATER}) == config_hash(before)
        assert config_hash({**before, "head_lr": 1e-3}) != config_hash(before)


def test_the_committed_campaign_still_finds_its_tuned_files_and_every_record():
    from clbench.records import is_completed
    from clbench.sweeps.spec import load_sweep

    root = RESULTS.parents[1]
    runs = load_sweep(root / "results/sweeps/campaign/offline.toml", RESULTS)
    assert len(runs) == 140 and all(run.tuned and is_completed(run.record) for run in runs)
