"""NanoAdam (Zhou et al., "Pay Attention to Small Weights", arXiv 2506.21374, Algorithm 1).

Adam applied only to a small fraction of each masked weight tensor: by default the k smallest |w|
of each chunk of the flattened tensor. The mask depends on the weights alone, so it could be taken
before the backward pass; it is refreshed every `mask_interval` steps and whenever the density
schedule changes k. Chunks follow the tensor's logical (row-major) order, so a channels-last kernel
is masked like its contiguous copy and a checkpoint's indices mean the same weights in any memory
format. Adam moments exist only for the selected entries: m in `state_dtype` (bf16, as in the
paper), v in `v_dtype` and chunk-local int16 indices: 8 bytes per selected weight by default, 6 with
v in bf16 as in the paper.

Choices the paper leaves open, with the defaults used here:
- `on_mask_change="reset"`: new mask, zero moments and a restarted bias-correction count.
  "keep" carries the moments of entries that stay selected; new entries start at zero moments and
  age 0, and each entry's bias correction counts its own age (2 more bytes per selected weight), so
  a newly selected entry's first step is lr, as fresh Adam's is.
- `bias_correction=True` (the algorithm box shows none; set False for the literal box).
- weight decay is decoupled (AdamW-style) and applies to the selected entries only.
- moments are updated in fp32 and stored in `state_dtype` (m) and `v_dtype` (v). v defaults to fp32:
  in bf16, 0.999 v rounds back to v (8 bits of mantissa), so v cannot decay and the steps shrink
  once gradients do (tests/test_nanoadam.py measures it).

Parameter groups with `masked=False` (heads, normalisation layers, biases; see
`clbench.optim.param_groups`) are trained with dense AdamW.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from clbench.optim.chunks import Chunking, gather, scatter_add_
from clbench.optim.state import CompactStateMixin
from clbench.optim.common import (check_adam_arguments, check_dense_gradient, check_density, check_lr,
                                  check_positive_int, check_trainable, closure_loss)

CRITERIA = ("small", "large", "random", "large_gradient")
SCHEDULES = ("constant", "linear", "cosine")
ON_MASK_CHANGE = ("reset", "keep")
MAX_AGE = 2**15 - 1  # "keep" counts each entry's steps in int16; bias correction is 1 long before


def scheduled_density(group: dict, step: int) -> float:
    """Density after `step` steps: the schedule from `density` to `density_end` over `total_steps`,
    evaluated at the last multiple of `density_interval`."""
    start, end, kind = group["density"], group["density_end"], group["density_schedule"]
    if kind == "constant" or start == end:
        return start
    interval = group["density_interval"]
    progress = min(1.0, (step // interval) * interval / group["total_steps"])
    if kind == "linear":
        return start + (end - start) * progress
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * progress))


def mask_chunking(p: torch.Tensor, group: dict, state: dict) -> Chunking:
    """The chunking of p's current mask (its density is that of the last refresh)."""
    return Chunking(p.numel(), group["chunk_size"], state["density"])


class NanoAdamReference(CompactStateMixin, Optimizer):
    """NanoAdam one tensor at a time: the readable reference that clbench.optim.NanoAdam, the fast
    implementation with the same arguments and state, is tested against."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        density: float = 0.01,
        mask_interval: int = 100,
        chunk_size: int = 2**15,
        criterion: str = "small",
        density_schedule: str = "constant",
        density_end: float | None = None,
        density_interval: int = 1,
        total_steps: int | None = None,
        on_mask_change: str = "reset",
        bias_correction: bool = True,
        state_dtype: torch.dtype = torch.bfloat16,
        v_dtype: torch.dtype = torch.float32,
        seed: int = 0,
        masked: bool = True,
    ):
        density_end = density if density_end is None else density_end
        check_lr(lr)
        check_density("density", density)
        check_density("density_end", density_end)
        check_positive_int("mask_interval", mask_interval)
        check_positive_int("density_interval", density_interval)
        if not (isinstance(chunk_size, int) and chunk_size >= 0):
            raise ValueError(f"chunk_size must be a non-negative integer (0: whole tensor), got chunk_size={chunk_size}")
        choices = (("criterion", criterion, CRITERIA), ("density_schedule", density_schedule, SCHEDULES),
                   ("on_mask_change", on_mask_change, ON_MASK_CHANGE))
        for name, value, allowed in choices:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {name}={value!r}")
        if density_schedule != "constant" and density_end != density:
            if total_steps is None or total_steps < 1:
                raise ValueError(f"density_schedule={density_schedule!r} needs total_steps >= 1, "
                                 f"got total_steps={total_steps}")
        check_adam_arguments(betas, eps, weight_decay)
        for name, dtype in (("state_dtype", state_dtype), ("v_dtype", v_dtype)):
            if not dtype.is_floating_point:
                raise ValueError(f"{name} must be a floating-point dtype, got {name}={dtype}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, density=density,
                        density_end=density_end, density_schedule=density_schedule,
                        density_interval=density_interval, total_steps=total_steps, mask_interval=mask_interval,
                        chunk_size=chunk_size, criterion=criterion, on_mask_change=on_mask_change,
                        bias_correction=bias_correction, state_dtype=state_dtype, v_dtype=v_dtype, seed=seed,
                        masked=masked)
        super().__init__(params, defaults)
        check_trainable(self.param_groups)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        position = 0  # of the tensor in the optimizer, from 1: random masks depend on it
        for group in self.param_groups:
            self._step_group(group, position)
            position += len(group["params"])
        return loss

    def _step_group(self, group: dict, position: int) -> None:
        for p_position, p in enumerate(group["params"], start=position + 1):
            if p.grad is None:
                continue
            check_dense_gradient("NanoAdam", p)
            if group["masked"]:
                self._refresh_if_due(p, group, p_position)
                self._masked_update(p, group)
            else:
                self._dense_step(p, group)

    def mask_refreshes(self) -> int:
        """How many masks this optimizer has drawn: the most over its masked tensors (they refresh
        together, unless a tensor had no gradient at some step)."""
        return max((state.get("mask_refreshes", 0) for state in self.state.values()), default=0)

    def mask_index(self, p: torch.Tensor) -> torch.Tensor:
        """Flat indices (in p's logical order) of the entries p's current mask selects."""
        group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
        return mask_chunking(p, group, self.state[p]).global_index(self.state[p]["index"])

    def _refresh_if_due(self, p: torch.Tensor, group: dict, position: int) -> None:
        """Draw p's mask every mask_interval steps and whenever the density schedule changes k; count the step."""
        state = self.state[p]
        steps_done = state.get("total_steps", 0)
        chunking = Chunking(p.numel(), group["chunk_size"], scheduled_density(group, steps_done))
        k_changed = "index" in state and state["index"].numel() != chunking.selected
        if steps_done % group["mask_interval"] == 0 or k_changed:
            self._refresh_mask(p, state, group, chunking, position)
        state["total_steps"] = steps_done + 1

    def _masked_update(self, p: torch.Tensor, group: dict) -> None:
        """Adam on the entries p's current mask selects."""
        state = self.state[p]
        index = mask_chunking(p, group, state).global_index(state["index"])
        grad = gather(p.grad, index).float()
        exp_avg, exp_avg_sq = state["exp_avg"].float(), state["exp_avg_sq"].float()
        if group["on_mask_change"] == "keep":
            step = state["age"].clamp_(max=MAX_AGE - 1).add_(1).float()
        else:
            state["step"] += 1
            step = state["step"]
        update = adam_direction(exp_avg, exp_avg_sq, grad, group, step)
        state["exp_avg"].copy_(exp_avg)
        state["exp_avg_sq"].copy_(exp_avg_sq)
        if group["weight_decay"]:
            update.add_(gather(p, index), alpha=group["weight_decay"])
        scatter_add_(p, index, update.to(p.dtype), alpha=-group["lr"])

    def _refresh_mask(self, p: torch.Tensor, state: dict, group: dict, chunking: Chunking, position: int) -> None:
        refreshes = state.get("mask_refreshes", 0)
        local = chunking.select(*self._scores(p, group, position, refreshes))
        moments = {"exp_avg": torch.zeros(chunking.selected, dtype=group["state_dtype"], device=p.device),
                   "exp_avg_sq": torch.zeros(chunking.selected, dtype=group["v_dtype"], device=p.device)}
        if group["on_mask_change"] == "keep":
            moments["age"] = torch.zeros(chunking.selected, dtype=torch.int16, device=p.device)
            if "index" in state:
                old = mask_chunking(p, group, state).global_index(state["index"])
                new = chunking.global_index(local)
                at = torch.searchsorted(old, new).clamp_(max=old.numel() - 1)
                stays = old[at] == new
                for key, values in moments.items():
                    values[stays] = state[key][at[stays]]
        else:
            state["step"] = 0
        state.update(index=local, density=chunking.density, mask_refreshes=refreshes + 1, **moments)

    def _scores(self, p: torch.Tensor, group: dict, position: int, refreshes: int) -> tuple[torch.Tensor, bool]:
        """(scores, largest): the mask is the top or bottom k of `scores` per chunk."""
        criterion = group["criterion"]
        if criterion == "large_gradient":
            return p.grad.reshape(-1).abs(), True
        if criterion == "random":
            generator = torch.Generator(device=p.device)
            generator.manual_seed(hash((group["seed"], position, refreshes)) % 2**63)
            return torch.rand(p.numel(), generator=generator, device=p.device), True
        return p.detach().reshape(-1).abs(), criterion == "large"

    def _dense_step(self, p: torch.Tensor, group: dict) -> None:
        state = self.state[p]
        if not state:
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(state["exp_avg"])
            state["step"] = 0
        state["step"] += 1
        update = adam_direction(state["exp_avg"], state["exp_avg_sq"], p.grad, group, state["step"])
        if group["weight_decay"]:
            update.add_(p, alpha=group["weight_decay"])
        p.add_(update, alpha=-group["lr"])


def adam_direction(exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, grad: torch.Tensor, group: dict,
                   step: int | torch.Tensor) -> torch.Tensor:
    """Update the moments in place with `grad`; return m_hat / (sqrt(v_hat) + eps), bias-corrected
    for `step` steps (a number, or one per entry)."""
    beta1, beta2 = group["betas"]
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    if group["bias_correction"]:
        denom = (exp_avg_sq / (1 - beta2**step)).sqrt_().add_(group["eps"])
        return exp_avg / (1 - beta1**step) / denom
    return exp_avg / exp_avg_sq.sqrt().add_(group["eps"])
