"""Figures of the leaderboard tables (PNG): the accuracy matrix, every task's accuracy over the
stream, forgetting per strategy, and backbone drift per block of layers; and of lr curves: lr
sensitivity and the plasticity-forgetting plane."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

from clbench.assignments import value_text  # noqa: E402
from clbench.atomic import write_bytes_atomically  # noqa: E402
from clbench.records import file_stem  # noqa: E402
from clbench.reporting.curves import CurveGroup, Point, figure_stems, top_index  # noqa: E402
from clbench.reporting.leaderboard import Row, Table  # noqa: E402
from clbench.reporting.stats import Estimate, mean_interval  # noqa: E402


def plot_tables(tables: list[Table], out_dir: Path) -> list[Path]:
    """Writes four figures per table into out_dir; returns their paths."""
    written = []
    for table in tables:
        stem = _stem(table)
        colours = {row.label: plt.get_cmap("tab10")(i % 10) for i, row in enumerate(table.rows)}
        for name, draw in (("accuracy_matrix", _accuracy_matrix), ("task_accuracy", _task_accuracy),
                           ("forgetting", _forgetting), ("drift_per_block", _drift_per_block)):
            figure, caption = draw(table, colours)
            figure.suptitle(f"{table.title(' | ')}\n{caption}", fontsize=10)
            path = Path(out_dir) / f"{stem}__{name}.png"
            save_figure(figure, path)
            written.append(path)
    return written


def _stem(table: Table) -> str:
    settings = "_".join(f"{key}-{value}" for key, value in table.heading.items())
    kind = "methods" if table.methods else ""
    return file_stem(*filter(None, (table.stream, table.backbone, kind, settings)))


def save_figure(figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    write_bytes_atomically(path, buffer.getvalue())


def _mean_matrix(row: Row) -> list[list[float]]:
    """Accuracy before training (row 0) and after each task, averaged over the row's seeds."""
    matrices = [[r["baseline_accuracy"], *r["accuracy_matrix"]] for r in row.records]
    return [[sum(m[i][j] for m in matrices) / len(matrices) for j in range(len(matrices[0][0]))]
            for i in range(len(matrices[0]))]


def _accuracy_matrix(table: Table, colours):
    n = len(table.rows)
    columns = min(n, 3)
    lines = math.ceil(n / columns)
    size = 1.2 + 0.9 * len(table.tasks)
    figure, axes = plt.subplots(lines, columns, figsize=(columns * size + 2.5, lines * size + 1.2), squeeze=False,
                                layout="constrained")
    image = None
    for k, (ax, row) in enumerate(zip(axes.flat, table.rows)):
        matrix = _mean_matrix(row)
        image = ax.imshow(matrix, vmin=0, vmax=100, cmap="viridis")
        for i, values in enumerate(matrix):
            for j, value in enumerate(values):
                ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8,
                        color="black" if value > 60 else "white")
        ax.set_title(f"{row.label} ({len(row.records)} seeds)", fontsize=9)
        ax.set_xticks(range(len(table.tasks)), table.tasks, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(table.tasks) + 1),
                      ["before", *(f"after {t}" for t in table.tasks)] if k % columns == 0 else [], fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    figure.colorbar(image, ax=axes.ravel().tolist(), label="test accuracy (%), mean over seeds", shrink=0.8)
    return figure, "accuracy matrix: rows = after training on, columns = evaluated on"


def _task_accuracy(table: Table, colours):
    T = len(table.tasks)
    figure, axes = plt.subplots(1, T, figsize=(4.2 * T + 1.5, 3.8), squeeze=False, sharey=True, layout="constrained")
    stages = ["before", *(f"after {t}" for t in table.tasks)]
    for j, (ax, task) in enumerate(zip(axes.flat, table.tasks)):
        for row in table.rows:
            curves = [[r["baseline_accuracy"][j], *(line[j] for line in r["accuracy_matrix"])] for r in row.records]
            estimates = [mean_interval([c[i] for c in curves]) for i in range(len(stages))]
            means = [e.mean for e in estimates]
            errors = [e.half_width or 0.0 for e in estimates]
            ax.errorbar(range(len(stages)), means, yerr=errors, marker="o", capsize=3, label=row.label,
                        color=colours[row.label])
        ax.axvline(j + 1, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"accuracy on {task}", fontsize=9)
        ax.set_xticks(range(len(stages)), stages, rotation=20, ha="right", fontsize=8)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel("test accuracy (%)")
    figure.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside right center", fontsize=8)
    return figure, "every task over the stream: mean and 95% interval over seeds; dotted: trained on this task"


def _forgetting(table: Table, colours):
    rows = [row for row in table.rows if row.estimates.get("forgetting") is not None]
    figure, ax = plt.subplots(figsize=(1.1 * len(rows) + 2, 3.8), layout="constrained")
    for x, row in enumerate(rows):
        estimate = row.estimates["forgetting"]
        ax.bar(x, estimate.mean, color=colours[row.label], alpha=0.6,
               yerr=estimate.half_width or 0.0, capsize=5)
        seeds = [r["metrics"]["forgetting"] for r in row.records]
        ax.scatter([x] * len(seeds), seeds, color="black", s=10, zorder=3)
    ax.set_xticks(range(len(rows)), [f"{row.label}\n{len(row.records)} seed{'s' * (len(row.records) > 1)}"
                                      for row in rows], fontsize=8)
    ax.set_ylabel("forgetting (points of accuracy)")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    return figure, "forgetting: mean, 95% interval (bars) and each seed (dots)"


def layer_block(name: str) -> str:
    """The block a parameter belongs to: `blocks.3.1.conv_pw.weight` -> `blocks.3`, `conv_stem.weight` -> `conv_stem`."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 and parts[1].isdigit() else parts[0]


def block_drift(per_layer_l2: dict[str, float]) -> dict[str, float]:
    """The l2 distance of each block's parameters together, blocks in model order."""
    squares = defaultdict(float)
    for name, distance in per_layer_l2.items():
        squares[layer_block(name)] += distance ** 2
    return {block: math.sqrt(total) for block, total in squares.items()}


_MARKERS = "os^vDP*X"  # lines that coincide (AdamW and AdamW-8bit) stay distinguishable


def _drift_per_block(table: Table, colours):
    blocks = list(block_drift(table.rows[0].records[0]["drift_per_layer_l2"]))
    figure, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(blocks) + 3), 3.8), layout="constrained")
    for row in table.rows:
        per_seed = [block_drift(r["drift_per_layer_l2"]) for r in row.records]
        means = [sum(d.get(b, 0.0) for d in per_seed) / len(per_seed) for b in blocks]
        ax.plot(range(len(blocks)), means, marker=_MARKERS[table.rows.index(row) % len(_MARKERS)], markersize=4,
                label=row.label, color=colours[row.label], alpha=0.85)
    ax.set_xticks(range(len(blocks)), blocks, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("l2 distance from the start of the stream")
    ax.grid(alpha=0.3)
    figure.legend(*ax.get_legend_handles_labels(), loc="outside right center", fontsize=8)
    return figure, "backbone drift per block after the last task (mean over seeds), input side on the left"


def plot_curves(groups: list[CurveGroup], tables: list[Table], out_dir: Path, prefix: str = "") -> list[Path]:
    """Per group of lr curves: the lr sensitivity of validation accuracy, test accuracy and
    forgetting, and the plasticity-forgetting plane; the tuned choice (the runs of the matching
    tuned table) marked on both. `prefix` starts every file name (a sweep's, so that its figures
    do not replace those of other curves of the same stream and backbone)."""
    written = []
    named = figure_stems(prefix, [(group.stream, group.backbone, group.settings) for group in groups])
    for group, (stem, telling) in zip(groups, named):
        title = " · ".join([group.title(), *(f"{key}={value_text(value)}" for key, value in telling.items())])
        tuned = _tuned_rows(group, tables)
        colours = {strategy: plt.get_cmap("tab10")(i % 10)
                   for i, strategy in enumerate(sorted({*group.curves, *group.floors}))}
        for name, draw in (("lr_sensitivity", _lr_sensitivity), ("plasticity_forgetting", _plasticity_forgetting)):
            figure, caption = draw(group, tuned, colours)
            figure.suptitle(f"{title}\n{caption}", fontsize=10)
            path = Path(out_dir) / f"{stem}__{name}.png"
            save_figure(figure, path)
            written.append(path)
    return written


def _tuned_rows(group: CurveGroup, tables: list[Table]) -> dict[str, Row]:
    """The optimizers' rows at tuned settings with the curves' stream, backbone and run settings."""
    untuned = {key: value for key, value in group.settings.items() if key != "tuned"}
    return {row.strategy: row for table in tables
            if not table.methods and table.settings.get("tuned") and (table.stream, table.backbone) == (group.stream, group.backbone)
            and {k: v for k, v in table.settings.items() if k != "tuned"} == untuned
            for row in table.rows if row.records}


def _by_lr(seeds: dict[int, list[Point]], value) -> tuple[list[float], list[Estimate]]:
    """The curves' lrs and, at each, the estimate over the seeds that have a value there."""
    at = defaultdict(list)
    for points in seeds.values():
        for point in points:
            if (v := value(point)) is not None:
                at[point.lr].append(v)
    lrs = sorted(at)
    return lrs, [mean_interval(at[lr]) for lr in lrs]


def _lr_sensitivity(group: CurveGroup, tuned: dict[str, Row], colours):
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = (("validation accuracy (%)", lambda p: p.val_acc), ("test accuracy (%)", lambda p: p.acc),
              ("forgetting (points)", lambda p: p.forgetting))
    for ax, (label, value) in zip(axes, panels):
        for strategy, seeds in sorted(group.curves.items()):
            lrs, estimates = _by_lr(seeds, value)
            ax.errorbar(lrs, [e.mean for e in estimates], yerr=_error_bars(estimates), marker="o", ms=3, capsize=2,
                        color=colours[strategy], label=_curve_label(strategy, seeds))
            if strategy in tuned:
                ax.axvline(tuned[strategy].config["lr"][0], color=colours[strategy], ls=":", lw=1)
        for strategy, seeds in sorted(group.floors.items()):
            if (values := [v for points in seeds.values() for point in points if (v := value(point)) is not None]):
                ax.axhline(sum(values) / len(values), color=colours[strategy], ls="--", lw=1,
                           label=f"{_curve_label(strategy, seeds)}: the floor")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return figure, ("mean and 95% interval over seeds where there are several; dotted: the tuned lr "
                    "(chosen on validation accuracy)" + ("; dashed: the floor, the frozen backbone's mean at its "
                                                         "heads' lr" if group.floors else ""))


def _plasticity_forgetting(group: CurveGroup, tuned: dict[str, Row], colours):
    """Two Pareto planes of the lr curves: forgetting against plasticity, and final old-task accuracy
    against final new-task accuracy; seed means with their 95% intervals in both directions."""
    from clbench.reporting.curves import matched_plasticity

    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    panels = ((left, lambda p: p.plasticity, lambda p: p.forgetting, "plasticity", "forgetting"),
              (right, lambda p: p.new_acc, lambda p: p.old_acc, None, None))
    zooms = []
    for ax, x_of, y_of, x_metric, y_metric in panels:
        curves, floors = ({strategy: plane for strategy, seeds in sorted(drawn.items())
                           if (plane := _plane(seeds, x_of, y_of))} for drawn in (group.curves, group.floors))
        low = _rising_branches_low([*curves.values(), *floors.values()])
        for strategy, (_, xs, ys) in floors.items():
            ax.errorbar([x.mean for x in xs], [y.mean for y in ys], xerr=_error_bars(xs), yerr=_error_bars(ys),
                        marker="D", ms=6, capsize=2, elinewidth=0.8, ls="none", color=colours[strategy],
                        label=f"{_curve_label(strategy, group.floors[strategy])}: the floor")
        for strategy, (lrs, xs, ys) in curves.items():
            shown = [i for i, x in enumerate(xs) if low is None or x.mean >= low]
            ax.plot([x.mean for x in xs], [y.mean for y in ys], marker="o", ms=3, color=colours[strategy],
                    label=_curve_label(strategy, group.curves[strategy]))
            ax.errorbar([xs[i].mean for i in shown], [ys[i].mean for i in shown], xerr=_error_bars([xs[i] for i in shown]),
                        yerr=_error_bars([ys[i] for i in shown]), fmt="none", capsize=2, elinewidth=0.8,
                        color=colours[strategy])
            for lr, x, y in zip(lrs, xs, ys):
                ax.annotate(f"{lr:g}", (x.mean, y.mean), fontsize=6, color=colours[strategy],
                            xytext=(2, 2), textcoords="offset points")
            if strategy in tuned and x_metric:
                row = tuned[strategy]
                x = mean_interval([r["metrics"][x_metric] for r in row.records]).mean
                y = mean_interval([r["metrics"][y_metric] for r in row.records]).mean
                ax.plot([x], [y], marker="*", ms=14, color=colours[strategy], mec="black")
        if len(curves) >= 2:
            ax.axvline(min(max(x.mean for x in xs) for _, xs, _ in curves.values()), color="grey", ls="--", lw=1)
        zooms.append((ax, [*curves.values(), *floors.values()], low))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    matched = matched_plasticity(group)
    if matched is not None:
        left.axvline(matched.level, color="grey", ls=":", lw=1)
    left.set_xlabel("plasticity: accuracy on each task right after learning it (%)")
    left.set_ylabel("forgetting (points)")
    right.set_xlabel("final accuracy on the last task (%)")
    right.set_ylabel("final accuracy on the tasks before it (%)")
    for ax, curves, low in zooms:
        if low is not None:
            _zoom(ax, curves, low)
    return figure, ("each strategy's lr grid (labels: lr): mean over seeds and 95% interval in both directions; stars: "
                    "its tuned runs' mean;\ndashed: the most every seed-mean curve reaches, where clbench analyze "
                    "compares them (and over the range below it both reach); dotted: the highest plasticity every "
                    "single-seed curve reaches" + ("; diamond: the floor, the frozen backbone" if group.floors else ""))


def _plane(seeds: dict[int, list[Point]], x_of, y_of) -> tuple[list[float], list[Estimate], list[Estimate]] | None:
    """The lrs and, at each, the estimates of x and y over the seeds; None where some lr lacks one."""
    lrs, xs = _by_lr(seeds, x_of)
    ys = _by_lr(seeds, y_of)[1]
    return (lrs, xs, ys) if xs and len(xs) == len(ys) else None


def _curve_label(strategy: str, seeds: dict[int, list[Point]]) -> str:
    return f"{strategy} ({len(seeds)} seed{'s' * (len(seeds) > 1)})"


def _rising_branches_low(curves: list[tuple[list[float], list[Estimate], list[Estimate]]]) -> float | None:
    """Where the plane starts when an lr past a curve's top has collapsed (its x left of every
    curve's rising branch, the lrs up to the curve's top), which would otherwise squeeze every other
    point into a corner; None when no point lies left of them."""
    if not curves:
        return None
    rising = [x.mean for _, xs, _ in curves for x in xs[:top_index([estimate.mean for estimate in xs]) + 1]]
    low = min(rising)
    return low if any(x.mean < low for _, xs, _ in curves for x in xs) else None


def _zoom(ax, curves: list[tuple[list[float], list[Estimate], list[Estimate]]], low: float) -> None:
    """The plane from x = `low` rightwards, the y range of the points there; says what it leaves off."""
    points = [(x, y) for _, xs, ys in curves for x, y in zip(xs, ys)]
    shown = [y for x, y in points if x.mean >= low]
    high = max(x.mean for x, _ in points)
    bottom = min(y.mean if y.low is None else y.low for y in shown)
    top = max(y.mean if y.high is None else y.high for y in shown)
    ax.set_xlim(low - max(0.05 * (high - low), 0.5), high + max(0.05 * (high - low), 0.5))
    ax.set_ylim(bottom - max(0.05 * (top - bottom), 0.5), top + max(0.05 * (top - bottom), 0.5))
    off = len(points) - len(shown)
    ax.set_xlabel(f"{ax.get_xlabel()}\n(off the axis: {off} point{'s' * (off != 1)} past a curve's top, "
                  f"left of {low:.1f})")


def _error_bars(estimates: list[Estimate]) -> list[list[float]]:
    return [[e.mean - e.low if e.low is not None else 0 for e in estimates],
            [e.high - e.mean if e.high is not None else 0 for e in estimates]]
