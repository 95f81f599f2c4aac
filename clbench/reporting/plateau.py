"""How far did each strategy learn, and had it finished learning its tasks, or was it still learning
when they ended? A strategy that "learns less" at the end of short tasks may only learn slower.
How far: the top of its lr curve, the highest plasticity of the seed means by lr. From each run's
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
    peak_lr: float
    peak_plasticity: float  # the curve's top: the highest seed-mean plasticity, at peak_lr
    gains: dict[float, float]  # by lr on the rising branch: the seed mean of each run's largest last-epoch gain
    seeds: int  # the fewest seeds behind a gain (behind the top where no run validated after every epoch)

    @property
    def plateaued_at(self) -> list[float]:
        return [lr for lr, gain in self.gains.items() if gain < PLATEAU_GAIN]


def plateaus(groups: list[CurveGroup]) -> list[Plateau]:
    """One row per strategy of each group: its top, and its gains where its runs validated after every epoch."""
    rows = []
    for group in groups:
        for strategy, by_seed in sorted(group.curves.items()):
            points = [point for points in by_seed.values() for point in points]
            peak_lr, peak_plasticity = _peak(points)
            by_lr: dict[float, list[float]] = defaultdict(list)
            for point in points:
                if point.last_epoch_gain is not None and point.lr <= peak_lr:
                    by_lr[point.lr].append(point.last_epoch_gain)
            seeds = min(len(g) for g in by_lr.values()) if by_lr else len(by_seed)
            rows.append(Plateau(group, strategy, peak_lr, peak_plasticity,
                                {lr: sum(g) / len(g) for lr, g in sorted(by_lr.items())}, seeds))
    return rows


def _peak(points: list[Point]) -> tuple[float, float]:
    """The highest lr whose seed-mean plasticity is the curve's highest, and that plasticity."""
    by_lr: dict[float, list[float]] = defaultdict(list)
    for point in points:
        by_lr[point.lr].append(point.plasticity)
    means = {lr: sum(values) / len(values) for lr, values in by_lr.items()}
    top = max(means.values())
    return max(lr for lr, mean in means.items() if mean == top), top
