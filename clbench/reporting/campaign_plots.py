"""Forest plots of a campaign's analysis (PNG): per contrast and metric, every cell's difference
with its 95% interval and, below them, the pooled estimate of each norm setting."""

from __future__ import annotations

import re
from pathlib import Path

from clbench.reporting.campaign import METRICS, Analysis
from clbench.reporting.plots import plt, save_figure

_LABELS = {"forgetting": "Δ forgetting (points)", "acc": "Δ average accuracy (points)"}


def plot_analysis(analysis: Analysis, out_dir: Path, stem: str) -> list[Path]:
    written = []
    for contrast in dict.fromkeys(c.contrast for c in analysis.cells):
        cells = [c for c in analysis.cells if c.contrast is contrast]
        for metric in METRICS:
            rows = [(f"{c.cell.stream} · {c.cell.backbone.replace('efficientnet_', '')} · norm {c.cell.norm}",
                     c.comparisons[metric].difference, False) for c in cells if c.comparisons[metric]]
            rows += [(f"pooled, norm {p.norm} ({p.estimate.n} cells)", p.estimate, True) for p in analysis.pooled
                     if p.contrast is contrast and p.metric == metric]
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
            path = Path(out_dir) / f"{stem}__{name}__{metric}.png"
            save_figure(figure, path)
            written.append(path)
    return written
