"""Human-readable tables of run records."""

from __future__ import annotations

from clbench.records import strategy_label

METRIC_ORDER = ("acc", "bwt", "fwt", "forgetting", "plasticity", "drift_l2", "fraction_changed", "output_kl")


def format_run(record: dict) -> str:
    tasks = record["tasks"]
    rows = [("before training", record["baseline_accuracy"])]
    rows += [(f"after {tasks[i]}", row) for i, row in enumerate(record["accuracy_matrix"])]
    label_width = max(len(label) for label, _ in rows)
    col_width = max(8, *(len(t) for t in tasks))
    lines = [
        f"{record['stream']} | {strategy_label(record)} | {record['backbone']} | seed {record['seed']}: "
        f"{record['status']} in {record['timing']['wall_s']:.1f} s",
        "accuracy (%)".ljust(label_width) + "".join(f"  {t:>{col_width}}" for t in tasks),
    ]
    for label, row in rows:
        lines.append(label.ljust(label_width) + "".join(f"  {v:>{col_width}.2f}" for v in row))
    lines.append("")
    lines.append("  ".join(f"{k} {_number(record['metrics'].get(k))}" for k in METRIC_ORDER))  # older: no output_kl
    if record.get("val_metrics"):
        lines.append("validation: " + "  ".join(f"{k} {_number(record['val_metrics'][k])}"
                                                for k in METRIC_ORDER if k in record["val_metrics"]))
    return "\n".join(lines)


def _number(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"


def mask_refresh_warning(record: dict) -> str | None:
    """One line when a masked optimizer drew fewer than 2 masks in some task: its mask then never
    followed the weights, unlike the paper's runs (about 20 masks per task)."""
    if "mask_interval" not in record["config"]:
        return None  # a mask drawn once a task by design (random_fixed), or none at all (dense_only)
    counts = record.get("mask_refreshes") or []
    few = [(task, count) for task, count in zip(record["tasks"], counts) if count is not None and count < 2]
    if not few:
        return None
    where = ", ".join(f"{count} in {task}" for task, count in few)
    interval = record["config"].get("mask_interval")
    return (f"the mask was drawn fewer than 2 times per task ({where}; mask_interval {interval}): lower it with "
            "--set mask_interval=N, or train longer")
