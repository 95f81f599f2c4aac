"""What an optimizer's state costs in memory, and keeping compact state compact on reload."""

from __future__ import annotations

import torch
from torch.optim import Optimizer


def optimizer_state_bytes(optimizer: Optimizer) -> int:
    """Bytes of the tensors in the optimizer's per-parameter state, including tensors held by
    objects in it (GaLore's projectors); a tensor shared by several parameters (bitsandbytes'
    quantisation maps) counts once."""
    tensors = {}
    for state in optimizer.state.values():
        _collect_tensors(state, tensors)
    return sum(t.numel() * t.element_size() for t in tensors.values())


def bytes_beside_state(optimizer: Optimizer, holders) -> int:
    """Bytes of the tensor storage that `holders` (a fast optimizer's flat buffers, index caches and
    scratch) keep and neither the optimizer's state nor its parameters share: memory it holds
    that state_dict() does not, as it is rebuilt from the state."""
    state, held = {}, {}
    for value in optimizer.state.values():
        _collect_tensors(value, state)
    _collect_tensors(list(holders), held, levels=6)  # holders -> buckets -> their dicts of tensors
    params = [p for group in optimizer.param_groups for p in group["params"]]
    shared = {t.untyped_storage().data_ptr() for t in [*state.values(), *params]}
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in held.values()}
    return sum(nbytes for ptr, nbytes in storages.items() if ptr not in shared)


def _collect_tensors(value, found: dict, levels: int = 3) -> None:
    """Every tensor in `value` and in the containers and objects it holds, `levels` deep."""
    if isinstance(value, torch.Tensor):
        found[id(value)] = value
    elif levels > 0:
        if isinstance(value, dict):
            items = value.values()
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            items = vars(value).values() if hasattr(value, "__dict__") else ()
        for item in items:
            _collect_tensors(item, found, levels - 1)


class CompactStateMixin:
    """torch's Optimizer.load_state_dict casts every state tensor of a floating-point parameter
    to that parameter's dtype, which would turn int16 indices, uint8 codes and bf16 moments into
    fp32. This puts the saved tensors back with their own dtypes, so training continues
    bit-identically and the state stays small."""

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        saved_ids = [i for group in state_dict["param_groups"] for i in group["params"]]
        params = [p for group in self.param_groups for p in group["params"]]
        for saved_id, param in zip(saved_ids, params):
            for key, value in state_dict["state"].get(saved_id, {}).items():
                if isinstance(value, torch.Tensor):
                    self.state[param][key] = value.to(device=param.device, copy=True)


class FlatBuffersMixin:
    """For the fast optimizers, whose `_flat` maps id(group) to (group, the flat buffers built from
    its state): a loaded state drops the buffers (they are rebuilt from it), and buffer_bytes()
    counts the memory they keep beside the state (flat indices, scratch, layout maps)."""

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._flat.clear()

    def buffer_bytes(self) -> int:
        return bytes_beside_state(self, (flat for _, flat in self._flat.values()))


def holds_views(states: list[dict], views: list[list], keys) -> bool:
    """Whether each state's `keys` are still the views a flat buffer gave it (a refresh, a loaded
    state or a per-tensor step may have replaced them), for the fast optimizers' flat state."""
    return len(states) == len(views) and all(
        state[key] is view for state, held in zip(states, views) for key, view in zip(keys, held))
