"""In-process runs on the smoke stream with timm's tiny test_efficientnet (random weights from a
file, so nothing is downloaded): seconds per run, for tests of every method with every optimizer."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import timm
import torch

from clbench.config import resolve_config, trained_strategy
from clbench.data.datasets import DataSource
from clbench.registry import get_stream, get_strategy
from clbench.training.checkpoints import Checkpointing
from clbench.training.engine import RunRequest, run_experiment

BACKBONE = "test_efficientnet"
VOLATILE = ("timing", "env")


def tiny_weights(folder: Path) -> Path:
    path = Path(folder) / f"{BACKBONE}.pt"
    if not path.exists():
        torch.manual_seed(0)
        torch.save(timm.create_model(BACKBONE, pretrained=False).state_dict(), path)
    return path


def method_run(weights: Path, strategy: str, *assignments: str, plugins: list | None = None,
               checkpointing: Checkpointing | None = None) -> dict:
    """The record of a smoke run of `strategy` with --set `assignments`; `plugins` are added to the
    strategy's own (spies)."""
    stream = get_stream("fashionmnist_mnist")
    chosen = get_strategy(strategy)
    if plugins:
        own = chosen.make_callbacks
        chosen = dataclasses.replace(chosen, make_callbacks=lambda config: [*own(config), *plugins])
    config = resolve_config(stream, chosen, [*assignments, f"weights={weights}"], smoke=True, backbone=BACKBONE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Avalanche's "no loggers" warning
        return run_experiment(RunRequest(stream, trained_strategy(chosen, config), BACKBONE, 0, config, "cpu",
                                         DataSource(), checkpointing), progress=False)


def stable(record: dict) -> dict:
    return {key: value for key, value in record.items() if key not in VOLATILE}
