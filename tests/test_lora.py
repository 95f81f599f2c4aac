"""The lora strategy: peft adapters on the linear and ungrouped conv layers, as many parameters as
NanoAdam updates, merged into the weights after each task with a change of low rank."""

import sys
import types
from pathlib import Path

import pytest
import torch

from clbench.config import resolve_config
from clbench.data.datasets import DataSource
from clbench.errors import UsageError
from clbench.registry import get_stream, strategies
from clbench.training.backbones import create_backbone
from clbench.training.engine import RunRequest, run_experiment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.lora_parameters import nanoadam_selected  # noqa: E402


def inject(backbone, **settings):
    config = {**strategies()["lora"].defaults, **settings}
    plugin = strategies()["lora"].make_callbacks(config)[0]
    template = types.SimpleNamespace(model=types.SimpleNamespace(backbone=backbone), checkpoints_in_task=False)
    plugin.after_train_dataset_adaptation(template)
    return plugin, template


def test_on_lite0_the_adapters_hold_as_many_parameters_as_nanoadam_updates_and_skip_the_depthwise_convs():
    backbone, _, _ = create_backbone("efficientnet_lite0")
    selected = nanoadam_selected(backbone)
    backbone, _, _ = create_backbone("efficientnet_lite0")
    inject(backbone)
    trainable = {name: p for name, p in backbone.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    count = sum(p.numel() for p in trainable.values())
    assert selected / 1.5 <= count <= 1.5 * selected, (count, selected)
    adapted = {name.split(".lora_")[0] for name in trainable}
    depthwise = {name for name, m in backbone.named_modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1}
    assert depthwise and not adapted & depthwise


def tiny_backbone():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3), torch.nn.Conv2d(32, 32, 3, groups=32),
                               torch.nn.BatchNorm2d(32), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(32, 64))


def test_after_a_task_the_change_is_merged_of_low_rank_and_the_backbone_is_as_before():
    backbone = tiny_backbone()
    before = {name: p.detach().clone() for name, p in backbone.named_parameters()}
    plugin, template = inject(backbone, rank=2)
    optimizer = strategies()["lora"].make_optimizer(backbone, torch.nn.Identity(), 1e-2,
                                                    strategies()["lora"].defaults)
    for _ in range(3):
        optimizer.zero_grad()
        backbone(torch.randn(4, 3, 8, 8)).square().mean().backward()
        optimizer.step()
    plugin.after_training_exp(template)
    after = dict(backbone.named_parameters())
    assert after.keys() == before.keys() and all(p.requires_grad for p in after.values())
    for name in ("0.weight", "5.weight"):
        change = (after[name] - before[name]).flatten(1)
        assert change.abs().max() > 0 and torch.linalg.matrix_rank(change) <= 2, name
    for name in ("1.weight", "1.bias", "2.weight", "0.bias", "5.bias"):  # depthwise, norm, biases
        assert torch.equal(after[name], before[name]), name


def test_lora_refuses_checkpoints_inside_a_task():
    plugin = strategies()["lora"].make_callbacks(strategies()["lora"].defaults)[0]
    template = types.SimpleNamespace(model=types.SimpleNamespace(backbone=tiny_backbone()), checkpoints_in_task=True)
    with pytest.raises(UsageError, match="checkpoint-every"):
        plugin.after_train_dataset_adaptation(template)


def test_a_lora_run_completes_and_moves_only_the_adapted_layers():
    stream, lora = get_stream("fashionmnist_mnist"), strategies()["lora"]
    config = resolve_config(stream, lora, ["val_fraction=0"], smoke=True)
    record = run_experiment(RunRequest(stream, lora, "efficientnet_lite0", 0, config, "cpu", DataSource()),
                            progress=False)
    assert record["status"] == "completed", record["error"]
    drift = record["drift_per_layer_l2"]
    assert drift["conv_stem.weight"] > 0 and drift["blocks.1.0.conv_pw.weight"] > 0
    assert drift["blocks.1.0.conv_dw.weight"] == 0 and drift["bn1.weight"] == 0
