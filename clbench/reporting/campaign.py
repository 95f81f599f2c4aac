"""A sweep's answer to "does NanoAdam forget less than AdamW?" (`clbench analyze`): in every cell
(stream x backbone x run settings, e.g. norm statistics frozen or not), each contrast's paired
differences over seeds in forgetting and accuracy, Holm-corrected over every cell of the family;
forgetting at matched plasticity along the two strategies' tuning curves; and each contrast pooled
over cells by a random-effects model.

The pooled model: each cell's mean paired difference, with its variance s^2/n over seeds, combined
by a random-effects meta-analysis (statsmodels' combine_effects): the Paule-Mandel between-cell
variance tau^2 (truncated at 0, where the one-step DerSimonian-Laird estimate there is not) and the
Hartung-Knapp interval, t with k-1 degrees of freedom, its variance never below the plain random-
effects one (the ad hoc correction of Roever et al. 2015: without it, cells that agree more closely
than their seeds predict give an interval of width 0). It estimates the average effect over cells
like these, not only these. Forgetting at matched plasticity has one curve per strategy and cell (the
tuning seed), so it has no within-cell interval; it is pooled by the t-interval over cells.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from clbench.reporting.curves import Point, forgetting_at
from clbench.reporting.leaderboard import table_settings
from clbench.reporting.stats import (CONFIDENCE, Estimate, PairedComparison, holm_corrected, mean_interval,
                                     paired_comparison)

METRICS = ("forgetting", "acc")
_Role = Callable[[dict], bool]  # which records of a cell play a side of a contrast


def _trains_with(strategy: str, optimizer: str | None = None, mask_biases: bool = False) -> _Role:
    def role(record: dict) -> bool:
        config = record["config"]
        return (record["strategy"] == strategy and config.get("optimizer") == optimizer
                and bool(config.get("mask_biases")) == mask_biases)
    return role


@dataclass(frozen=True)
class Contrast:
    name: str
    treated: _Role
    control: _Role


CONTRASTS = (
    Contrast("NanoAdam - AdamW", _trains_with("nanoadam"), _trains_with("adamw")),
    Contrast("replay: NanoAdam - AdamW", _trains_with("replay", "nanoadam"), _trains_with("replay", "adamw")),
    Contrast("NanoAdam, biases masked - AdamW", _trains_with("nanoadam", mask_biases=True), _trains_with("adamw")),
)


@dataclass(frozen=True)
class Cell:
    stream: str
    backbone: str
    settings: dict  # the run settings its records share (leaderboard.table_settings)

    @property
    def norm(self) -> str:
        return "frozen" if self.settings.get("freeze_norm_stats") else "updated"


@dataclass(frozen=True)
class Matched:
    """Forgetting of both sides where both tuning curves reach the same plasticity (the lower of
    their highest), and the difference treated - control."""

    level: float
    treated: float
    control: float

    @property
    def difference(self) -> float:
        return self.treated - self.control


@dataclass(frozen=True)
class CellContrast:
    cell: Cell
    contrast: Contrast
    comparisons: dict[str, PairedComparison | None]  # by metric, p Holm-corrected over the family's cells
    plasticity: tuple[Estimate, Estimate]  # (treated, control): mean accuracy on each task after learning it
    final_accuracy: tuple[list[float], list[float]]  # (treated, control): mean final accuracy per task
    matched: Matched | None


@dataclass(frozen=True)
class Pooled:
    contrast: Contrast
    norm: str
    metric: str  # a metric, or "matched" (forgetting at matched plasticity)
    estimate: Estimate  # its n is the number of cells
    p_value: float | None
    tau2: float | None  # between-cell variance (None for matched: pooled by the t-interval over cells)


@dataclass(frozen=True)
class Analysis:
    cells: list[CellContrast]
    pooled: list[Pooled]
    complete: int  # records of the sweep found completed
    planned: int
    run_hours: float  # the completed runs' wall times, summed
    trials: int  # the tuning trials that chose their settings
    trial_hours: float


def analyze(records: list[dict], planned: int, trials_dir: Path) -> Analysis:
    """records: the sweep's completed records; trials_dir: where the tuned files' trials are."""
    by_cell: dict[str, tuple[Cell, list[dict]]] = {}
    for record in records:
        settings = table_settings(record)
        key = json.dumps([record["stream"], record["backbone"], settings], sort_keys=True)
        by_cell.setdefault(key, (Cell(record["stream"], record["backbone"], settings), []))[1].append(record)
    trials_by_file = {file: _tuning_trials(file, trials_dir) for file in {_tuned_file(r) for r in records} if file}
    results = []
    for cell, cell_records in by_cell.values():
        for contrast in CONTRASTS:
            treated = [r for r in cell_records if contrast.treated(r)]
            control = [r for r in cell_records if contrast.control(r)]
            if treated and control:
                results.append(_cell_contrast(cell, contrast, treated, control, trials_by_file))
    results = _holm_per_family(results)
    results.sort(key=lambda c: (CONTRASTS.index(c.contrast), c.cell.norm, c.cell.stream, c.cell.backbone))
    trials = {name: trial for by_name in trials_by_file.values() for name, trial in by_name.items()}
    return Analysis(results, _pooled(results), len(records), planned, _hours(records), len(trials),
                    _hours(trials.values()))


def _hours(records) -> float:
    return sum(r.get("timing", {}).get("wall_s", 0.0) for r in records) / 3600


def _by_seed(records: list[dict], metric: str) -> dict[int, float]:
    return {r["seed"]: r["metrics"][metric] for r in records}


def _cell_contrast(cell: Cell, contrast: Contrast, treated: list[dict], control: list[dict],
                   trials_by_file: dict[str, dict[str, dict]]) -> CellContrast:
    comparisons = {metric: paired_comparison(_by_seed(treated, metric), _by_seed(control, metric))
                   for metric in METRICS}
    plasticity = tuple(mean_interval(list(_by_seed(side, "plasticity").values())) for side in (treated, control))
    final = tuple([sum(r["accuracy_matrix"][-1][j] for r in side) / len(side)
                   for j in range(len(side[0]["accuracy_matrix"][-1]))] for side in (treated, control))
    return CellContrast(cell, contrast, comparisons, plasticity, final,
                        _matched(_tuning_curve(treated, trials_by_file), _tuning_curve(control, trials_by_file)))


def _tuned_file(record: dict) -> str | None:
    """The tuned file that chose the record's settings (its `tuned` reference), if any."""
    return (record.get("tuned") or {}).get("file")


def _tuning_trials(file: str, trials_dir: Path) -> dict[str, dict]:
    """The trial records, by name, of the tuning in a tuned file (none if unreadable)."""
    try:
        tuned = json.loads(Path(file).read_text())
        return {name: json.loads((trials_dir / name).read_text()) for t in tuned["trials"] for name in t["records"]}
    except (OSError, ValueError, KeyError):
        return {}


def _tuning_curve(records: list[dict], trials_by_file: dict[str, dict[str, dict]]) -> list[Point] | None:
    """The lr curve of the tuning that chose these records' settings: its trials, by lr."""
    trials = trials_by_file.get(_tuned_file(records[0]), {}).values()
    points = [Point(t["config"]["lr"][0], t["metrics"]["plasticity"], t["metrics"]["forgetting"], t["metrics"]["acc"],
                    None) for t in trials if t["status"] == "completed"]
    return sorted(points, key=lambda p: p.lr) if len(points) >= 2 else None


def _matched(treated: list[Point] | None, control: list[Point] | None) -> Matched | None:
    if not treated or not control:
        return None
    level = min(max(p.plasticity for p in treated), max(p.plasticity for p in control))
    a, b = forgetting_at(treated, level), forgetting_at(control, level)
    return None if a is None or b is None else Matched(level, a, b)


def _holm_per_family(results: list[CellContrast]) -> list[CellContrast]:
    """A metric's comparisons over every cell and contrast form one family."""
    for metric in METRICS:
        corrected = holm_corrected([c.comparisons[metric] for c in results])
        for cell_contrast, comparison in zip(results, corrected):
            cell_contrast.comparisons[metric] = comparison
    return results


def _pooled(results: list[CellContrast]) -> list[Pooled]:
    pooled = []
    for contrast in CONTRASTS:
        for norm in ("updated", "frozen"):
            cells = [c for c in results if c.contrast is contrast and c.cell.norm == norm]
            for metric in METRICS:
                usable = [c.comparisons[metric] for c in cells
                          if c.comparisons[metric] and c.comparisons[metric].difference.low is not None]
                if len(usable) >= 2:
                    pooled.append(_random_effects(contrast, norm, metric, usable))
            matched = [c.matched.difference for c in cells if c.matched]
            if len(matched) >= 2:
                estimate = mean_interval(matched)
                p_value = None if len(set(matched)) == 1 else float(stats.ttest_1samp(matched, 0.0).pvalue)
                pooled.append(Pooled(contrast, norm, "matched", estimate, p_value, None))
    return pooled


def _random_effects(contrast: Contrast, norm: str, metric: str, comparisons: list[PairedComparison]) -> Pooled:
    effects = np.array([c.difference.mean for c in comparisons])
    variances = np.array([_variance_of_mean(c) for c in comparisons])
    fit = combine_effects(effects, variances, method_re="pm", use_t=True)
    mean, sd = float(fit.mean_effect_re), max(float(fit.sd_eff_w_re_hksj), float(fit.sd_eff_w_re))
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, len(comparisons) - 1)) * sd
    return Pooled(contrast, norm, metric, Estimate(mean, mean - half, mean + half, len(comparisons)),
                  _t_p_value(mean, sd, len(comparisons) - 1), float(fit.tau2))


def _variance_of_mean(comparison: PairedComparison) -> float:
    """s^2/n of the paired differences, from their t-interval; a floor keeps identical differences usable."""
    d = comparison.difference
    t = float(stats.t.ppf((1 + CONFIDENCE) / 2, d.n - 1))
    return max((d.half_width / t) ** 2, 1e-12)


def _t_p_value(mean: float, standard_error: float, df: int) -> float | None:
    if standard_error == 0:
        return None
    return float(2 * stats.t.sf(abs(mean / standard_error), df))
