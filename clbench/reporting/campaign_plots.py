"""Forest plots of a campaign's analysis (PNG): per contrast and metric (or matched measure), every
cell's difference with its 95% interval (matched measures: the t-interval over the per-seed
contrasts) and, below them, the pooled estimate of each norm setting."""

from __future__ import annotations

import re
from pathlib import Path

from clbench.reporting.campaign import METRICS, Analysis, CellContrast
from clbench.reporting.matched import MEASURES
from clbench.reporting.plots import plt, save_figure
from clbench.reporting.stats import Estimate

_LABELS = {"forgetting": "Δ forgetting (points)", "acc": "Δ average accuracy (points)",
           **{f"matched {m.name}": f"Δ {m.title} (points)" for m in MEASURES}}


def _difference(cell: CellContrast, metric: str) -> Estimate | None:
    if metric in METRICS:
        return cell.comparisons[metric].difference if cell.comparisons[metric] else None
    m = cell.matched[metric.removeprefix("matched ")]
    if m is None:
        return None
    return m.t if m.t is not None else Estimate(m.difference, None, None, len(m.seeds))  # the per-seed t-interval


def plot_analysis(analysis: Analysis, out_dir: Path, stem: str) -> list[Path]:
    written = []
    for contrast in dict.fromkeys(c.contrast for c in analysis.cells):
        cells = [c for c in analysis.cells if c.contrast is contrast]
        for metric in _LABELS:
            rows = [(f"{c.cell.stream} · {c.cell.backbone.replace('efficientnet_', '')} · norm {c.cell.norm}",
                     estimate, False) for c in cells if (estimate := _difference(c, metric)) is not None]
            rows += [(f"pooled, norm {p.norm} ({p.estimate.n} cells)", p.estimate, True) for p in analysis.pooled
                     if p.contrast is contrast and p.metric == metric]
            if not rows:
                continue
            figure, axes = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.2))
            for y, (label, estimate, pooled) in enumerate(reversed(rows)):
                if estimate.low is not None:
                    axes.plot([estimate.low, estimate.high], [y, y], color="black" if pooled else "tab:blue")
                axes.plot([estimate.mean], [y], "D" if pooled else "o", color="black" if pooled else "tab:blue")
            axes.axvline(0, color="grey", linestyle="--", linewidth=1)
            axes.set_yticks(range(len(rows)), [label for label, _, _ in reversed(rows)], fontsize=8)
            axes.set_xlabel(_LABELS[metric])
            axes.set_title(f"{contrast.name}: mean and 95% interval", fontsize=10)
            name = re.sub(r"[^A-Za-z0-9]+", "_", contrast.name).strip("_").lower()
            path = Path(out_dir) / f"{stem}__{name}__{metric.replace(' ', '_')}.png"
            save_figure(figure, path)
            written.append(path)
    return written
