"""What a method's callbacks hold between steps: saved in checkpoints, so that a resumed run goes on
with the importances, buffers and old models it had, and counted in records as the method's memory.

A callback with state implements `state_dict()`, returning tensors, numbers, strings, lists and dicts
only (checkpoints are read with torch.load(weights_only=True)), and `load_state_dict(state, model)`,
the model giving the device and, for a stored model, its structure.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from avalanche.training.utils import ParamData
from torch import nn


@runtime_checkable
class StatefulCallback(Protocol):
    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict, model: nn.Module) -> None: ...


def stateful(callbacks: list) -> list[StatefulCallback]:
    return [callback for callback in callbacks if isinstance(callback, StatefulCallback)]


def held_bytes(callbacks: list) -> int:
    """Bytes of every distinct tensor the callbacks' states hold (buffers, importances, stored weights)."""
    seen: dict[int, int] = {}

    def visit(value) -> None:
        if isinstance(value, torch.Tensor):
            seen[value.untyped_storage().data_ptr()] = value.untyped_storage().nbytes()
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    for callback in stateful(callbacks):
        visit(callback.state_dict())
    return sum(seen.values())


def param_tensors(params: dict[str, ParamData] | None) -> dict[str, torch.Tensor] | None:
    """Avalanche's {name: ParamData} as {name: tensor}."""
    return None if params is None else {name: data.data for name, data in params.items()}


def param_data(tensors: dict[str, torch.Tensor] | None, device: torch.device) -> dict[str, ParamData] | None:
    return None if tensors is None else {
        name: ParamData(name, init_tensor=tensor.to(device), device=device) for name, tensor in tensors.items()}


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
