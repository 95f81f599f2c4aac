"""Two strategies compared where their seed-mean lr curves reach the same level, with a t-interval
over the per-seed contrasts and a bootstrap over seeds beside it.

Each side's curve for one seed is its runs over the lr grid. Averaged over seeds at each lr (the
lrs every seed ran), it is a curve in a plane such as plasticity-forgetting. The sides are read at
the lower of the two curves' highest x (the most both reach) and differ there by treated - control;
or, as a check that the difference does not hang on the curves' top points, averaged over the
range of x both reach (from the higher of their first points to that level, at RANGE_LEVELS evenly
spaced levels).
The primary interval is the t-interval over the per-seed contrasts: each seed's difference read off
that seed's own two curves (at the most both reach, or over the range both reach), with its
one-sample t-test against 0. The bootstrap beside it resamples the seeds both sides ran, with replacement and the same draw for both (a
seed fixes data order and head initialisation for every strategy), and recomputes everything,
level included: every one of the n**n draws where that is at most EXHAUSTIVE, else RESAMPLES
random ones. Its two-sided p-value is twice the smaller share of draws on either side of 0, and
never below 2 / draws (0.074 with 3 seeds, 6.4e-4 with 5): no draw on one side says only that the
share there is below one draw's. With few seeds the bootstrap's interval spans about the range of
the single seeds' values, much narrower than the t-interval: read it as a check, not as the interval.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from operator import attrgetter
from typing import Callable, Sequence

import numpy as np

from scipy import stats

from clbench.reporting.curves import Point, value_at
from clbench.reporting.stats import Estimate, mean_interval

RANGE_LEVELS = 21
EXHAUSTIVE = 10_000
RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Measure:
    name: str
    title: str  # "y at matched x"
    x: Callable[[Point], float | None]
    y: Callable[[Point], float | None]
    over_range: bool = False  # averaged over the shared range of x, not read at its top


_PLASTICITY, _FORGETTING = attrgetter("plasticity"), attrgetter("forgetting")
_NEW_ACC, _OLD_ACC = attrgetter("new_acc"), attrgetter("old_acc")
MEASURES = (
    Measure("forgetting", "forgetting at matched plasticity", _PLASTICITY, _FORGETTING),
    Measure("old_acc", "final old-task accuracy at matched new-task accuracy", _NEW_ACC, _OLD_ACC),
    Measure("forgetting_range", "forgetting at matched plasticity, over the shared range", _PLASTICITY, _FORGETTING,
            over_range=True),
    Measure("old_acc_range", "final old-task accuracy at matched new-task accuracy, over the shared range", _NEW_ACC,
            _OLD_ACC, over_range=True),
)


@dataclass(frozen=True)
class MatchedDifference:
    measure: str
    level: float  # the x where both seed-mean curves are read (over a range: its top)
    treated: float
    control: float
    low: float | None  # the bootstrap interval of the difference (None with one seed)
    high: float | None
    p_value: float | None  # the bootstrap's
    seeds: tuple[int, ...]
    p_holm: float | None = None  # the t-test's p (t_p), Holm-corrected
    lowest: float | None = None  # over a range: its bottom
    per_seed: tuple[float, ...] = ()  # each seed's own contrast, where its curves share a level
    t: Estimate | None = None  # the t-interval over per_seed: the primary interval
    t_p: float | None = None  # one-sample t-test of per_seed against 0

    @property
    def difference(self) -> float:
        return self.treated - self.control


Curves = dict[int, list[Point]]  # by seed, each sorted by lr


def matched_difference(treated: Curves, control: Curves, measure: Measure) -> MatchedDifference | None:
    """None when the sides share no seed with a curve of 2 or more lrs, or their seed-mean curves
    never reach a common level."""
    treated, control = _usable(treated), _usable(control)
    seeds = tuple(sorted(set(treated) & set(control)))
    if not seeds:
        return None
    estimate = _read(treated, control, seeds, measure)
    if estimate is None:
        return None
    (lowest, level), a, b = estimate
    low = high = p_value = None
    if len(seeds) >= 2:
        differences = np.array([d for draw in _draws(seeds) if (d := _difference(treated, control, draw, measure))
                                is not None])
        if len(differences):
            tail = (1 - CONFIDENCE) / 2
            low, high = (float(q) for q in np.quantile(differences, [tail, 1 - tail]))
            tail_share = min(float(np.mean(differences <= 0)), float(np.mean(differences >= 0)))
            p_value = min(1.0, 2 * max(tail_share, 1 / len(differences)))
    per_seed = tuple(d for seed in seeds if (d := _difference(treated, control, (seed,), measure)) is not None)
    t = mean_interval(per_seed) if per_seed else None
    t_p = float(stats.ttest_1samp(per_seed, 0.0).pvalue) if len(set(per_seed)) > 1 else None
    return MatchedDifference(measure.name, level, a, b, low, high, p_value, seeds,
                             lowest=lowest if measure.over_range else None, per_seed=per_seed, t=t, t_p=t_p)


def unmatched_reason(treated: Curves, control: Curves, measure: Measure, names: tuple[str, str]) -> str | None:
    """Why matched_difference finds no common level, as what to run for one (names: the sides'); None
    where it finds one, or where a side has no curve at all."""
    if not treated or not control:
        return None
    for name, side in zip(names, (treated, control)):
        if not _usable(side):
            return f"{name} ran fewer than 2 lrs on every seed: run its lr grid"
    treated, control = _usable(treated), _usable(control)
    seeds = tuple(sorted(set(treated) & set(control)))
    if not seeds:
        return f"{names[0]} and {names[1]} share no seed: run both on the same seeds"
    curves = dict(zip(names, (seed_mean_curve(side, seeds, measure) for side in (treated, control))))
    for name, curve in curves.items():
        if len(curve) < 2:
            return f"{name}'s curve has fewer than 2 lrs that every seed ran: run its missing lrs"
    level = min(max(x for x, _ in curve) for curve in curves.values())
    for (name, curve), other in zip(curves.items(), reversed(names)):
        if curve[0][0] > level:
            return (f"{name}'s curve starts at {curve[0][0]:.1f}, above the {level:.1f} that {other}'s reaches at most: "
                    f"run {name} at lower lrs")
    return None


def seed_mean_curve(curves: Curves, seeds: Sequence[int], measure: Measure) -> list[tuple[float, float]]:
    """(x, y) at each lr every one of `seeds` ran, averaged over them (a seed may repeat), by lr."""
    by_lr: list[dict[float, Point]] = [{p.lr: p for p in curves[seed]} for seed in seeds]
    shared = sorted(set.intersection(*(set(points) for points in by_lr)))
    curve = []
    for lr in shared:
        xs = [measure.x(points[lr]) for points in by_lr]
        ys = [measure.y(points[lr]) for points in by_lr]
        if None not in xs and None not in ys:
            curve.append((math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)))
    return curve


def _usable(curves: Curves) -> Curves:
    return {seed: points for seed, points in curves.items() if len(points) >= 2}


def _read(treated: Curves, control: Curves, seeds: Sequence[int], measure: Measure):
    a, b = seed_mean_curve(treated, seeds, measure), seed_mean_curve(control, seeds, measure)
    if len(a) < 2 or len(b) < 2:
        return None
    """((lowest, level), treated's y, control's y), or None where the curves share no range of x."""
    level = min(max(x for x, _ in a), max(x for x, _ in b))
    lowest = max(a[0][0], b[0][0]) if measure.over_range else level
    if lowest > level:
        return None
    levels = np.linspace(lowest, level, RANGE_LEVELS) if measure.over_range else [level]
    at_a, at_b = [value_at(a, x) for x in levels], [value_at(b, x) for x in levels]
    if None in at_a or None in at_b:
        return None
    return (lowest, level), math.fsum(at_a) / len(at_a), math.fsum(at_b) / len(at_b)


def _difference(treated: Curves, control: Curves, seeds: Sequence[int], measure: Measure) -> float | None:
    read = _read(treated, control, seeds, measure)
    return None if read is None else read[1] - read[2]


def _draws(seeds: tuple[int, ...]):
    n = len(seeds)
    if n ** n <= EXHAUSTIVE:
        return itertools.product(seeds, repeat=n)
    rng = np.random.default_rng(0)
    return (tuple(seeds[i] for i in rng.integers(0, n, n)) for _ in range(RESAMPLES))
