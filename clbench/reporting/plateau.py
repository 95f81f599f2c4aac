"""How far did each strategy learn, and had it finished learning its tasks, or was it still learning
when they ended? A strategy that "learns less" at the end of short tasks may only learn slower.
How far: the top of its lr curve, the highest plasticity of the seed means by lr. From each run's
validation accuracy on the new task after every epoch (`val_epoch_accuracy`): the gain of the last
epoch, task by task, averaged over the seeds of each point of its lr curve (a maximum over tasks
would let one noisy task speak for all). Where every task's gain is under PLATEAU_GAIN points the
point has plateaued: a point is 5 of a 10-class task's 500 validation images (50 a class), less
than the binomial standard error of one run's accuracy there (1.3 points at 90%).
Only the rising branch of the curve is read, the lrs up to its highest seed-mean plasticity: past
it a run stops learning for another reason (at chance, its last epoch gains nothing either). A
curve that has run one or two of its lrs so far (a sweep runs its curves' middle points first) is
read the same: its top is the best of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from clbench.reporting.curves import CurveGroup, Point, top_index

PLATEAU_GAIN = 1.0


@dataclass(frozen=True)
class Plateau:
    group: CurveGroup
    strategy: str
    peak_lr: float
    peak_plasticity: float  # the curve's top: the highest seed-mean plasticity, at peak_lr
    plasticity: dict[float, float]  # the seed-mean plasticity at every lr of the curve
    # by lr on the rising branch, per task: the seed mean of the task's last-epoch gain (None: no seed had one)
    gains: dict[float, tuple[float | None, ...]]
    seeds: int  # the fewest seeds behind a gain (behind the top where no run validated after every epoch)
    changed_at_peak: float | None = None  # the seed-mean share of the backbone's weights moved at peak_lr
    seeds_by_lr: dict[float, int] = field(default_factory=dict)  # the seeds behind each lr's plasticity

    @property
    def plateaued_at(self) -> list[float]:
        return [lr for lr, gains in self.gains.items() if all(g < PLATEAU_GAIN for g in gains if g is not None)]


def plateaus(groups: list[CurveGroup]) -> list[Plateau]:
    """One row per strategy of each group: its top, and its gains where its runs validated after every epoch."""
    rows = []
    for group in groups:
        for strategy, by_seed in sorted(group.curves.items()):
            points = [point for points in by_seed.values() for point in points]
            plasticity = dict(sorted(_means(points, lambda point: point.plasticity).items()))
            # a tie at the top reads the gains of every lr there: a plateau, where a run learns as much
            peak_lr = list(plasticity)[top_index(list(plasticity.values()), last_of_equals=True)]
            top = plasticity[peak_lr]
            by_lr: dict[float, list[tuple]] = defaultdict(list)
            for point in points:
                if point.lr <= peak_lr and any(g is not None for g in point.last_epoch_gains):
                    by_lr[point.lr].append(point.last_epoch_gains)
            gains = {lr: _task_means(runs) for lr, runs in sorted(by_lr.items())}
            seeds = min(len(runs) for runs in by_lr.values()) if by_lr else len(by_seed)
            changed = [point.fraction_changed for point in points
                       if point.lr == peak_lr and point.fraction_changed is not None]
            rows.append(Plateau(group, strategy, peak_lr, top, plasticity, gains, seeds,
                                sum(changed) / len(changed) if changed else None,
                                {lr: sum(point.lr == lr for point in points) for lr in plasticity}))
    return rows


def _means(points: list[Point], value) -> dict[float, float]:
    by_lr: dict[float, list[float]] = defaultdict(list)
    for point in points:
        by_lr[point.lr].append(value(point))
    return {lr: sum(values) / len(values) for lr, values in by_lr.items()}


def _task_means(runs: list[tuple]) -> tuple[float | None, ...]:
    """Per task, the mean over the runs that have a gain for it."""
    tasks = max(len(gains) for gains in runs)
    means = []
    for task in range(tasks):
        values = [gains[task] for gains in runs if task < len(gains) and gains[task] is not None]
        means.append(sum(values) / len(values) if values else None)
    return tuple(means)
