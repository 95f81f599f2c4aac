"""The lora strategy: peft adapters on the linear and ungrouped conv layers, as many parameters as
NanoAdam updates, merged into the weights after each task with a change of low rank."""

import sys
import types
from pathlib import Path

import pytest
import torch

from clbench.config import resolve_config
from clbench.data.datasets import DataSource
from clbench.registry import get_stream, strategies
from clbench.training.backbones import create_backbone
from clbench.training.checkpoints import Checkpointing, load_checkpoint
from clbench.training.engine import RunRequest, run_experiment
from method_runs import method_run, stable, tiny_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.lora_parameters import nanoadam_selected  # noqa: E402


def inject(backbone, **settings):
    config = {**strategies()["lora"].defaults, **settings}
    plugin = strategies()["lora"].make_callbacks(config)[0]
    template = types.SimpleNamespace(model=types.SimpleNamespace(backbone=backbone))
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


def test_inside_a_task_the_model_state_holds_the_backbones_own_weights_and_the_callback_the_adapters():
    backbone = tiny_backbone()
    own = {name: tensor.clone() for name, tensor in backbone.state_dict().items()}
    plugin, template = inject(backbone, rank=2)
    with torch.no_grad():
        backbone[0].base_layer.weight.add_(1.0)  # the base weights as a task would leave them unmerged
        backbone[0].lora_B["default"].weight.add_(0.5)  # and adapters that have trained (B starts at 0)
    state = backbone.state_dict()
    assert state.keys() == own.keys()
    assert torch.equal(state["0.weight"], own["0.weight"] + 1.0)
    adapters = plugin.state_dict()["adapters"]
    assert adapters.keys() == {f"{layer}.lora_{side}.default.weight" for layer in ("0", "5") for side in "AB"}

    resumed, fresh = strategies()["lora"].make_callbacks(strategies()["lora"].defaults | {"rank": 2})[0], tiny_backbone()
    fresh.load_state_dict(state)
    resumed.load_state_dict({"adapters": adapters}, fresh)
    torch.manual_seed(1)  # fresh adapters would differ
    resumed.after_train_dataset_adaptation(types.SimpleNamespace(model=types.SimpleNamespace(backbone=fresh)))
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(fresh(x), backbone(x))
    plugin.after_training_exp(template)
    assert plugin.state_dict() == {"adapters": None} and backbone.state_dict().keys() == own.keys()


def test_a_lora_run_resumed_inside_a_task_gives_the_uninterrupted_record(tmp_path):
    weights = tiny_weights(tmp_path)
    kept = Checkpointing(tmp_path / "run.pt", every_steps=3, keep=True)
    whole = method_run(weights, "lora", "batch_size=8", checkpointing=kept)
    assert kept.path.exists() and load_checkpoint(kept.path)["in_task"] is not None
    resumed = method_run(weights, "lora", "batch_size=8", checkpointing=kept)
    assert whole["status"] == "completed" and stable(resumed) == stable(whole)


def test_a_lora_run_completes_and_moves_only_the_adapted_layers():
    stream, lora = get_stream("fashionmnist_mnist"), strategies()["lora"]
    config = resolve_config(stream, lora, ["val_fraction=0"], smoke=True)
    record = run_experiment(RunRequest(stream, lora, "efficientnet_lite0", 0, config, "cpu", DataSource()),
                            progress=False)
    assert record["status"] == "completed", record["error"]
    drift = record["drift_per_layer_l2"]
    assert drift["conv_stem.weight"] > 0 and drift["blocks.1.0.conv_pw.weight"] > 0
    assert drift["blocks.1.0.conv_dw.weight"] == 0 and drift["bn1.weight"] == 0
