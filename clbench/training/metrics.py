"""Continual-learning metrics from the accuracy matrix, and backbone drift.

R[i][j] is the accuracy (percent) on task j after training on tasks 0..i; b[j] is the accuracy on
task j before any training on the stream. Definitions follow shared/paper-notes.md.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch


def average_accuracy(R: Sequence[Sequence[float]]) -> float:
    """Mean accuracy over all tasks after the last task. Each task counts equally, whatever its size."""
    return _mean(R[-1])


def backward_transfer(R: Sequence[Sequence[float]]) -> float | None:
    """BWT (Lopez-Paz & Ranzato 2017): mean over j < T-1 of R[T-1][j] - R[j][j]. None for T = 1."""
    T = len(R)
    return _mean([R[T - 1][j] - R[j][j] for j in range(T - 1)]) if T > 1 else None


def forward_transfer(R: Sequence[Sequence[float]], b: Sequence[float]) -> float | None:
    """FWT: mean over j > 0 of R[j-1][j] - b[j]. None for T = 1.

    With a fresh head per task, task j's head is untrained before task j, so R[j-1][j] and b[j]
    are both chance-level: FWT is reported for completeness and says little in this setting.
    """
    T = len(R)
    return _mean([R[j - 1][j] - b[j] for j in range(1, T)]) if T > 1 else None


def forgetting(R: Sequence[Sequence[float]]) -> float | None:
    """Chaudhry et al. 2018: mean over j < T-1 of max_{l < T-1} R[l][j] - R[T-1][j]. None for T = 1."""
    T = len(R)
    if T < 2:
        return None
    return _mean([max(R[l][j] for l in range(T - 1)) - R[T - 1][j] for j in range(T - 1)])


def plasticity(R: Sequence[Sequence[float]]) -> float:
    """Mean accuracy on each task right after training on it: mean_j R[j][j]."""
    return _mean([R[j][j] for j in range(len(R))])


def stream_metrics(R: Sequence[Sequence[float]], b: Sequence[float]) -> dict[str, float | None]:
    """All matrix metrics of a completed run (R is T x T)."""
    T = len(R)
    if T == 0 or any(len(row) != T for row in R) or len(b) != T:
        raise ValueError(f"accuracy matrix must be T x T with a baseline of length T, got {R!r}, {b!r}")
    return {
        "acc": average_accuracy(R),
        "bwt": backward_transfer(R),
        "fwt": forward_transfer(R, b),
        "forgetting": forgetting(R),
        "plasticity": plasticity(R),
    }


@torch.no_grad()
def mean_kl(reference_log_probs: torch.Tensor, log_probs: torch.Tensor) -> float:
    """Output drift: the mean over examples of KL(p_reference || p) in nats, from the log-probabilities
    (examples x classes) a head gave the same examples then (reference) and now."""
    return float((reference_log_probs.exp() * (reference_log_probs - log_probs)).sum(dim=1).mean())


@torch.no_grad()
def backbone_drift(initial: dict[str, torch.Tensor], current: dict[str, torch.Tensor]) -> dict:
    """How far the backbone parameters moved from `initial`: global and per-parameter l2 distance,
    and the fraction of individual weights whose value changed at all."""
    per_layer = {}
    total_sq = 0.0
    changed = 0
    count = 0
    for name, w0 in initial.items():
        diff = current[name].detach().float().cpu() - w0.float().cpu()
        sq = float(diff.pow(2).sum())
        per_layer[name] = math.sqrt(sq)
        total_sq += sq
        changed += int((diff != 0).sum())
        count += diff.numel()
    return {
        "l2": math.sqrt(total_sq),
        "fraction_changed": changed / count if count else 0.0,
        "per_layer_l2": per_layer,
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)
