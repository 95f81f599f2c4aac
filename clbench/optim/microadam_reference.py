"""MicroAdam (Modoranu et al., arXiv 2405.15593) in plain PyTorch, for CPU and GPU, fp32 and bf16.

A re-statement of the official CUDA implementation (package ista-daslab-optimizers, micro_adam.py
and its kernels), step for step, for every parameter:
1. a = gradient + dequantised error feedback
2. top-k of |a| per block of `block_size` entries (k = ceil(density * block)), chunk-local int16
   indices and bf16 values written into row (t - 1) mod m of a ring buffer of m rows
3. a[top-k] = 0; the rest is the new error feedback, quantised to 4 bits (two per byte) with a
   bf16 min and max per block of `quant_block_size`: q = floor((a - min) / u + 1/2), u = (max - min) / 15
4. Adam statistics from the window: m = sum_i beta1^age_i g_i, v = sum_i beta2^age_i g_i^2 over the
   min(t, m) rows, update = c1 m / (sqrt(c2 v) + eps) with c_j = (1 - beta_j) / (1 - beta_j^t)
5. decoupled weight decay: p = p (1 - lr wd) - lr update
The gradient is left untouched (the official code overwrites it). State: m*k*(2 + 2) bytes for the
window, ceil(n/2) bytes of error codes and 4 bytes per quantisation block, about 0.5n + 4mkn.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from clbench.optim.chunks import Chunking
from clbench.optim.state import CompactStateMixin
from clbench.optim.common import (check_adam_arguments, check_dense_gradient, check_density, check_lr,
                                  check_positive_int, check_trainable, closure_loss)

QUANT_LEVELS = 15  # 4 bits


class MicroAdamReference(CompactStateMixin, Optimizer):
    """MicroAdam one tensor at a time: the readable reference that clbench.optim.MicroAdam, the fast
    implementation with the same arguments and state, is tested against."""

    def __init__(
        self,
        params,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        density: float = 0.01,
        window: int = 10,
        block_size: int = 2**15,
        quant_block_size: int = 100_000,
    ):
        check_lr(lr)
        check_density("density", density)
        check_positive_int("window", window)
        check_positive_int("block_size", block_size)
        if block_size > 2**15:
            raise ValueError(f"block_size must be at most 32768 for int16 indices, got block_size={block_size}")
        check_positive_int("quant_block_size", quant_block_size)
        if quant_block_size % 2:
            raise ValueError("quant_block_size must be even (two 4-bit codes per byte), "
                             f"got quant_block_size={quant_block_size}")
        check_adam_arguments(betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, density=density, window=window,
                        block_size=block_size, quant_block_size=quant_block_size)
        super().__init__(params, defaults)
        check_trainable(self.param_groups)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict) -> None:
        for p in group["params"]:
            if p.grad is not None:
                check_dense_gradient("MicroAdam", p)
                self._step(p, group)

    def _step(self, p: torch.Tensor, group: dict) -> None:
        chunking = Chunking(p.numel(), group["block_size"], group["density"])
        window, quant_block = group["window"], group["quant_block_size"]
        state = self.state[p]
        if not state:
            state.update(initial_state(p, chunking, window, quant_block))
        state["step"] += 1
        t = state["step"]
        row = (t - 1) % window

        accumulator = p.grad.reshape(-1).clone()  # logical order: blocks do not depend on the memory format
        dequantize_add_(accumulator, state["error"], state["error_min"], state["error_max"], quant_block)
        local = chunking.select(accumulator.abs(), largest=True)
        chosen = chunking.global_index(local)
        state["indices"][row] = local
        state["values"][row] = accumulator[chosen].to(torch.bfloat16)
        accumulator[chosen] = 0
        state["error"], state["error_min"], state["error_max"] = quantize(accumulator, quant_block)

        update = self._window_update(state, chunking, group, p.numel(), t)
        if group["weight_decay"]:
            p.mul_(1 - group["lr"] * group["weight_decay"])
        p.add_(update.view(p.shape).to(p.dtype), alpha=-group["lr"])

    @staticmethod
    def _window_update(state: dict, chunking: Chunking, group: dict, numel: int, t: int) -> torch.Tensor:
        beta1, beta2 = group["betas"]
        window = group["window"]
        rows = min(t, window)
        device = state["values"].device
        ages = torch.tensor([(t - 1 - r) % window for r in range(rows)], dtype=torch.float32, device=device)[:, None]
        values = state["values"][:rows].float()
        index = torch.cat([chunking.global_index(state["indices"][r]) for r in range(rows)])
        first = torch.zeros(numel, device=device).index_add_(0, index, (values * beta1**ages).view(-1))
        second = torch.zeros(numel, device=device).index_add_(0, index, (values.square() * beta2**ages).view(-1))
        c1 = (1 - beta1) / (1 - beta1**t)
        c2 = (1 - beta2) / (1 - beta2**t)
        return first.mul_(c1).div_(second.mul_(c2).sqrt_().add_(group["eps"]))


def initial_state(p: torch.Tensor, chunking: Chunking, window: int, quant_block: int) -> dict:
    """A tensor's state before its first step: an empty window, zero error feedback."""
    blocks = math.ceil(p.numel() / quant_block)
    return dict(
        step=0,
        indices=torch.zeros(window, chunking.selected, dtype=torch.int16, device=p.device),
        values=torch.zeros(window, chunking.selected, dtype=torch.bfloat16, device=p.device),
        error=torch.zeros(math.ceil(p.numel() / 2), dtype=torch.uint8, device=p.device),
        error_min=torch.zeros(blocks, dtype=torch.bfloat16, device=p.device),
        error_max=torch.zeros(blocks, dtype=torch.bfloat16, device=p.device),
    )


def quantize(values: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """4-bit codes (two per byte, the even entry in the high nibble) with a bf16 min and max per block."""
    n = values.numel()
    parts = _blocks(values, block)
    low = torch.cat([part.amin(dim=1) for part in parts]).to(torch.bfloat16)
    high = torch.cat([part.amax(dim=1) for part in parts]).to(torch.bfloat16)
    unit = (high.float() - low.float()) / QUANT_LEVELS
    divisor = torch.where(unit > 0, unit, 1.0)
    codes = torch.zeros(n + n % 2, dtype=torch.uint8, device=values.device)
    for part, out, low_part, divisor_part in zip(parts, _blocks(codes[:n], block), *_per_row(parts, low, divisor)):
        scaled = part.float() - low_part.float()
        out.copy_(scaled.div_(divisor_part).add_(0.5).floor_().clamp_(0, QUANT_LEVELS))
    return codes[0::2].bitwise_left_shift(4).bitwise_or_(codes[1::2]), low, high


def dequantize_add_(target: torch.Tensor, codes: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
                    block: int) -> None:
    """target += min + code * (max - min) / 15, block by block, for codes written by `quantize`;
    the dequantised value is rounded to target's dtype before the addition, as in the CUDA kernel."""
    n = target.numel()
    unpacked = torch.empty(codes.numel() * 2, dtype=torch.uint8, device=codes.device)
    torch.bitwise_right_shift(codes, 4, out=unpacked[0::2])
    torch.bitwise_and(codes, 0x0F, out=unpacked[1::2])
    unit = (high.float() - low.float()) / QUANT_LEVELS
    parts = _blocks(target, block)
    for part, code, low_part, unit_part in zip(parts, _blocks(unpacked[:n], block), *_per_row(parts, low, unit)):
        part.add_(code.float().mul_(unit_part).add_(low_part.float()).to(part.dtype))


def _blocks(values: torch.Tensor, block: int) -> list[torch.Tensor]:
    """Views of 1-D `values` as rows: [full blocks, block] and, if any entries are left, [1, rest]."""
    full = values.numel() // block
    parts = [values[:full * block].view(full, block), values[full * block:].view(1, -1)]
    return [part for part in parts if part.numel()]


def _per_row(parts: list[torch.Tensor], *per_block: torch.Tensor) -> list[list[torch.Tensor]]:
    """Each per-block vector split to match `parts`, as [rows, 1] columns that broadcast over a row."""
    rows = [part.shape[0] for part in parts]
    return [[piece[:, None] for piece in vector.split(rows)] for vector in per_block]
