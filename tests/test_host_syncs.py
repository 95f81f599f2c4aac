"""Between two optimizer steps of a task the training loop reads nothing back from the device: no
`.item()`/`bool()`/`float()` of a tensor (aten._local_scalar_dense; torch.optim's reads of its own
CPU step counters aside) and no op whose output size depends on the data (which syncs on CUDA).
Counted with a dispatch mode on CPU, step after step of a smoke run."""

import dataclasses

import pytest
import torch
from avalanche.training.plugins import SupervisedPlugin
from torch.utils._python_dispatch import TorchDispatchMode

from clbench.config import resolve_config, trained_strategy
from clbench.data.datasets import DataSource
from clbench.registry import get_stream, strategies
from clbench.training.engine import RunRequest, run_experiment

pytestmark = pytest.mark.slow  # whole runs and benchmark scripts: the full suite (make test-all)

DATA_DEPENDENT_SIZES = {"nonzero", "masked_select", "_unique", "_unique2", "unique_dim", "unique_consecutive",
                        "unique_dim_consecutive"}


class SyncCounter(TorchDispatchMode):
    """Names the device reads (`_local_scalar_dense`, except of `exempt` tensors) and the ops with
    data-dependent output sizes run while it is active."""

    def __init__(self, exempt_ids: set[int]):
        super().__init__()
        self.exempt_ids, self.found = exempt_ids, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name == "_local_scalar_dense" and id(args[0]) not in self.exempt_ids:
            self.found.append(name)
        elif name in DATA_DEPENDENT_SIZES:
            self.found.append(name)
        return func(*args, **(kwargs or {}))


def step_counters(optimizer) -> set[int]:
    """torch.optim's CPU step counters (reading them is no device sync); a CombinedOptimizer's parts'."""
    return {id(state["step"]) for state in optimizer.state.values()
            if isinstance(state, dict) and isinstance(state.get("step"), torch.Tensor)}


class CountBetweenSteps(SupervisedPlugin):
    """Counts from one optimizer step's end to the next one's, within each epoch."""

    def __init__(self):
        super().__init__()
        self.mode, self.per_step = None, []

    def _stop(self):
        if self.mode is not None:
            self.mode.__exit__(None, None, None)
            self.per_step.append(self.mode.found)
            self.mode = None

    def after_update(self, strategy, **kwargs):
        self._stop()
        self.mode = SyncCounter(step_counters(strategy.optimizer))
        self.mode.__enter__()

    def after_training_epoch(self, strategy, **kwargs):
        if self.mode is not None:  # the epoch's last step runs on into the epoch's end: not counted
            self.mode.__exit__(None, None, None)
            self.mode = None


@pytest.mark.parametrize("name, settings", [
    ("adamw", []),
    ("nanoadam", ["mask_interval=1000"]),
    ("microadam", []),
    ("galore", []),
    ("ewc", ["optimizer=adamw"]),
    ("adamw", ["head_lr=1e-3"]),
])
def test_no_host_sync_between_optimizer_steps(name, settings):
    counter = CountBetweenSteps()
    base = strategies()[name]
    strategy = dataclasses.replace(base, make_callbacks=lambda config: [*base.make_callbacks(config), counter])
    stream = get_stream("fashionmnist_mnist")
    config = resolve_config(stream, strategy, ["batch_size=8", "epochs=2", "val_fraction=0", *settings], smoke=True)
    record = run_experiment(RunRequest(stream, trained_strategy(strategy, config), "efficientnet_lite0", 0, config,
                                       "cpu", DataSource()), progress=False)
    assert record["status"] == "completed", record["error"]
    assert len(counter.per_step) >= 10
    assert [found for found in counter.per_step if found] == []
