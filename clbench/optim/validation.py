"""Checks of optimizer arguments shared by clbench's optimizers; each raises a ValueError naming
the argument and its value."""

from __future__ import annotations


def check_lr(lr: float) -> None:
    if not lr >= 0:
        raise ValueError(f"lr must be non-negative, got lr={lr}")


def check_positive_int(name: str, value) -> None:
    if not (isinstance(value, int) and value >= 1):
        raise ValueError(f"{name} must be a positive integer, got {name}={value}")


def check_trainable(param_groups: list[dict]) -> None:
    for number, group in enumerate(param_groups):
        if not any(p.requires_grad for p in group["params"]):
            raise ValueError(f"parameter group {number} has no trainable parameters; drop it or unfreeze them")
