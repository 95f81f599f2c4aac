"""NanoAdam at the speed of the hardware: the optimizer of clbench.optim.nanoadam_reference (same
arguments, same masks, same state, the same numbers on CPU), with a step whose number of operations
does not grow with the number of tensors but for one gather and one scatter per masked tensor.

A masked group's moments and chunk-local indices live in flat buffers, tensor after tensor; every
tensor's state holds views of them, so state_dict() and checkpoints are the reference's, and a
reference's state loads here (and back). A step gathers every selected gradient with one
torch.take per tensor (logical order, any memory format), runs Adam once on the flat buffers, and
adds the update with one put_ per tensor. The dense group (heads, norms, biases) keeps its moments in
flat buffers too: its gradients are copied in and its update added back with one torch._foreach_*
call each, and the reference's arithmetic runs once over all its entries. The mask refresh stays
per tensor (every mask_interval steps); the flat buffers are rebuilt after it.

A group takes the per-tensor path of the reference when one of its tensors has no gradient in a
step, when its tensors differ in device or dtype, or when their bias-correction counts differ (a
density schedule that changed k in some tensors only).
"""

from __future__ import annotations

import torch

from clbench.optim.common import check_dense_gradient
from clbench.optim.nanoadam_reference import MAX_AGE, NanoAdamReference, adam_direction, mask_chunking
from clbench.optim.state import holds_views

FLAT_KEYS = ("index", "exp_avg", "exp_avg_sq", "age")  # the per-entry state of a masked tensor


class NanoAdam(NanoAdamReference):
    """NanoAdam (see nanoadam_reference for the algorithm and its arguments), stepping each group's
    tensors together."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._flat: dict[int, tuple[dict, FlatMasks]] = {}  # id(group) -> (group, its flat buffers)

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._flat.clear()

    def _step_group(self, group: dict, position: int) -> None:
        params = group["params"]
        if any(p.grad is None for p in params) or len({(p.device, p.dtype) for p in params}) > 1:
            return super()._step_group(group, position)
        for p in params:
            check_dense_gradient("NanoAdam", p)
        if group["masked"]:
            self._masked_group_step(group, position)
        else:
            self._dense_group_step(group)

    def _masked_group_step(self, group: dict, position: int) -> None:
        params = group["params"]
        for p_position, p in enumerate(params, start=position + 1):
            self._refresh_if_due(p, group, p_position)
        states = [self.state[p] for p in params]
        keep = group["on_mask_change"] == "keep"
        if not keep and len({state["step"] for state in states}) > 1:
            for p in params:
                self._masked_update(p, group)
            return
        flat = self._flat_state(group, states, FlatMasks)
        index = flat.indices()
        grad = torch.cat([torch.take(p.grad, i) for p, i in zip(params, index)]).float()
        exp_avg, exp_avg_sq = flat.buffers["exp_avg"].float(), flat.buffers["exp_avg_sq"].float()
        if keep:
            step = flat.buffers["age"].clamp_(max=MAX_AGE - 1).add_(1).float()
        else:
            for state in states:
                state["step"] += 1
            step = states[0]["step"]
        update = adam_direction(exp_avg, exp_avg_sq, grad, group, step)
        flat.buffers["exp_avg"].copy_(exp_avg)
        flat.buffers["exp_avg_sq"].copy_(exp_avg_sq)
        if group["weight_decay"]:
            update.add_(torch.cat([torch.take(p, i) for p, i in zip(params, index)]), alpha=group["weight_decay"])
        update = update.to(params[0].dtype).mul_(-group["lr"])
        for p, i, values in zip(params, index, update.split(flat.counts)):
            p.put_(i, values, accumulate=True)

    def _flat_state(self, group: dict, states: list[dict], kind: type):
        """The group's flat buffers (FlatMasks or FlatDense), rebuilt when a refresh or a loaded
        state replaced a tensor's state."""
        held = self._flat.get(id(group))
        if held is None or held[0] is not group or not held[1].holds(states):
            held = self._flat[id(group)] = (group, kind(group, states))
        return held[1]

    def _dense_group_step(self, group: dict) -> None:
        params = group["params"]
        states = [self.state[p] for p in params]
        for p, state in zip(params, states):
            if not state:
                state.update(exp_avg=torch.zeros_like(p, memory_format=torch.preserve_format),
                             exp_avg_sq=torch.zeros_like(p, memory_format=torch.preserve_format), step=0)
        if len({state["step"] for state in states}) > 1:
            for p in params:
                self._dense_step(p, group)
            return
        for state in states:
            state["step"] += 1
        flat = self._flat_state(group, states, FlatDense)
        torch._foreach_copy_(flat.scratch_views, [p.grad for p in params])
        update = adam_direction(flat.buffers["exp_avg"], flat.buffers["exp_avg_sq"], flat.scratch, group,
                                states[0]["step"])
        if group["weight_decay"]:
            torch._foreach_copy_(flat.scratch_views, params)
            update.add_(flat.scratch, alpha=group["weight_decay"])
        flat.scratch.copy_(update)
        torch._foreach_add_(params, flat.scratch_views, alpha=-group["lr"])


class FlatDense:
    """A dense group's moments in flat buffers that every tensor's state holds views of, and a
    scratch buffer with a view shaped as each tensor: its gradients, then its update, in one
    foreach copy each, so Adam runs once over all the group's entries (the reference's arithmetic,
    entry for entry)."""

    KEYS = ("exp_avg", "exp_avg_sq")

    def __init__(self, group: dict, states: list[dict]):
        params = group["params"]
        counts = [p.numel() for p in params]
        self.buffers = {key: torch.cat([state[key].reshape(-1) for state in states]) for key in self.KEYS}
        for key, buffer in self.buffers.items():
            for state, view, p in zip(states, buffer.split(counts), params):
                state[key] = view.view(p.shape)
        self.views = [[state[key] for key in self.KEYS] for state in states]
        self.scratch = torch.empty_like(self.buffers["exp_avg"])
        self.scratch_views = [view.view(p.shape) for view, p in zip(self.scratch.split(counts), params)]

    def holds(self, states: list[dict]) -> bool:
        return holds_views(states, self.views, self.KEYS)


class FlatMasks:
    """A masked group's per-entry state in flat buffers, tensor after tensor, with each tensor's state
    holding views of them; and where each chunk begins in its tensor, to turn the chunk-local indices
    into flat ones in three operations."""

    def __init__(self, group: dict, states: list[dict]):
        params = group["params"]
        self.keys = [key for key in FLAT_KEYS if key in states[0]]
        self.counts = [state["index"].numel() for state in states]
        self.buffers = {key: torch.cat([state[key] for state in states]) for key in self.keys}
        for key, buffer in self.buffers.items():
            for state, view in zip(states, buffer.split(self.counts)):
                state[key] = view
        self.views = [[state[key] for key in self.keys] for state in states]
        starts, sizes = [], []
        for p, state in zip(params, states):
            chunking = mask_chunking(p, group, state)
            starts += range(0, p.numel(), chunking.chunk_size)
            sizes += [chunking.k_per_chunk] * chunking.full_chunks + ([chunking.k_tail] if chunking.tail else [])
        device = params[0].device
        self.chunk_starts = torch.tensor(starts, dtype=torch.int64, device=device)
        self.chunk_sizes = torch.tensor(sizes, dtype=torch.int64, device=device)
        self.selected = sum(self.counts)

    def holds(self, states: list[dict]) -> bool:
        return holds_views(states, self.views, self.keys)

    def indices(self) -> tuple[torch.Tensor, ...]:
        """Per tensor, the flat indices (logical order) of its selected entries."""
        starts = torch.repeat_interleave(self.chunk_starts, self.chunk_sizes, output_size=self.selected)
        return starts.add_(self.buffers["index"]).split(self.counts)
