"""Human-readable tables of run records."""

from __future__ import annotations

METRIC_ORDER = ("acc", "bwt", "fwt", "forgetting", "plasticity", "drift_l2", "fraction_changed")


def format_run(record: dict) -> str:
    tasks = record["tasks"]
    rows = [("before training", record["baseline_accuracy"])]
    rows += [(f"after {tasks[i]}", row) for i, row in enumerate(record["accuracy_matrix"])]
    label_width = max(len(label) for label, _ in rows)
    col_width = max(8, *(len(t) for t in tasks))
    lines = [
        f"{record['stream']} | {record['strategy']} | {record['backbone']} | seed {record['seed']}: "
        f"{record['status']} in {record['timing']['wall_s']:.1f} s",
        "accuracy (%)".ljust(label_width) + "".join(f"  {t:>{col_width}}" for t in tasks),
    ]
    for label, row in rows:
        lines.append(label.ljust(label_width) + "".join(f"  {v:>{col_width}.2f}" for v in row))
    lines.append("")
    lines.append("  ".join(f"{k} {_number(record['metrics'][k])}" for k in METRIC_ORDER))
    return "\n".join(lines)


def _number(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
