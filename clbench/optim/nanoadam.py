"""NanoAdam (Zhou et al., "Pay Attention to Small Weights", arXiv 2506.21374), first version.

Adam applied only to the k smallest-magnitude entries of each masked weight tensor. The mask is
chosen from the weights alone (no gradients), refreshed every `mask_interval` steps. Adam moments
are stored only for the selected entries (values plus flat indices), so the state of a masked
tensor is about `density` times that of dense Adam. When the mask is refreshed the moments and
the bias-correction step count restart from zero.

Parameter groups with `masked=False` (classification heads, normalisation layers, biases by
default) are trained with dense AdamW.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


class NanoAdam(Optimizer):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        density: float = 0.01,
        mask_interval: int = 100,
        bias_correction: bool = True,
        masked: bool = True,
    ):
        if not lr >= 0:
            raise ValueError(f"lr must be non-negative, got lr={lr}")
        if not 0 < density <= 1:
            raise ValueError(f"density must be in (0, 1], got density={density}")
        if not (isinstance(mask_interval, int) and mask_interval >= 1):
            raise ValueError(f"mask_interval must be a positive integer, got mask_interval={mask_interval}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must be in [0, 1), got betas={betas}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be non-negative, got weight_decay={weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, density=density,
                        mask_interval=mask_interval, bias_correction=bias_correction, masked=masked)
        super().__init__(params, defaults)
        for group in self.param_groups:
            if not any(p.requires_grad for p in group["params"]):
                raise ValueError("a parameter group has no trainable parameters; drop it or unfreeze them")

    @staticmethod
    def select(weight: torch.Tensor, density: float) -> torch.Tensor:
        """Flat indices of the k = ceil(density * numel) smallest |w|, sorted."""
        flat = weight.detach().reshape(-1)
        k = max(1, math.ceil(density * flat.numel()))
        return torch.topk(flat.abs(), k, largest=False, sorted=False).indices.sort().values

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if group["masked"]:
                    self._masked_step(p, group)
                else:
                    self._dense_step(p, group)
        return loss

    def _masked_step(self, p: torch.Tensor, group: dict) -> None:
        state = self.state[p]
        total = state.get("total_steps", 0)
        if total % group["mask_interval"] == 0:
            index = self.select(p, group["density"])
            state["index"] = index
            state["exp_avg"] = torch.zeros(index.numel(), dtype=p.dtype, device=p.device)
            state["exp_avg_sq"] = torch.zeros_like(state["exp_avg"])
            state["step"] = 0
        state["total_steps"] = total + 1
        index = state["index"]
        flat = p.view(-1)
        grad = p.grad.reshape(-1).index_select(0, index)
        update = self._adam_direction(state, grad, group)
        if group["weight_decay"]:
            update.add_(flat.index_select(0, index), alpha=group["weight_decay"])
        flat.index_add_(0, index, update, alpha=-group["lr"])

    def _dense_step(self, p: torch.Tensor, group: dict) -> None:
        state = self.state[p]
        if not state:
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] = 0
        update = self._adam_direction(state, p.grad, group)
        if group["weight_decay"]:
            update.add_(p, alpha=group["weight_decay"])
        p.add_(update, alpha=-group["lr"])

    @staticmethod
    def _adam_direction(state: dict, grad: torch.Tensor, group: dict) -> torch.Tensor:
        """Update the moments in `state` with `grad`; return m_hat / (sqrt(v_hat) + eps)."""
        beta1, beta2 = group["betas"]
        state["step"] += 1
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        if group["bias_correction"]:
            step = state["step"]
            denom = (exp_avg_sq / (1 - beta2**step)).sqrt_().add_(group["eps"])
            return exp_avg / (1 - beta1**step) / denom
        return exp_avg / exp_avg_sq.sqrt().add_(group["eps"])
