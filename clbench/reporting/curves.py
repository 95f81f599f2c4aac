"""Learning-rate curves: every strategy's runs over an lr grid (a tuning's trials and more seeds of
it), and forgetting compared at matched plasticity.

An optimizer that learns less also forgets less, so forgetting alone cannot say which one protects
old tasks better. Along its lr curve, each strategy trades plasticity (mean accuracy on every task
right after learning it) for forgetting; compared at the same plasticity, what remains of the
difference in forgetting is the optimizer's.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from clbench.assignments import value_text
from clbench.reporting.leaderboard import table_settings
from clbench.records import (config_hash, curve_settings, differing_keys, file_stem, load_records, one_value,
                             strategy_label)
from clbench.reporting.stats import Estimate, PairedComparison, holm_corrected, mean_interval, paired_comparison


@dataclass(frozen=True)
class Point:
    lr: float
    plasticity: float
    forgetting: float
    acc: float
    val_acc: float | None
    old_acc: float | None = None  # final accuracy on the tasks before the last, averaged
    new_acc: float | None = None  # final accuracy on the last task
    # per task, how much its validation accuracy rose in the last epoch (None where it has no two epochs)
    last_epoch_gains: tuple[float | None, ...] = ()
    fraction_changed: float | None = None  # the share of the backbone's weights the run moved at all


@dataclass
class CurveGroup:
    """The curves of one stream, backbone and set of run settings: {strategy: {seed: points by lr}},
    and {strategy: the records that drew its curves}."""

    stream: str
    backbone: str
    settings: dict
    curves: dict[str, dict[int, list[Point]]] = field(default_factory=lambda: defaultdict(dict))
    records: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    # {strategy: {seed: its one run}} of the runs that moved no backbone weight (lr_curves(floors=True))
    floors: dict[str, dict[int, list[Point]]] = field(default_factory=lambda: defaultdict(dict))

    def title(self) -> str:
        return f"{self.stream} · {self.backbone}"


MAX_NAMED_SETTINGS = 2  # more make file names too long to read (or to write)


def figure_stems(prefix: str, groups: list[tuple[str, str, dict]]) -> list[tuple[str, dict]]:
    """The file-name stem of the figures of the lr curves of each (stream, backbone, settings) drawn
    together (`clbench plot`, `clbench analyze --figures`), and the settings that tell the group apart
    from others of its stream, backbone and norm statistics: the stem is those three, then the telling
    settings ("epochs-30"), or where more than MAX_NAMED_SETTINGS tell it apart, a hash of the group's
    settings ("settings-1a2b3c4d"); `prefix`: a sweep's, or ""."""
    bases = [file_stem(f"{prefix}{stream}", backbone, f"freeze_norm_stats-{settings.get('freeze_norm_stats')}")
             for stream, backbone, settings in groups]
    named = []
    for base, (_, _, settings) in zip(bases, groups):
        sharing = [other for other_base, (_, _, other) in zip(bases, groups) if other_base == base]
        telling = {key: settings.get(key) for key in sorted(differing_keys(sharing))}
        parts = ([f"settings-{config_hash(settings)}"] if len(telling) > MAX_NAMED_SETTINGS
                 else [f"{key}-{value_text(value)}" for key, value in telling.items()])
        named.append((file_stem(base, *parts), telling))
    return named


def curve_groups(folder: Path, stream: str | None) -> tuple[list[CurveGroup], list[str]]:
    """The lr curves of the records in `folder` (of one stream, or all), and the files that were not
    records; none when the folder does not exist."""
    if not folder.is_dir():
        return [], []
    records, problems = load_records(folder)
    return [group for group in lr_curves(records) if stream is None or group.stream == stream], problems


def drawn_curves(trials: list[dict]) -> list[CurveGroup]:
    """The lr curves a campaign's figures draw: those of 2 lrs and more, as the matched measures read
    them (a sweep cut before its third lr still gets its figures), and the floor beside them."""
    return lr_curves(trials, min_points=2, floors=True)


def is_floor(points: list[Point]) -> bool:
    """Runs at one lr that moved no backbone weight: the frozen backbone, whose lr trains its heads."""
    return bool(points) and len({p.lr for p in points}) == 1 and all(p.fraction_changed == 0 for p in points)


def top_index(values: list[float], last_of_equals: bool = False) -> int:
    """Where an lr curve (its values by ascending lr) tops out: the lrs up to it are the curve's rising
    branch, past it a run stops learning for another reason. Of equal values the first, or the last."""
    return max(range(len(values)), key=lambda i: (values[i], i if last_of_equals else -i))


def lr_curves(records: list[dict], min_points: int = 3, floors: bool = False) -> list[CurveGroup]:
    """Completed runs with one lr for every task, grouped into curves: a strategy's runs of one seed
    that differ in nothing but the lr form its curve for that seed (at least `min_points` points).
    With `floors`, a seed's single run that moved no backbone weight goes to the group's floors."""
    groups: dict[tuple, CurveGroup] = {}
    by_curve: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        lrs = record["config"].get("lr")
        if record["status"] != "completed" or not lrs or len(set(lrs)) != 1:
            continue
        settings = table_settings(record)
        key = (record["stream"], record["backbone"], config_hash(settings))
        groups.setdefault(key, CurveGroup(record["stream"], record["backbone"], settings))
        rest = json.dumps(curve_settings(record["config"]), sort_keys=True)
        by_curve[key, strategy_label(record), rest, record["seed"]].append(record)
    names = _variant_names({(key, strategy, rest) for key, strategy, rest, _ in by_curve})
    for (key, strategy, rest, seed), runs in by_curve.items():
        name = names[key, strategy, rest]
        points = sorted((point_of(r) for r in runs), key=lambda p: p.lr)
        if len(runs) >= min_points:
            groups[key].curves[name][seed] = points
            groups[key].records[name] += runs
        elif floors and len(runs) == 1 and is_floor(points):
            groups[key].floors[name][seed] = points
    return [group for group in groups.values() if group.curves]


def _variant_names(variants: set[tuple]) -> dict[tuple, str]:
    """A curve's name: its strategy's label, followed where the strategy ran in several variants in
    one group by the settings that tell them apart ("adamw weight_decay=0.01")."""
    by_strategy: dict[tuple, list[tuple]] = defaultdict(list)
    for variant in variants:
        by_strategy[variant[:2]].append(variant)
    names = {}
    for (_, strategy), group in by_strategy.items():
        configs = [json.loads(rest) for _, _, rest in group]
        differing = sorted(differing_keys(configs))
        for variant, config in zip(group, configs):
            names[variant] = " ".join([strategy, *(f"{k}={json.dumps(one_value(config.get(k)))}" for k in differing)])
    return names


def point_of(record: dict) -> Point:
    metrics, val = record["metrics"], record.get("val_metrics") or {}
    final = (record.get("accuracy_matrix") or [[]])[-1]
    old = final[:-1] if len(final) >= 2 and None not in final else None
    return Point(record["config"]["lr"][0], metrics["plasticity"], metrics["forgetting"], metrics["acc"], val.get("acc"),
                 sum(old) / len(old) if old else None, final[-1] if old else None, _last_epoch_gains(record),
                 metrics.get("fraction_changed"))


def _last_epoch_gains(record: dict) -> tuple[float | None, ...]:
    """Per task, the rise of its validation accuracy in the last epoch of training on it (None where
    the task has no two epochs of it)."""
    return tuple(epochs[-1] - epochs[-2] if len(epochs) >= 2 else None
                 for epochs in record.get("val_epoch_accuracy") or ())


def forgetting_at(points: list[Point], level: float) -> float | None:
    """Forgetting where the curve reaches plasticity `level` (value_at on the plasticity-forgetting curve)."""
    return value_at([(p.plasticity, p.forgetting) for p in points], level)


def value_at(curve: list[tuple[float, float]], level: float) -> float | None:
    """y where the (x, y) curve, walked in its order (the lr's), first reaches x = `level`,
    interpolated linearly in x between the two points around it; None when the curve starts above
    the level or never reaches it."""
    if curve[0][0] > level:
        return None
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if x1 >= level:
            share = (level - x0) / (x1 - x0) if x1 > x0 else 0
            return y0 + share * (y1 - y0)
    return curve[-1][1] if curve[-1][0] == level else None


@dataclass(frozen=True)
class MatchedRow:
    strategy: str
    forgetting: Estimate | None  # over the seeds whose curve reaches the level
    versus_baseline: PairedComparison | None


@dataclass(frozen=True)
class MatchedPlasticity:
    group: CurveGroup
    level: float  # the highest plasticity every strategy's every curve reaches
    rows: list[MatchedRow]
    baseline: str


def matched_plasticity(group: CurveGroup, baseline: str = "adamw") -> MatchedPlasticity | None:
    """Every strategy's forgetting at the common plasticity level, and its paired difference from
    the baseline's on the seeds both have (p-values Holm-corrected together). None with fewer than
    two strategies."""
    if len(group.curves) < 2:
        return None
    level = min(max(p.plasticity for p in points) for seeds in group.curves.values() for points in seeds.values())
    at_level = {strategy: {seed: value for seed, points in seeds.items()
                           if (value := forgetting_at(points, level)) is not None}
                for strategy, seeds in sorted(group.curves.items())}
    reference = at_level.get(baseline, {})
    rows = [MatchedRow(strategy, mean_interval(list(values.values())) if values else None,
                       None if strategy == baseline or not reference else paired_comparison(values, reference))
            for strategy, values in at_level.items()]
    rows = [replace(row, versus_baseline=comparison)
            for row, comparison in zip(rows, holm_corrected([row.versus_baseline for row in rows]))]
    return MatchedPlasticity(group, level, rows, baseline)
