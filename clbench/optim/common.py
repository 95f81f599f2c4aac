"""What clbench's optimizers share: argument checks, each raising a ValueError that names the
argument and its value, and the closure call of step()."""

from __future__ import annotations

import torch


def check_lr(lr: float) -> None:
    if not lr >= 0:
        raise ValueError(f"lr must be non-negative, got lr={lr}")


def check_positive_int(name: str, value) -> None:
    if not (isinstance(value, int) and value >= 1):
        raise ValueError(f"{name} must be a positive integer, got {name}={value}")


def check_density(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {name}={value}")


def check_adam_arguments(betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
        raise ValueError(f"betas must be in [0, 1), got betas={betas}")
    if not eps >= 0:
        raise ValueError(f"eps must be non-negative, got eps={eps}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be non-negative, got weight_decay={weight_decay}")


def check_trainable(param_groups: list[dict]) -> None:
    for number, group in enumerate(param_groups):
        if not any(p.requires_grad for p in group["params"]):
            raise ValueError(f"parameter group {number} has no trainable parameters; drop it or unfreeze them")


def check_dense_gradient(optimizer: str, param: torch.Tensor) -> None:
    if param.grad.is_sparse:
        raise RuntimeError(f"{optimizer} does not support sparse gradients (a parameter of shape "
                           f"{tuple(param.shape)} has one); use dense gradients, e.g. nn.Embedding(sparse=False)")


def closure_loss(closure):
    """The loss of step()'s optional closure, evaluated with gradients enabled (None without one)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()
