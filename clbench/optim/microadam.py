"""MicroAdam at the speed of the hardware: the optimizer of clbench.optim.microadam_reference (same
arguments, same state, the same numbers up to how a top-k breaks ties), with a step of a constant
number of operations per bucket of tensors instead of a loop per tensor.

A group's tensors are cut, in order, into buckets of at most `bucket_entries` entries (a larger
tensor is a bucket of its own). In a bucket:
- the state (window indices and values, one column per selected entry; 4-bit error codes; bf16
  min and max per quantisation block) lives in flat buffers, tensor after tensor, that every
  tensor's state holds views of: state_dict() and checkpoints are the reference's, and a
  reference's state loads here (and back);
- the step works in one scratch buffer where each tensor starts on a top-k block and takes whole
  blocks: one top-k over its [blocks, block_size] view selects every tensor's entries (the padding
  scores -1, below any |a|; a block shorter than block_size keeps its own k of the candidates), and
  its [rows, unit] view, unit = gcd(block_size, quant_block_size), holds every quantisation
  block's entries in whole rows, so a block's min and max are those of its rows', and its codes
  one elementwise pass;
- tensors move between the scratch buffer, the parameters and the state with one
  torch._foreach_* call each; the window's statistics are summed (index_add) and its update
  computed at the entries the window holds, the only ones whose update is not zero.
The scratch buffers (about 10 bytes per entry of the largest bucket in fp32, 14 in bf16) are shared
by the buckets and held only during the step: between steps the optimizer keeps its state and the
maps between the layouts, the large ones as runs of equal values (a few numbers per block), and
on CUDA the caching allocator lends the scratch's memory to the forward and backward passes. The
reference's scratch is that of its largest tensor, for its step too.

A group takes the per-tensor path of the reference when one of its tensors has no gradient in a
step, when its tensors differ in device or dtype or their step counts differ, or when
gcd(block_size, quant_block_size) is odd (two 4-bit codes per byte need even tensor starts).
"""

from __future__ import annotations

import math

import torch

from clbench.optim.chunks import Chunking
from clbench.optim.common import check_dense_gradient, check_positive_int
from clbench.optim.microadam_reference import QUANT_LEVELS, MicroAdamReference, initial_state
from clbench.optim.state import FlatBuffersMixin, holds_views

STATE_KEYS = ("indices", "values", "error", "error_min", "error_max")
# A bucket's size trades operations per step (a kernel launch each on a GPU) against the size of
# the scratch buffers and, on CPU, against cache: the elementwise passes over a bucket that stays
# in cache are faster (benchmarks/optimizers.py times both sizes on CPU), while a GPU streams
# memory at any size but pays for every launch.
BUCKET_ENTRIES = {"cpu": 2**22, "cuda": 2**25}


class MicroAdam(FlatBuffersMixin, MicroAdamReference):
    """MicroAdam (see microadam_reference for the algorithm and its arguments), stepping each
    bucket of a group's tensors together."""

    def __init__(self, *args, bucket_entries: int | None = None, **kwargs):
        """bucket_entries: at most this many entries per bucket (default: BUCKET_ENTRIES of the
        parameters' device type)."""
        super().__init__(*args, **kwargs)
        if bucket_entries is not None:
            check_positive_int("bucket_entries", bucket_entries)
        self.bucket_entries = bucket_entries
        self._flat: dict[int, tuple[dict, FlatGroup]] = {}  # id(group) -> (group, its buckets)

    def _step_group(self, group: dict) -> None:
        params = group["params"]
        if (any(p.grad is None for p in params) or len({(p.device, p.dtype) for p in params}) > 1
                or math.gcd(group["block_size"], group["quant_block_size"]) % 2):
            return super()._step_group(group)
        for p in params:
            check_dense_gradient("MicroAdam", p)
        states = [self.state[p] for p in params]
        if len({state.get("step", 0) for state in states}) > 1:
            return super()._step_group(group)
        for p, state in zip(params, states):
            if not state:
                state.update(initial_state(p, Chunking(p.numel(), group["block_size"], group["density"]),
                                           group["window"], group["quant_block_size"]))
        held = self._flat.get(id(group))
        if held is None or held[0] is not group or not held[1].holds(states):
            entries = self.bucket_entries or BUCKET_ENTRIES.get(params[0].device.type, BUCKET_ENTRIES["cpu"])
            held = self._flat[id(group)] = (group, FlatGroup(group, states, entries))
        for state in states:
            state["step"] += 1
        held[1].scratch.allocate()
        try:
            for bucket in held[1].buckets:
                bucket.step(group, states[0]["step"])
        finally:
            held[1].scratch.free()


class FlatGroup:
    """A group's tensors in buckets, and the scratch buffers they share."""

    def __init__(self, group: dict, states: list[dict], bucket_entries: int):
        params, block = group["params"], group["block_size"]
        sizes = [math.ceil(p.numel() / block) * block for p in params]  # in scratch: whole top-k blocks
        members, total = [[]], 0
        for i, size in enumerate(sizes):
            if members[-1] and total + size > bucket_entries:
                members.append([])
                total = 0
            members[-1].append(i)
            total += size
        largest = max(sum(sizes[i] for i in bucket) for bucket in members)
        self.scratch = Scratch(largest, params[0])
        self.buckets = [Bucket(group, [params[i] for i in bucket], [states[i] for i in bucket], self.scratch)
                        for bucket in members]

    def holds(self, states: list[dict]) -> bool:
        return holds_views(states, [views for bucket in self.buckets for views in bucket.views], STATE_KEYS)


class Scratch:
    """The buffers a bucket's step works in. The window's statistics (fp32) take the memory of the
    scores and of the accumulator, which no longer hold anything then, where those are fp32 too.
    Their memory is held only during a step: free() resizes their storage to nothing and allocate()
    back (as FSDP does with its flat parameters), so the views the buckets took of them stay valid."""

    def __init__(self, entries: int, like: torch.Tensor):
        def buffer(dtype):
            return torch.empty(entries, dtype=dtype, device=like.device)

        self.accumulator, self.scores = buffer(like.dtype), buffer(like.dtype)
        self.codes = torch.empty(entries // 2, dtype=torch.uint8, device=like.device)
        if like.dtype == torch.float32:
            self.first, self.second = self.scores, self.accumulator
        else:
            self.first, self.second = buffer(torch.float32), buffer(torch.float32)
        storages = [t.untyped_storage() for t in (self.accumulator, self.scores, self.codes, self.first, self.second)]
        self._sizes = list({storage.data_ptr(): (storage, storage.nbytes()) for storage in storages}.values())

    def allocate(self) -> None:
        for storage, nbytes in self._sizes:
            storage.resize_(nbytes)

    def free(self) -> None:
        for storage, _ in self._sizes:
            storage.resize_(0)


class Bucket:
    """Some of a group's tensors: their state in flat buffers, and the maps between the layouts."""

    def __init__(self, group: dict, params: list, states: list[dict], scratch: Scratch):
        block, quant_block, density = group["block_size"], group["quant_block_size"], group["density"]
        device = params[0].device
        self.params, self.block = params, block
        self.unit = math.gcd(block, quant_block)
        numels = [p.numel() for p in params]
        chunkings = [Chunking(n, block, density) for n in numels]
        rows_per_tensor = [math.ceil(n / block) for n in numels]
        starts = [sum(rows_per_tensor[:i]) * block for i in range(len(params))]
        entries = sum(rows_per_tensor) * block

        # the state, every tensor's state holding views of it
        counts = [c.selected for c in chunkings]
        self.window = {key: torch.cat([state[key] for state in states], dim=1) for key in ("indices", "values")}
        self.error = {key: torch.cat([state[key] for state in states]) for key in ("error", "error_min", "error_max")}
        for i, state in enumerate(states):
            column = sum(counts[:i])
            for key, buffer in self.window.items():
                state[key] = buffer[:, column:column + counts[i]]
        for key, buffer in self.error.items():
            for state, view in zip(states, buffer.split([state[key].numel() for state in states])):
                state[key] = view
        self.views = [[state[key] for key in STATE_KEYS] for state in states]
        self.error_views = [state["error"] for state in states]

        # the scratch layout: tensor i from starts[i], in rows of the unit, padded to whole top-k blocks
        self.accumulator = scratch.accumulator[:entries]
        self.accumulator_views = [self.accumulator[s:s + n].view(p.shape) for s, n, p in zip(starts, numels, params)]
        self.scores = scratch.scores[:entries].view(-1, block)
        self.first, self.second = scratch.first[:entries], scratch.second[:entries]
        self.codes = scratch.codes[:entries // 2]
        self.code_views = [self.codes[s // 2:s // 2 + math.ceil(n / 2)] for s, n in zip(starts, numels)]
        blocks = [math.ceil(n / quant_block) for n in numels]
        self.quant_blocks = sum(blocks)
        block_of_row = []  # a row of padding alone counts in an extra block, left out
        for n, rows, first in zip(numels, rows_per_tensor, (sum(blocks[:i]) for i in range(len(blocks)))):
            offsets = torch.arange(0, rows * block, self.unit, device=device)
            block_of_row.append(torch.where(offsets < n, offsets // quant_block + first, self.quant_blocks))
        self.block_of_row = Runs(torch.cat(block_of_row))
        # a tensor's last row, where it ends inside one: its padding takes the row's first entry
        self.partial_rows = torch.tensor([(s + n) // self.unit for s, n in zip(starts, numels) if n % self.unit],
                                         dtype=torch.int64, device=device)
        self.row_padding = torch.arange(self.unit, device=device)[None, :] >= torch.tensor(
            [n % self.unit for n in numels if n % self.unit], dtype=torch.int64, device=device)[:, None]
        # the reference writes a code of 0 after a tensor of odd length
        self.odd_ends = torch.tensor([s + n for s, n in zip(starts, numels) if n % 2], dtype=torch.int64,
                                     device=device)

        # the top-k: per block (row of self.scores) its length and k; per selected entry its block's start
        lengths, ks = [], []
        for c in chunkings:
            lengths += [c.chunk_size] * c.full_chunks + ([c.tail] if c.tail else [])
            ks += [c.k_per_chunk] * c.full_chunks + ([c.k_tail] if c.tail else [])
        self.k = max(ks)
        ks_tensor = torch.tensor(ks, dtype=torch.int64, device=device)
        self.first_k = torch.arange(self.k, device=device)[None, :] < ks_tensor[:, None]
        short = [r for r, (length, k) in enumerate(zip(lengths, ks)) if length < block or k < self.k]
        self.short_rows = torch.tensor(short, dtype=torch.int64, device=device)
        self.short_kept = self.first_k[self.short_rows]
        self.short_lengths = torch.tensor([lengths[r] for r in short], dtype=torch.int64, device=device)
        # the selected entries in the (rows x k) sorted top-k, flattened: runs [start, stop) of host
        # ints (one per short row, about), so that selecting them needs no mask of data-dependent size
        self.kept_runs: list[list[int]] = []
        for row, k in enumerate(ks):
            if self.kept_runs and self.kept_runs[-1][1] == row * self.k:
                self.kept_runs[-1][1] += k
            else:
                self.kept_runs.append([row * self.k, row * self.k + k])
        self.block_start = Runs(torch.arange(len(ks), device=device).mul_(block).repeat_interleave(ks_tensor))

    def step(self, group: dict, t: int) -> None:
        accumulator = self.accumulator
        rows = accumulator.view(-1, self.unit)
        block_of_row, block_start = self.block_of_row.expanded(), self.block_start.expanded()
        low, unit = self._row_low_and_unit(block_of_row)
        codes = self._unpacked_codes().view(rows.shape)
        if rows.dtype == torch.float32:  # the dequantised error written where the sum goes: one pass less
            torch.mul(codes, unit[:, None], out=rows).add_(low[:, None])
        else:  # rounded to the parameters' dtype before the addition, as the reference does
            rows.copy_(codes.float().mul_(unit[:, None]).add_(low[:, None]))
        torch._foreach_add_(self.accumulator_views, [p.grad for p in self.params])

        local = self._select()
        position = local + block_start
        ring_row = (t - 1) % group["window"]
        self.window["indices"][ring_row].copy_(local)
        self.window["values"][ring_row].copy_(accumulator[position])
        accumulator.index_fill_(0, position, 0)
        self._quantize(rows, block_of_row)

        update_at, update = self._window_update(group, t, block_start)
        accumulator.zero_().index_put_((update_at,), update.to(accumulator.dtype))
        if group["weight_decay"]:
            torch._foreach_mul_(self.params, 1 - group["lr"] * group["weight_decay"])
        torch._foreach_add_(self.params, self.accumulator_views, alpha=-group["lr"])

    def _unpacked_codes(self) -> torch.Tensor:
        """The error feedback's 4-bit codes, one byte each, in the scratch layout."""
        torch._foreach_copy_(self.code_views, self.error_views)
        codes = torch.empty(self.accumulator.numel(), dtype=torch.uint8, device=self.codes.device)
        torch.bitwise_right_shift(self.codes, 4, out=codes[0::2])
        torch.bitwise_and(self.codes, 0x0F, out=codes[1::2])
        return codes

    def _row_low_and_unit(self, block_of_row: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row of the unit, its quantisation block's min and step, in fp32 (0 for padding alone)."""
        zero = torch.zeros(1, device=block_of_row.device)
        low = torch.cat([self.error["error_min"].float(), zero])
        high = torch.cat([self.error["error_max"].float(), zero])
        return low[block_of_row], ((high - low) / QUANT_LEVELS)[block_of_row]

    def _select(self) -> torch.Tensor:
        """The block-local indices of every block's k largest |a|, block after block, sorted in each."""
        scores = torch.abs(self.accumulator.view(self.scores.shape), out=self.scores)
        if self.short_rows.numel():
            padding = torch.arange(self.block, device=scores.device)[None, :] >= self.short_lengths[:, None]
            scores[self.short_rows] = scores[self.short_rows].masked_fill_(padding, -1)
        values, local = scores.topk(self.k, dim=1, sorted=False)
        if self.short_rows.numel():
            ranked = values[self.short_rows].argsort(dim=1, descending=True)
            dropped = torch.zeros_like(self.short_kept).scatter_(1, ranked, ~self.short_kept)
            local[self.short_rows] = local[self.short_rows].masked_fill_(dropped, self.block)
        ranked = local.sort(dim=1).values.flatten()
        return torch.cat([ranked[start:stop] for start, stop in self.kept_runs])

    def _quantize(self, rows: torch.Tensor, block_of_row: torch.Tensor) -> None:
        """The accumulator as 4-bit codes with a bf16 min and max per block, into the state; in
        fp32 the accumulator is overwritten."""
        if self.partial_rows.numel():
            partial = rows[self.partial_rows]
            rows[self.partial_rows] = torch.where(self.row_padding, partial[:, :1], partial)
        for key, reduce, extreme in (("error_min", "amin", rows.amin(dim=1)), ("error_max", "amax", rows.amax(dim=1))):
            per_block = torch.empty(self.quant_blocks + 1, dtype=rows.dtype, device=rows.device)
            per_block.scatter_reduce_(0, block_of_row, extreme, reduce, include_self=False)
            self.error[key].copy_(per_block[:-1])
        low, unit = self._row_low_and_unit(block_of_row)
        divisor = torch.where(unit > 0, unit, 1.0)
        codes = rows.float().sub_(low[:, None]).div_(divisor[:, None]).add_(0.5).floor_().clamp_(0, QUANT_LEVELS)
        codes = codes.to(torch.uint8).view(-1)
        codes.index_fill_(0, self.odd_ends, 0)
        torch.bitwise_or(codes[0::2].bitwise_left_shift(4), codes[1::2], out=self.codes)
        torch._foreach_copy_(self.error_views, self.code_views)

    def _window_update(self, group: dict, t: int, block_start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The entries the window holds (scratch positions, repeated where several of its rows hold
        one) and Adam's update there; the update is zero everywhere else."""
        beta1, beta2 = group["betas"]
        window = group["window"]
        rows = min(t, window)
        device = self.first.device
        ages = torch.tensor([(t - 1 - r) % window for r in range(rows)], dtype=torch.float32, device=device)[:, None]
        values = self.window["values"][:rows].float()
        position = (self.window["indices"][:rows].long() + block_start).view(-1)
        # scatter_add_ and index_select: about half the time of index_add_ and indexing on CPU
        first = self.first.index_fill_(0, position, 0).scatter_add_(0, position, (values * beta1**ages).view(-1))
        second = self.second.index_fill_(0, position, 0).scatter_add_(0, position,
                                                                      (values.square() * beta2**ages).view(-1))
        c1 = (1 - beta1) / (1 - beta1**t)
        c2 = (1 - beta2) / (1 - beta2**t)
        update = first.index_select(0, position).mul_(c1)
        return position, update.div_(second.index_select(0, position).mul_(c2).sqrt_().add_(group["eps"]))


class Runs:
    """An int64 map held as its runs of equal values (one per block, and one per tensor's padding),
    expanded for a step: the map from rows to quantisation blocks and that from selected entries to
    their block's start would otherwise keep 8 bytes a row and 8 a selected entry between steps."""

    def __init__(self, values: torch.Tensor):
        # clones: unique_consecutive's results keep storage as large as its input
        self.values, self.counts = (t.clone() for t in torch.unique_consecutive(values, return_counts=True))
        self.size = values.numel()

    def expanded(self) -> torch.Tensor:
        return torch.repeat_interleave(self.values, self.counts, output_size=self.size)
