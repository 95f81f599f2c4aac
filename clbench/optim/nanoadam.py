"""NanoAdam at the speed of the hardware: the optimizer of clbench.optim.nanoadam_reference (same
arguments, same masks, same state, the same numbers on CPU), with a step whose number of operations
does not grow with the number of tensors but for one gather and one scatter per masked tensor.

A masked group's moments and chunk-local indices live in flat buffers, tensor after tensor; every
tensor's state holds views of them, so state_dict() and checkpoints are the reference's, and a
reference's state loads here (and back). Each new mask's flat indices (logical order) are computed
once and kept beside the state, in int32 (4 bytes per selected entry; buffer_bytes() counts them).
A step gathers every selected gradient with one index_select per tensor into one flat buffer
(torch.take where a tensor is not contiguous, e.g. channels-last), runs Adam once on the flat
buffers, and adds the update with one index_add_ per tensor (put_ where not contiguous). The
dense group (heads, norms, biases) keeps its moments in flat buffers too: its gradients are copied
into a scratch buffer and its update added back with one torch._foreach_* call each, and the
reference's arithmetic runs once over all its entries. The mask refresh stays per tensor (every
mask_interval steps); the flat buffers are rebuilt after it.

A group takes the per-tensor path of the reference when one of its tensors has no gradient in a
step, when its tensors differ in device or dtype, or when their bias-correction counts differ (a
density schedule that changed k in some tensors only).
"""

from __future__ import annotations

import torch

from clbench.optim.common import check_dense_gradient
from clbench.optim.nanoadam_reference import MAX_AGE, NanoAdamReference, adam_direction, mask_chunking
from clbench.optim.state import FlatBuffersMixin, holds_views

FLAT_KEYS = ("index", "exp_avg", "exp_avg_sq", "age")  # the per-entry state of a masked tensor


class NanoAdam(FlatBuffersMixin, NanoAdamReference):
    """NanoAdam (see nanoadam_reference for the algorithm and its arguments), stepping each group's
    tensors together."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._flat: dict[int, tuple[dict, FlatMasks]] = {}  # id(group) -> (group, its flat buffers)

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
        grad = flat.gather([p.grad for p in params]).float()
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
            update.add_(flat.gather(params), alpha=group["weight_decay"])
        flat.add_(params, update.to(params[0].dtype).mul_(-group["lr"]))

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
    holding views of them; and the flat indices (logical order) of each tensor's selected entries,
    computed once per mask: int32 (4 bytes per selected entry, beside the state) where the tensor
    has fewer than 2**31 entries."""

    def __init__(self, group: dict, states: list[dict]):
        params = group["params"]
        self.keys = [key for key in FLAT_KEYS if key in states[0]]
        self.counts = [state["index"].numel() for state in states]
        self.buffers = {key: torch.cat([state[key] for state in states]) for key in self.keys}
        for key, buffer in self.buffers.items():
            for state, view in zip(states, buffer.split(self.counts)):
                state[key] = view
        self.views = [[state[key] for key in self.keys] for state in states]
        self.selected = sum(self.counts)
        self.index = self._flat_indices(params, group, states)

    def _flat_indices(self, params: list, group: dict, states: list[dict]) -> list[torch.Tensor]:
        starts, sizes = [], []
        for p, state in zip(params, states):
            chunking = mask_chunking(p, group, state)
            starts += range(0, p.numel(), chunking.chunk_size)
            sizes += [chunking.k_per_chunk] * chunking.full_chunks + ([chunking.k_tail] if chunking.tail else [])
        device = params[0].device
        index = torch.repeat_interleave(torch.tensor(starts, dtype=torch.int64, device=device),
                                        torch.tensor(sizes, dtype=torch.int64, device=device),
                                        output_size=self.selected).add_(self.buffers["index"])
        if max(p.numel() for p in params) < 2**31:
            index = index.int()
        return list(index.split(self.counts))

    def holds(self, states: list[dict]) -> bool:
        return holds_views(states, self.views, self.keys)

    def gather(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        """The selected entries of each of `tensors` (shaped as the group's), in one flat buffer."""
        out = torch.empty(self.selected, dtype=tensors[0].dtype, device=tensors[0].device)
        for tensor, index, part in zip(tensors, self.index, out.split(self.counts)):
            if tensor.is_contiguous():
                torch.index_select(tensor.view(-1), 0, index, out=part)
            else:  # take follows the logical order of any memory format
                part.copy_(torch.take(tensor, index.long()))
        return out

    def add_(self, params: list[torch.Tensor], values: torch.Tensor) -> None:
        """Add each tensor's part of the flat `values` to its selected entries."""
        for p, index, part in zip(params, self.index, values.split(self.counts)):
            if p.is_contiguous():
                p.view(-1).index_add_(0, index, part)
            else:
                p.put_(index.long(), part, accumulate=True)
