"""`clbench analyze` output: a campaign's analysis as Markdown tables, or JSON."""

from __future__ import annotations

import json

from clbench.reporting.campaign import Analysis, CellContrast, Pooled
from clbench.reporting.leaderboard_format import comparison_data, estimate_data, holm_p_text
from clbench.reporting.stats import Estimate


def markdown(analysis: Analysis, title: str) -> str:
    lines = [f"## {title}", "",
             f"{analysis.complete} of {analysis.planned} runs of the sweep completed. Differences are treated minus "
             "control over the seeds both ran (mean [95% interval]); p: paired t-test, Holm-corrected over every cell "
             "and contrast of the metric. Plasticity: accuracy on each task right after learning it; final: accuracy "
             "on each task at the end. Matched: forgetting where both tuning curves (seed 100) reach the same "
             "plasticity.", "",
             f"Cost, the records' wall times summed: {analysis.run_hours:.2f} h for the {analysis.complete} runs and "
             f"{analysis.trial_hours:.2f} h for the {analysis.trials} tuning trials that chose their settings (runs "
             "that ran side by side overlap).", ""]
    for contrast in dict.fromkeys(c.contrast for c in analysis.cells):
        lines += [f"### {contrast.name}", "",
                  "| stream | backbone | norm stats | seeds | Δ forgetting | p | Δ acc | p | plasticity (treated / "
                  "control) | final per task (treated / control) | Δ forgetting matched (at plasticity) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [_cell_row(c) for c in analysis.cells if c.contrast is contrast]
        lines.append("")
    if analysis.pooled:
        lines += ["### Pooled over cells", "",
                  "Random effects over the cells' mean differences: Paule-Mandel between-cell variance τ², "
                  "Hartung-Knapp interval (t with cells - 1 degrees of freedom, never narrower than the plain "
                  "random-effects one); matched: the t-interval over cells.", "",
                  "| contrast | norm stats | measure | cells | pooled difference [95%] | p | τ² |",
                  "|---|---|---|---|---|---|---|"]
        lines += [_pooled_row(p) for p in analysis.pooled]
        lines.append("")
    return "\n".join(lines)


def _interval(estimate: Estimate | None) -> str:
    if estimate is None:
        return "–"
    if estimate.low is None:
        return f"{estimate.mean:+.2f}"
    return f"{estimate.mean:+.2f} [{estimate.low:+.2f}, {estimate.high:+.2f}]"


def _cell_row(c: CellContrast) -> str:
    forgetting, acc = c.comparisons["forgetting"], c.comparisons["acc"]
    seeds = len(forgetting.seeds) if forgetting else 0
    treated, control = c.plasticity
    final = " / ".join(" ".join(f"{v:.1f}" for v in side) for side in c.final_accuracy)
    matched = f"{c.matched.difference:+.2f} (at {c.matched.level:.1f})" if c.matched else "–"
    return (f"| {c.cell.stream} | {c.cell.backbone} | {c.cell.norm} | {seeds} | "
            f"{_interval(forgetting.difference if forgetting else None)} | {holm_p_text(forgetting) or '–'} | "
            f"{_interval(acc.difference if acc else None)} | {holm_p_text(acc) or '–'} | "
            f"{treated.mean:.1f} / {control.mean:.1f} | "
            f"{final} | {matched} |")


def _pooled_row(p: Pooled) -> str:
    measure = {"forgetting": "Δ forgetting", "acc": "Δ acc", "matched": "Δ forgetting matched"}[p.metric]
    tau2 = "–" if p.tau2 is None else f"{p.tau2:.2f}"
    p_value = "–" if p.p_value is None else f"{p.p_value:.3g}"
    return (f"| {p.contrast.name} | {p.norm} | {measure} | {p.estimate.n} | {_interval(p.estimate)} | {p_value} | "
            f"{tau2} |")


def as_json(analysis: Analysis) -> str:
    return json.dumps({
        "complete": analysis.complete, "planned": analysis.planned,
        "cost": {"run_hours": analysis.run_hours, "trials": analysis.trials, "trial_hours": analysis.trial_hours},
        "cells": [{"contrast": c.contrast.name, "stream": c.cell.stream, "backbone": c.cell.backbone,
                   "norm_stats": c.cell.norm, "settings": c.cell.settings,
                   **{metric: comparison_data(value) for metric, value in c.comparisons.items()},
                   "plasticity": {"treated": estimate_data(c.plasticity[0]), "control": estimate_data(c.plasticity[1])},
                   "final_accuracy": {"treated": c.final_accuracy[0], "control": c.final_accuracy[1]},
                   "matched": None if c.matched is None else {"level": c.matched.level, "treated": c.matched.treated,
                                                              "control": c.matched.control}}
                  for c in analysis.cells],
        "pooled": [{"contrast": p.contrast.name, "norm_stats": p.norm, "measure": p.metric,
                    "estimate": estimate_data(p.estimate), "p_value": p.p_value, "tau2": p.tau2}
                   for p in analysis.pooled],
    }, indent=2) + "\n"
