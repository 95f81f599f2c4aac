"""Which drift measure tracks forgetting across strategies: in each cell, the Spearman rank
correlation between a run's forgetting and its weight drift (l2 distance from the pretrained
weights), the fraction of weights it changed, and the KL divergence of the old heads' predictions
(right after their task against the end), over the runs of the cell (every strategy, lr and seed)
on the rising branch of their lr curve: a curve's runs up to its highest plasticity. Past that lr a
run stops learning the new task, its weights move far and it forgets little of what it barely
learnt, which says nothing of how a drift measure tracks forgetting.

Pooled over cells by Fisher's z of each cell's rho, weighted by n - 3, with the standard error
1.06 / sqrt(n - 3) that Spearman's rho has (Fieller, Hartley and Pearson 1957) in place of
Pearson's 1 / sqrt(n - 3).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from scipy import stats

from clbench.records import curve_settings, strategy_label
from clbench.reporting.curves import top_index

MEASURES = ("drift_l2", "fraction_changed", "output_kl")
_Z = 1.959963984540054  # the normal's 97.5% quantile


@dataclass(frozen=True)
class Tracking:
    """rho between forgetting and a drift measure over n runs (None: fewer than 4 runs, or no spread)."""

    measure: str
    rho: float | None
    n: int


@dataclass(frozen=True)
class PooledTracking:
    measure: str
    rho: float
    low: float
    high: float
    cells: int
    runs: int


def rising_branch(runs: list[dict]) -> list[dict]:
    """The runs of each lr curve (a strategy's runs of one seed differing only in lr) up to the one
    of highest plasticity; a run alone on its curve (a reported run at its tuned lr) is kept."""
    curves: dict[str, list[dict]] = {}
    for run in runs:
        key = json.dumps([strategy_label(run), run["seed"], curve_settings(run["config"])], sort_keys=True)
        curves.setdefault(key, []).append(run)
    kept = []
    for curve in curves.values():
        curve.sort(key=lambda r: r["config"]["lr"][0])
        plasticity = [r["metrics"].get("plasticity") for r in curve]
        kept += curve[:top_index([float("-inf") if p is None else p for p in plasticity]) + 1]
    return kept


def tracking(runs: list[dict]) -> dict[str, Tracking]:
    """Each measure's rank correlation with forgetting over the runs that recorded both."""
    result = {}
    for measure in MEASURES:
        pairs = [(r["metrics"]["forgetting"], r["metrics"][measure]) for r in runs
                 if r["metrics"].get("forgetting") is not None and r["metrics"].get(measure) is not None]
        rho = None
        if len(pairs) >= 4 and len({a for a, _ in pairs}) > 1 and len({b for _, b in pairs}) > 1:
            rho = float(stats.spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic)
        result[measure] = Tracking(measure, rho, len(pairs))
    return result


def pooled_tracking(cells: list[dict[str, Tracking]]) -> list[PooledTracking]:
    pooled = []
    for measure in MEASURES:
        usable = [cell[measure] for cell in cells if cell[measure].rho is not None and cell[measure].n > 3
                  and abs(cell[measure].rho) < 1]
        if not usable:
            continue
        weights = [t.n - 3 for t in usable]
        z = math.fsum(w * math.atanh(t.rho) for w, t in zip(weights, usable)) / sum(weights)
        half = _Z * 1.06 / math.sqrt(sum(weights))
        pooled.append(PooledTracking(measure, math.tanh(z), math.tanh(z - half), math.tanh(z + half), len(usable),
                                     sum(t.n for t in usable)))
    return pooled
