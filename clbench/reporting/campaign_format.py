"""`clbench analyze` output: a campaign's analysis as Markdown tables, or JSON."""

from __future__ import annotations

import json

from clbench.reporting.campaign import Analysis, CellContrast, Pooled, norm_stats
from clbench.reporting.drift import MEASURES as DRIFT_MEASURES
from clbench.reporting.leaderboard_format import comparison_data, estimate_data, holm_p_text, p_text
from clbench.reporting.matched import MEASURES, MatchedDifference
from clbench.reporting.plateau import PLATEAU_GAIN
from clbench.reporting.stats import Estimate


def markdown(analysis: Analysis, title: str) -> str:
    lines = [f"## {title}", "",
             _progress(analysis) + " Differences are treated minus control. On the reported runs: over the seeds "
             "both ran (mean [95% t-interval]); p: paired t-test, Holm-corrected over every cell and contrast of the "
             "metric, and the exact sign-flip permutation test (perm.). Plasticity: accuracy on each task right after "
             "learning it; final: accuracy on each task at the end. Matched, on the tuning curves averaged over their "
             "seeds: forgetting where both reach the same plasticity, and final old-task accuracy (the tasks before "
             "the last) where both reach the same final new-task accuracy, each at the most both reach (in "
             "parentheses) and, as a check that it does not hang on the curves' top points, averaged over the range "
             "both reach: the mean of the per-seed contrasts (each seed's own two curves) with its 95% t-interval, "
             "then in braces the difference of the seed-mean curves with the bootstrap interval over seeds (a check: "
             "with few seeds it spans about the range of the single seeds' values); p: the t-test over the per-seed "
             "contrasts, Holm-corrected over every cell and contrast of the measure. Where the t-interval holds 0, it "
             "still excludes every effect outside it: those sizes are ruled out.", "",
             f"Cost, the records' wall times summed: {analysis.run_hours:.2f} h for the {analysis.complete} runs and "
             f"{analysis.trial_hours:.2f} h for the {analysis.trials} tuning trials (runs that ran side by side "
             "overlap).", ""]
    for contrast in dict.fromkeys(c.contrast for c in analysis.cells if not c.floor):  # floors: their own table
        rows = [c for c in analysis.cells if c.contrast is contrast and not c.floor]
        paired = any(c.comparisons["forgetting"] for c in rows)  # else no reported run: the curves' columns alone
        lines += [f"### {contrast.name}", "",
                  "| stream | backbone | norm stats | "
                  + ("seeds | Δ forgetting | p (perm.) | Δ acc | p (perm.) | plasticity (treated / control) | "
                     "final per task (treated / control) | " if paired else "")
                  + "curve seeds | " + " | ".join(f"Δ {m.title} | p" for m in MEASURES) + " |",
                  "|---|---|---|" + "---|" * (7 * paired + 1) + "---|---|" * len(MEASURES)]
        lines += [_cell_row(c, paired) for c in rows]
        lines.append("")
    lines += _by_cell_lines(analysis) + _equal_lr_lines(analysis) + _floor_lines(analysis)
    if analysis.pooled:
        lines += ["### Pooled over cells", "",
                  "Random effects over the cells' mean differences: Paule-Mandel between-cell variance τ², "
                  "Hartung-Knapp interval (t with cells - 1 degrees of freedom, never narrower than the plain "
                  "random-effects one); matched measures: not random effects but the t-interval over the cells' means of their per-seed contrasts.", "",
                  "| contrast | norm stats | measure | cells | pooled difference [95%] | p | τ² |",
                  "|---|---|---|---|---|---|---|"]
        lines += [_pooled_row(p) for p in analysis.pooled]
        lines.append("")
    return "\n".join(lines + _drift_lines(analysis) + _plateau_lines(analysis))


def _progress(analysis: Analysis) -> str:
    if analysis.complete_as_trials and not analysis.complete:  # the sweep draws lr curves: its runs are trials
        return (f"{analysis.complete_as_trials} of the sweep's {analysis.planned} runs completed, as lr-curve trials; "
                f"{analysis.trials} trials of its settings drew the lr curves.")
    return (f"{analysis.complete} of {analysis.planned} runs of the sweep completed; {analysis.trials} of its tuning "
            "trials drew the lr curves.")


def _equal_lr_lines(analysis: Analysis) -> list[str]:
    """Each contrast at every lr both sides' curves ran: where the control differs in one thing only."""
    shown = [(c, row) for c in analysis.cells if not c.floor for row in c.at_equal_lr]
    if not shown:
        return []
    lines = ["### At equal learning rate", "",
             "On the tuning curves, at each lr both sides ran: the mean of the per-seed differences (treated minus "
             "control, same seed) with its 95% t-interval, and the share of the backbone's weights each side moved "
             "(seed mean). Not Holm-corrected: read the intervals.", "",
             "| stream | backbone | norm stats | contrast | lr | seeds | Δ plasticity | Δ forgetting | Δ acc | "
             "weights changed (treated / control) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c, row in shown:
        changed = " / ".join("–" if share is None else f"{100 * share:.1f}%" for share in row.changed)
        lines.append(f"| {c.cell.stream} | {c.cell.backbone} | {c.cell.norm} | {c.contrast.name} | {row.lr:g} | "
                     f"{row.differences['forgetting'].n} | "
                     + " | ".join(_interval(row.differences[m]) for m in ("plasticity", "forgetting", "acc"))
                     + f" | {changed} |")
    return lines + [""]


def _floor_lines(analysis: Analysis) -> list[str]:
    """What each lr of a curve gains over the floor, the frozen backbone, on the same seeds."""
    shown = [(c, row) for c in analysis.cells if c.floor for row in c.at_equal_lr]
    if not shown:
        return []
    lines = ["### Against the frozen backbone", "",
             "Each lr of a curve against the floor: the control that moved no backbone weight (the frozen backbone, "
             "its heads trained at its one lr), on the same seeds, so on the same data: the mean of the per-seed "
             "differences with its 95% t-interval. Old-task accuracy: the final accuracy on the tasks before the last. "
             "Not Holm-corrected: read the intervals.", "",
             "| stream | backbone | norm stats | contrast | lr | seeds | Δ plasticity | Δ forgetting | Δ acc | "
             "Δ final old-task accuracy | weights changed |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c, row in shown:
        changed = "–" if row.changed[0] is None else f"{100 * row.changed[0]:.1f}%"
        lines.append(f"| {c.cell.stream} | {c.cell.backbone} | {c.cell.norm} | {c.contrast.name} | {row.lr:g} | "
                     f"{row.differences['plasticity'].n} | "
                     + " | ".join(_interval(row.differences[m]) for m in ("plasticity", "forgetting", "acc", "old_acc"))
                     + f" | {changed} |")
    return lines + [""]


def _by_cell_lines(analysis: Analysis) -> list[str]:
    """The matched measures of every contrast, cell by cell: the layout a verdict reads."""
    shown = sorted((c for c in analysis.cells if any(c.matched.values()) or c.unmatched),
                   key=lambda c: (c.cell.norm != "updated", c.cell.stream, c.cell.backbone))
    if not shown:
        return []
    lines = ["### Matched measures by cell", "",
             "| stream | backbone | norm stats | contrast | " + " | ".join(f"Δ {m.title}" for m in MEASURES) + " |",
             "|---|---|---|---|" + "---|" * len(MEASURES)]
    for c in shown:
        lines.append(f"| {c.cell.stream} | {c.cell.backbone} | {c.cell.norm} | {c.contrast.name} | "
                     + " | ".join(_matched_text(c.matched[m.name]) for m in MEASURES) + " |")
    unmatched = [f"- {c.cell.stream} · {c.cell.backbone} · {c.cell.norm}, {c.contrast.name}, {m.title}: "
                 f"{c.unmatched[m.name]}" for c in shown for m in MEASURES if m.name in c.unmatched]
    if unmatched:
        lines += ["", "No common level, and what to run for one:", "", *unmatched]
    return lines + [""]


def _drift_lines(analysis: Analysis) -> list[str]:
    if not analysis.drift:
        return []
    names = {"drift_l2": "weights' l2 drift", "fraction_changed": "fraction of weights changed",
             "output_kl": "old heads' KL"}
    lines = ["### Which drift tracks forgetting", "",
             "Spearman's rho between forgetting and each drift measure over the runs and tuning trials of the cell "
             "(all strategies and seeds; n runs), each lr curve up to its highest plasticity (past it a run stops "
             "learning the new task); pooled: Fisher's z weighted by n - 3, standard error "
             "1.06 / sqrt(n - 3), 95% interval.", "",
             "| stream | backbone | norm stats | runs | " + " | ".join(f"rho, {names[m]}" for m in DRIFT_MEASURES) + " |",
             "|---|---|---|---|" + "---|" * len(DRIFT_MEASURES)]
    for cell, by_measure in analysis.drift:
        n = max(t.n for t in by_measure.values())
        rhos = " | ".join("–" if by_measure[m].rho is None else f"{by_measure[m].rho:+.2f}" for m in DRIFT_MEASURES)
        lines.append(f"| {cell.stream} | {cell.backbone} | {cell.norm} | {n} | {rhos} |")
    pooled = {p.measure: p for p in analysis.drift_pooled}
    if pooled:
        lines.append("| pooled | | | " + str(max(p.runs for p in pooled.values())) + " | " + " | ".join(
            f"{pooled[m].rho:+.2f} [{pooled[m].low:+.2f}, {pooled[m].high:+.2f}] ({pooled[m].cells} cells)"
            if m in pooled else "–" for m in DRIFT_MEASURES) + " |")
        best = max(pooled.values(), key=lambda p: p.rho)
        lines += ["", f"Tracks forgetting best, pooled: {names[best.measure]} (rho {best.rho:+.2f})."]
    return lines + [""]


def _plateau_lines(analysis: Analysis) -> list[str]:
    if not analysis.plateaus:
        return []
    lines = ["### How far did each strategy learn, and had the new tasks plateaued?", "",
             "The seed-mean plasticity at every lr of the curve (with its seeds where the lrs have run on unequal numbers "
             "of them so far), its top, and the share of the backbone's weights the "
             "runs there moved at all (seed mean). The last epoch's gain in the new task's "
             "validation accuracy, in points, task by task (in the stream's order), averaged over the seeds of each lr, "
             "on the rising branch of the lr curve (the lrs up to its top; past it a run stops learning for another "
             "reason; a curve of one or two lrs so far is read the same); – where the runs validated once a task. "
             f"Plateaued: every task under {PLATEAU_GAIN:g} point.",
             "",
             "| stream | backbone | norm stats | strategy | seeds | plasticity by lr | highest plasticity (lr) | "
             "weights changed there | last epoch's gain by lr, per task | plateaued at |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in analysis.plateaus:
        group = row.group
        norm = norm_stats(group.settings)
        uneven = len(set(row.seeds_by_lr.values())) > 1  # a sweep in progress: say what each mean rests on
        plasticity = ", ".join(f"{lr:g}: {value:.1f}" + (_seeds_text(row.seeds_by_lr[lr]) if uneven else "")
                               for lr, value in row.plasticity.items())
        gains = ", ".join(f"{lr:g}: " + " / ".join("–" if g is None else f"{g:+.1f}" for g in task_gains)
                          for lr, task_gains in row.gains.items()) or "–"
        plateaued = (", ".join(f"{lr:g}" for lr in row.plateaued_at) or "none") if row.gains else "–"
        changed = "–" if row.changed_at_peak is None else f"{100 * row.changed_at_peak:.1f}%"
        lines.append(f"| {group.stream} | {group.backbone} | {norm} | {row.strategy} | {row.seeds} | {plasticity} | "
                     f"{row.peak_plasticity:.1f} ({row.peak_lr:g}) | {changed} | {gains} | {plateaued} |")
    return lines + [""]


def _seeds_text(seeds: int) -> str:
    return f" ({seeds} seed{'s' * (seeds != 1)})"


def _interval(estimate: Estimate | None) -> str:
    if estimate is None:
        return "–"
    if estimate.low is None:
        return f"{estimate.mean:+.2f}"
    return f"{estimate.mean:+.2f} [{estimate.low:+.2f}, {estimate.high:+.2f}]"


def _cell_row(c: CellContrast, paired: bool) -> str:
    """The contrast in one cell: on the reported runs (where `paired`), then on the lr curves."""
    matched = [c.matched[m.name] for m in MEASURES]
    curve_seeds = max((len(m.seeds) for m in matched if m), default=0)
    return (f"| {c.cell.stream} | {c.cell.backbone} | {c.cell.norm} | " + (_paired_cells(c) if paired else "")
            + f"{curve_seeds} | " + " | ".join(f"{_matched_text(m)} | {_p(m.p_holm) if m else '–'}" for m in matched)
            + " |")


def _paired_cells(c: CellContrast) -> str:
    forgetting, acc = c.comparisons["forgetting"], c.comparisons["acc"]
    seeds = len(forgetting.seeds) if forgetting else 0
    plasticity = " / ".join(f"{side.mean:.1f}" for side in c.plasticity) if c.plasticity else "–"
    final = " / ".join(" ".join(f"{v:.1f}" for v in side) for side in c.final_accuracy) if c.final_accuracy else "–"
    return (f"{seeds} | {_interval(forgetting.difference if forgetting else None)} | {_p_text(forgetting)} | "
            f"{_interval(acc.difference if acc else None)} | {_p_text(acc)} | {plasticity} | {final} | ")


def _p_text(comparison) -> str:
    if comparison is None or comparison.p_holm is None:
        return "–"
    return f"{holm_p_text(comparison)} ({_p(comparison.p_permutation)})"


def _p(value: float | None) -> str:
    return "–" if value is None else p_text(value)


def _matched_text(m: MatchedDifference | None) -> str:
    if m is None:
        return "–"
    where = f"at {m.level:.1f}" if m.lowest is None else f"over {m.lowest:.1f}-{m.level:.1f}"
    curves = f"{m.difference:+.2f}" + ("" if m.low is None else f" [{m.low:+.2f}, {m.high:+.2f}]")
    if m.t is None or m.t.low is None:
        return f"{curves} ({where})"
    return f"{m.t.mean:+.2f} [{m.t.low:+.2f}, {m.t.high:+.2f}] {{{curves}}} ({where})"


def _pooled_row(p: Pooled) -> str:
    titles = {"forgetting": "Δ forgetting", "acc": "Δ acc", **{f"matched {m.name}": f"Δ {m.title}" for m in MEASURES}}
    measure = titles[p.metric]
    tau2 = "–" if p.tau2 is None else f"{p.tau2:.2f}"
    p_value = "–" if p.p_value is None else f"{p.p_value:.3g}"
    return (f"| {p.contrast.name} | {p.norm} | {measure} | {p.estimate.n} | {_interval(p.estimate)} | {p_value} | "
            f"{tau2} |")


def as_json(analysis: Analysis) -> str:
    return json.dumps({
        "complete": analysis.complete, "planned": analysis.planned, "complete_as_trials": analysis.complete_as_trials,
        "cost": {"run_hours": analysis.run_hours, "trials": analysis.trials, "trial_hours": analysis.trial_hours},
        "cells": [{"contrast": c.contrast.name, "stream": c.cell.stream, "backbone": c.cell.backbone,
                   "norm_stats": c.cell.norm, "settings": c.cell.settings,
                   **{metric: comparison_data(value) for metric, value in c.comparisons.items()},
                   "plasticity": None if c.plasticity is None else {"treated": estimate_data(c.plasticity[0]),
                                                                    "control": estimate_data(c.plasticity[1])},
                   "final_accuracy": None if c.final_accuracy is None else {"treated": c.final_accuracy[0],
                                                                            "control": c.final_accuracy[1]},
                   "matched": {name: None if m is None else {
                       "level": m.level, "lowest": m.lowest, "treated": m.treated, "control": m.control,
                       "difference": m.difference, "low": m.low, "high": m.high, "p_value": m.p_value, "p_holm": m.p_holm,
                       "seeds": list(m.seeds), "per_seed": list(m.per_seed),
                       "t": None if m.t is None else estimate_data(m.t), "t_p": m.t_p}
                       for name, m in c.matched.items()},
                   "unmatched": c.unmatched, "floor": c.floor,
                   "at_equal_lr": [{"lr": row.lr, "fraction_changed": {"treated": row.changed[0], "control": row.changed[1]},
                                    **{metric: estimate_data(e) for metric, e in row.differences.items()}}
                                   for row in c.at_equal_lr]}
                  for c in analysis.cells],
        "drift": [{"stream": cell.stream, "backbone": cell.backbone, "norm_stats": cell.norm,
                   **{m: {"rho": t.rho, "n": t.n} for m, t in by_measure.items()}} for cell, by_measure in analysis.drift],
        "drift_pooled": [{"measure": p.measure, "rho": p.rho, "low": p.low, "high": p.high, "cells": p.cells,
                          "runs": p.runs} for p in analysis.drift_pooled],
        "plateaus": [{"stream": row.group.stream, "backbone": row.group.backbone, "settings": row.group.settings,
                      "strategy": row.strategy, "seeds": row.seeds,
                      "peak": {"lr": row.peak_lr, "plasticity": row.peak_plasticity,
                               "fraction_changed": row.changed_at_peak},
                      "plasticity": [{"lr": lr, "plasticity": value, "seeds": row.seeds_by_lr.get(lr)}
                                     for lr, value in row.plasticity.items()],
                      "last_epoch_gain": [{"lr": lr, "per_task": list(gains)} for lr, gains in row.gains.items()]}
                     for row in analysis.plateaus],
        "pooled": [{"contrast": p.contrast.name, "norm_stats": p.norm, "measure": p.metric,
                    "estimate": estimate_data(p.estimate), "p_value": p.p_value, "tau2": p.tau2}
                   for p in analysis.pooled],
    }, indent=2) + "\n"
