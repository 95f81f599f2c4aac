"""A sweep's answers to the questions its file names (`clbench analyze`): for each contrast
"treated - control" (the sweep file's `contrasts`, else DEFAULT_CONTRASTS) in every cell (stream x
backbone x run settings, e.g. norm statistics frozen or not):
- on the reported runs, the paired differences over seeds in forgetting and accuracy (t-test and an
  exact sign-flip permutation test), Holm-corrected over every cell and contrast of the metric;
- on the tuning trials (the lr curves), forgetting at matched plasticity and final old-task
  accuracy at matched new-task accuracy, read off the seed-mean curves with a bootstrap over seeds
  (clbench.reporting.matched), Holm-corrected over every cell and contrast of the measure;
- each pooled over cells;
- which drift measure (weights' l2, fraction changed, old heads' KL) tracks forgetting over all the
  cell's runs and trials (clbench.reporting.drift);
- how far each strategy learnt (its lr curve's top) and whether its new-task validation accuracy had
  plateaued at each lr (clbench.reporting.plateau);
- a contrast against a floor (a control that moves no backbone weight, the frozen backbone: one run
  a seed, at the lr of its heads) has no curve to match: each lr of the treated curve is read
  against the floor's run on the same seed.

The pooled model: each cell's mean paired difference, with its variance s^2/n over seeds, combined
by a random-effects meta-analysis (statsmodels' combine_effects): the Paule-Mandel between-cell
variance tau^2 (truncated at 0, where the one-step DerSimonian-Laird estimate there is not) and the
Hartung-Knapp interval, t with k-1 degrees of freedom, its variance never below the plain random-
effects one (the ad hoc correction of Roever et al. 2015: without it, cells that agree more closely
than their seeds predict give an interval of width 0). It estimates the average effect over cells
like these, not only these. The matched differences are pooled by the t-interval over the cells' means of their per-seed contrasts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from clbench.reporting.contrasts import Contrast, side_records
from clbench.reporting.curves import CurveGroup, Point, is_floor, lr_curves, point_of
from clbench.reporting.drift import PooledTracking, Tracking, pooled_tracking, rising_branch, tracking
from clbench.reporting.leaderboard import RUN_SETTINGS
from clbench.reporting.matched import MEASURES, MatchedDifference, matched_difference, unmatched_reason
from clbench.reporting.plateau import Plateau, plateaus
from clbench.reporting.stats import (CONFIDENCE, Estimate, PairedComparison, holm, holm_corrected, mean_interval,
                                     paired_comparison)
from clbench.records import curve_settings, identifying, strategy_label

METRICS = ("forgetting", "acc")


@dataclass(frozen=True)
class Cell:
    stream: str
    backbone: str
    settings: dict  # the run settings its records and trials share

    @property
    def norm(self) -> str:
        return norm_stats(self.settings)


def norm_stats(settings: dict) -> str:
    """What became of the backbone's BatchNorm running statistics: "frozen", "updated", or "none"
    on a text stream (its transformer normalises with LayerNorm, which keeps no statistics)."""
    if settings.get("max_tokens") is not None:
        return "none"
    return "frozen" if settings.get("freeze_norm_stats") else "updated"


def cell_of(record: dict) -> Cell:
    config = identifying(record["config"])
    return Cell(record["stream"], record["backbone"], {key: config.get(key) for key in RUN_SETTINGS})


EQUAL_LR_METRICS = ("plasticity", "forgetting", "acc")
FLOOR_METRICS = (*EQUAL_LR_METRICS, "old_acc")  # what fine-tuning leaves of the old tasks, against never moving


@dataclass(frozen=True)
class AtEqualLr:
    """A contrast at one lr both sides' curves ran (the control differs from the treated in one
    thing), or at one lr of the treated curve against a floor's run."""
    lr: float
    differences: dict[str, Estimate | None]  # by metric: the mean of the per-seed differences, t-interval
    changed: tuple[float | None, float | None]  # (treated, control): share of the backbone's weights moved, seed mean


@dataclass(frozen=True)
class CellContrast:
    cell: Cell
    contrast: Contrast
    comparisons: dict[str, PairedComparison | None]  # by metric, on the reported runs; p Holm-corrected
    plasticity: tuple[Estimate, Estimate] | None  # (treated, control): mean accuracy on each task after learning it
    final_accuracy: tuple[list[float], list[float]] | None  # (treated, control): mean final accuracy per task
    matched: dict[str, MatchedDifference | None]  # by measure, on the tuning curves; p Holm-corrected
    unmatched: dict[str, str]  # by measure, why the curves have no matched difference and what to run for one
    at_equal_lr: list[AtEqualLr] = ()  # on the tuning curves, at every lr both ran on a common seed
    floor: bool = False  # the control moved no backbone weight: at_equal_lr reads each treated lr against it


@dataclass(frozen=True)
class Pooled:
    contrast: Contrast
    norm: str
    metric: str  # a metric, or a measure of MEASURES read at matched levels ("matched forgetting", ...)
    estimate: Estimate  # its n is the number of cells
    p_value: float | None
    tau2: float | None  # between-cell variance (None for matched measures: pooled by the t-interval over cells)


@dataclass(frozen=True)
class Analysis:
    cells: list[CellContrast]
    pooled: list[Pooled]
    complete: int  # records of the sweep found completed
    planned: int
    complete_as_trials: int  # of the planned runs, those completed among the trials (a sweep of lr curves)
    run_hours: float  # the completed runs' wall times, summed
    trials: int  # the sweep's tuning trials
    trial_hours: float
    drift: list[tuple[Cell, dict[str, Tracking]]]  # per cell, by drift measure, over its runs and trials
    drift_pooled: list[PooledTracking]
    plateaus: list[Plateau]  # per lr curve of the trials, its top and the last epoch's gain


def analyze(records: list[dict], planned: int, trials: list[dict], contrasts: list[Contrast],
            defaults_of: Callable[[str], dict | None] = lambda label: None, complete_as_trials: int = 0) -> Analysis:
    """records: the sweep's completed reported runs; trials: its completed tuning trials (the lr
    curves); defaults_of(label): a strategy's default settings, which pick the variant a bare side
    means; complete_as_trials: how many of the planned runs completed among the trials."""
    by_cell: dict[str, tuple[Cell, list[dict], list[dict]]] = {}
    for kind, items in ((1, records), (2, trials)):
        for record in items:
            cell = cell_of(record)
            key = json.dumps([cell.stream, cell.backbone, cell.settings], sort_keys=True)
            by_cell.setdefault(key, (cell, [], []))[kind].append(record)
    results = []
    for cell, cell_records, cell_trials in by_cell.values():
        for contrast in contrasts:
            sides = [(side_records(side, cell_records, defaults_of(side.label)),
                      side_records(side, cell_trials, defaults_of(side.label)))
                     for side in (contrast.treated, contrast.control)]
            if (sides[0][0] and sides[1][0]) or (sides[0][1] and sides[1][1]):
                results.append(_cell_contrast(cell, contrast, *sides))
    results = _holm_per_family(results)
    order = {contrast.name: i for i, contrast in enumerate(contrasts)}
    results.sort(key=lambda c: (order[c.contrast.name], c.cell.norm, c.cell.stream, c.cell.backbone))
    drift = [(cell, tracking(rising_branch(cell_records + cell_trials))) for cell, cell_records, cell_trials in by_cell.values()]
    drift.sort(key=lambda item: (item[0].norm, item[0].stream, item[0].backbone))
    return Analysis(results, _pooled(results, contrasts), len(records), planned, complete_as_trials, _hours(records),
                    len(trials), _hours(trials), drift, pooled_tracking([by_measure for _, by_measure in drift]),
                    plateaus(lr_curves(trials, min_points=1)))  # a curve's first points already say how far it learned


def of_cell(analysis: Analysis, cell: Cell, trials: list[dict]) -> Analysis:
    """The analysis of one cell: its contrasts, drift and lr curves' plateaus, and the cost of its
    share of `trials` (the sweep's); nothing pooled. Its runs' counts stay the sweep's."""
    cell_trials = [trial for trial in trials if cell_of(trial) == cell]
    return replace(analysis, cells=[c for c in analysis.cells if c.cell == cell], pooled=[],
                   trials=len(cell_trials), trial_hours=_hours(cell_trials),
                   drift=[d for d in analysis.drift if d[0] == cell], drift_pooled=[],
                   plateaus=[p for p in analysis.plateaus if cell_of_curves(p.group) == cell])


def cell_of_curves(group: CurveGroup) -> Cell:
    settings = identifying(group.settings)
    return Cell(group.stream, group.backbone, {key: settings.get(key) for key in RUN_SETTINGS})


def sweep_trials(trials: list[dict], planned: list[dict]) -> list[dict]:
    """The completed trials of the sweep's configurations: those whose settings but the lr are a
    planned run's (planned: stream, strategy, backbone, optimizer and config of each run)."""
    keys = {_configuration(run) for run in planned}
    return [t for t in trials if t.get("status") == "completed" and _configuration(t) in keys]


def _configuration(record: dict) -> str:
    return json.dumps([record["stream"], record["backbone"], strategy_label(record), curve_settings(record["config"])],
                      sort_keys=True)


def _hours(records) -> float:
    return sum(r.get("timing", {}).get("wall_s", 0.0) for r in records) / 3600


def _by_seed(records: list[dict], metric: str) -> dict[int, float]:
    return {r["seed"]: r["metrics"][metric] for r in records}


def _curves(trials: list[dict]) -> dict[int, list]:
    by_seed: dict[int, list] = {}
    for trial in trials:
        by_seed.setdefault(trial["seed"], []).append(point_of(trial))
    return {seed: sorted(points, key=lambda p: p.lr) for seed, points in by_seed.items()}


def _cell_contrast(cell: Cell, contrast: Contrast, treated: tuple[list, list], control: tuple[list, list]) -> CellContrast:
    (treated_runs, treated_trials), (control_runs, control_trials) = treated, control
    comparisons = {metric: None for metric in METRICS}
    plasticity = final = None
    if treated_runs and control_runs:
        sides = (treated_runs, control_runs)
        comparisons = {metric: paired_comparison(_by_seed(treated_runs, metric), _by_seed(control_runs, metric))
                       for metric in METRICS}
        plasticity = tuple(mean_interval(list(_by_seed(side, "plasticity").values())) for side in sides)
        final = tuple([sum(r["accuracy_matrix"][-1][j] for r in side) / len(side)
                       for j in range(len(side[0]["accuracy_matrix"][-1]))] for side in sides)
    curves = (_curves(treated_trials), _curves(control_trials))
    if is_floor([point for points in curves[1].values() for point in points]):
        return CellContrast(cell, contrast, comparisons, plasticity, final, {m.name: None for m in MEASURES}, {},
                            _against_floor(*curves), floor=True)
    matched = {measure.name: matched_difference(*curves, measure) for measure in MEASURES}
    names = tuple(side.strip() for side in contrast.name.split(" - "))
    unmatched = {measure.name: why for measure in MEASURES
                 if matched[measure.name] is None and (why := unmatched_reason(*curves, measure, names))}
    return CellContrast(cell, contrast, comparisons, plasticity, final, matched, unmatched,
                        _at_equal_lrs(*curves))


def _against_floor(treated: dict[int, list[Point]], floor: dict[int, list[Point]]) -> list[AtEqualLr]:
    """Each lr of the treated curve against the floor's run on the same seed."""
    floor_at = {seed: [replace(points[0], lr=point.lr) for point in treated.get(seed, [])]
                for seed, points in floor.items()}
    return _at_equal_lrs(treated, floor_at, FLOOR_METRICS)


def _at_equal_lrs(treated: dict[int, list[Point]], control: dict[int, list[Point]],
                  metrics: tuple[str, ...] = EQUAL_LR_METRICS) -> list[AtEqualLr]:
    """Treated minus control at each lr of both curves, over the seeds that ran it on both sides."""
    def at(curves):
        return {(point.lr, seed): point for seed, points in curves.items() for point in points}

    treated, control = at(treated), at(control)
    rows = []
    for lr in sorted({lr for lr, _ in treated} & {lr for lr, _ in control}):
        pairs = [(treated[key], control[key]) for key in sorted(set(treated) & set(control)) if key[0] == lr]
        if not pairs:
            continue
        differences = {}
        for metric in metrics:
            values = [(getattr(t, metric), getattr(c, metric)) for t, c in pairs]
            differences[metric] = (None if any(None in both for both in values)  # a one-task stream: no old tasks
                                   else mean_interval([a - b for a, b in values]))
        changed = tuple(_mean([getattr(pair[side], "fraction_changed") for pair in pairs]) for side in (0, 1))
        rows.append(AtEqualLr(lr, differences, changed))
    return rows


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _holm_per_family(results: list[CellContrast]) -> list[CellContrast]:
    """A metric's comparisons, or a matched measure's differences, over every cell and contrast form one family."""
    for metric in METRICS:
        corrected = holm_corrected([c.comparisons[metric] for c in results])
        for cell_contrast, comparison in zip(results, corrected):
            cell_contrast.comparisons[metric] = comparison
    for measure in MEASURES:
        tested = [c for c in results if c.matched[measure.name] and c.matched[measure.name].t_p is not None]
        for c, p_holm in zip(tested, holm([c.matched[measure.name].t_p for c in tested])):
            c.matched[measure.name] = replace(c.matched[measure.name], p_holm=p_holm)
    return results


def _pooled(results: list[CellContrast], contrasts: list[Contrast]) -> list[Pooled]:
    pooled = []
    for contrast in contrasts:
        for norm in ("updated", "frozen", "none"):
            cells = [c for c in results if c.contrast is contrast and c.cell.norm == norm]
            for metric in METRICS:
                usable = [c.comparisons[metric] for c in cells
                          if c.comparisons[metric] and c.comparisons[metric].difference.low is not None]
                if len(usable) >= 2:
                    pooled.append(_random_effects(contrast, norm, metric, usable))
            for measure in MEASURES:
                matched = [c.matched[measure.name].t.mean for c in cells
                           if c.matched[measure.name] and c.matched[measure.name].t]  # each cell's primary estimate
                if len(matched) >= 2:
                    estimate = mean_interval(matched)
                    p_value = None if len(set(matched)) == 1 else float(stats.ttest_1samp(matched, 0.0).pvalue)
                    pooled.append(Pooled(contrast, norm, f"matched {measure.name}", estimate, p_value, None))
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
