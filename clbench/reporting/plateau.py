"""Had each strategy finished learning its tasks, or was it still learning when they ended? A
strategy that "learns less" at the end of short tasks may only learn slower. From each run's
validation accuracy on the new task after every epoch (`val_epoch_accuracy`): the gain of the last
epoch, the largest over the run's tasks, averaged over the seeds of each point of its lr curve.
Under PLATEAU_GAIN points it has plateaued: a point is 5 of a 10-class task's 500 validation images
(50 a class), less than the binomial standard error of one run's accuracy there (1.3 points at 90%).
Only the rising branch of the curve is read, the lrs up to its highest seed-mean plasticity: past
it a run stops learning for another reason (at chance, its last epoch gains nothing either).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from clbench.reporting.curves import CurveGroup, Point

PLATEAU_GAIN = 1.0


@dataclass(frozen=True)
class Plateau:
    group: CurveGroup
    strategy: str
    gains: dict[float, float]  # by lr on the rising branch: the seed mean of each run's largest last-epoch gain
    seeds: int  # the fewest seeds behind a gain

    @property
    def plateaued_at(self) -> list[float]:
        return [lr for lr, gain in self.gains.items() if gain < PLATEAU_GAIN]


def plateaus(groups: list[CurveGroup]) -> list[Plateau]:
    """One row per strategy of each group whose runs validated after every epoch."""
    rows = []
    for group in groups:
        for strategy, by_seed in sorted(group.curves.items()):
            peak = _peak_lr([point for points in by_seed.values() for point in points])
            by_lr: dict[float, list[float]] = defaultdict(list)
            for points in by_seed.values():
                for point in points:
                    if point.last_epoch_gain is not None and point.lr <= peak:
                        by_lr[point.lr].append(point.last_epoch_gain)
            if by_lr:
                rows.append(Plateau(group, strategy, {lr: sum(g) / len(g) for lr, g in sorted(by_lr.items())},
                                    min(len(g) for g in by_lr.values())))
    return rows


def _peak_lr(points: list[Point]) -> float:
    """The highest lr whose seed-mean plasticity is the curve's highest."""
    by_lr: dict[float, list[float]] = defaultdict(list)
    for point in points:
        by_lr[point.lr].append(point.plasticity)
    means = {lr: sum(values) / len(values) for lr, values in by_lr.items()}
    return max(lr for lr, mean in means.items() if mean == max(means.values()))
