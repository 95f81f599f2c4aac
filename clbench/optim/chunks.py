"""Top-k selection per chunk of a flattened tensor, with compact chunk-local indices.

Shared by NanoAdam (bottom-k of |w| per chunk) and MicroAdam (top-k of |gradient| per block). A
tensor of n entries is cut into chunks of `chunk_size`, the last one shorter; each chunk keeps
ceil(density * its length) entries. Indices are stored relative to their chunk, so a chunk size of
at most 2**15 needs only int16 (2 bytes per selected entry instead of int64's 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def index_dtype(chunk_size: int) -> torch.dtype:
    if chunk_size <= 2**15:
        return torch.int16
    return torch.int32 if chunk_size <= 2**31 else torch.int64


@dataclass(frozen=True)
class Chunking:
    numel: int
    chunk_size: int  # clipped to numel; 0 means one chunk for the whole tensor
    density: float

    def __post_init__(self):
        size = self.numel if self.chunk_size <= 0 else min(self.chunk_size, self.numel)
        object.__setattr__(self, "chunk_size", max(1, size))

    @property
    def full_chunks(self) -> int:
        return self.numel // self.chunk_size

    @property
    def tail(self) -> int:
        return self.numel - self.full_chunks * self.chunk_size

    @property
    def k_per_chunk(self) -> int:
        return math.ceil(self.density * self.chunk_size)

    @property
    def k_tail(self) -> int:
        return math.ceil(self.density * self.tail)

    @property
    def selected(self) -> int:
        return self.full_chunks * self.k_per_chunk + self.k_tail

    @property
    def index_dtype(self) -> torch.dtype:
        return index_dtype(self.chunk_size)

    def select(self, scores: torch.Tensor, largest: bool) -> torch.Tensor:
        """Chunk-local indices (sorted within each chunk) of the k largest or smallest `scores`."""
        split = self.full_chunks * self.chunk_size
        parts = []
        if self.full_chunks:
            rows = scores[:split].view(self.full_chunks, self.chunk_size)
            parts.append(_topk_sorted(rows, self.k_per_chunk, largest).reshape(-1))
        if self.tail:
            parts.append(_topk_sorted(scores[split:].view(1, -1), self.k_tail, largest).reshape(-1))
        return torch.cat(parts).to(self.index_dtype)

    def global_index(self, local: torch.Tensor) -> torch.Tensor:
        """Flat int64 indices into the tensor for chunk-local indices from `select`."""
        local = local.long()
        split = self.full_chunks * self.k_per_chunk
        offsets = torch.arange(self.full_chunks, device=local.device).mul_(self.chunk_size)
        head = local[:split].view(self.full_chunks, self.k_per_chunk).add(offsets[:, None]).reshape(-1)
        return torch.cat([head, local[split:] + self.full_chunks * self.chunk_size])


def _topk_sorted(rows: torch.Tensor, k: int, largest: bool) -> torch.Tensor:
    return torch.topk(rows, k, dim=1, largest=largest, sorted=False).indices.sort(dim=1).values


def gather(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The entries of `tensor` at flat `index` in its logical (row-major) order, whatever its memory
    format: a channels-last kernel gives the same entries as its contiguous copy."""
    if tensor.is_contiguous():
        return tensor.view(-1).index_select(0, index)
    return tensor[torch.unravel_index(index, tensor.shape)]


def scatter_add_(tensor: torch.Tensor, index: torch.Tensor, values: torch.Tensor, alpha: float) -> None:
    """tensor[index] += alpha * values in place, `index` flat in logical order as for gather()."""
    if tensor.is_contiguous():
        tensor.view(-1).index_add_(0, index, values, alpha=alpha)
    else:
        tensor.index_put_(torch.unravel_index(index, tensor.shape), values.mul(alpha), accumulate=True)


def flat_view(tensor: torch.Tensor) -> torch.Tensor:
    """A 1-D view sharing memory with `tensor`, in its memory order (channels-last included)."""
    if tensor.is_contiguous():
        return tensor.view(-1)
    if tensor.dim() == 4 and tensor.is_contiguous(memory_format=torch.channels_last):
        return tensor.permute(0, 2, 3, 1).view(-1)
    raise ValueError(f"a parameter of shape {tuple(tensor.shape)} is not contiguous; call .contiguous() on it")


def flat_like(tensor: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """`tensor` (e.g. a gradient) flattened in the same order as flat_view(param)."""
    if param.dim() == 4 and not param.is_contiguous() and param.is_contiguous(memory_format=torch.channels_last):
        return tensor.permute(0, 2, 3, 1).reshape(-1)
    return tensor.reshape(-1)
