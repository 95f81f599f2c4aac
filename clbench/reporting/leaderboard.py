"""The leaderboard: completed run records grouped into tables, with means over seeds, confidence
intervals, and paired tests against a baseline strategy on matched seeds.

A table holds the runs of one stream and backbone under the same run settings (epochs, image size,
BatchNorm handling, ...) and the same device and effective precision; a row is one strategy with one
configuration, over its seeds. The optimizers alone and the continual-learning methods get tables of
their own, so that adding methods leaves the optimizers' comparisons and their correction as they
were; a methods table repeats the optimizers alone that its methods train with, the baseline among
them. A run that diverged or failed is counted in its row, never in its means. The p-values of a
table's comparisons with the baseline are Holm-corrected together.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from clbench.config import RUN_DEFAULTS
from clbench.records import config_hash, is_method_run, load_records, strategy_label
from clbench.reporting.stats import Estimate, PairedComparison, holm_corrected, mean_interval, paired_comparison
from clbench.streams import STREAM_SETTINGS

# amp and channels_last as they took effect (CUDA only), with the device, not as requested
RUN_SETTINGS = tuple(key for key in (*RUN_DEFAULTS, *STREAM_SETTINGS) if key not in ("amp", "channels_last"))


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    better: str  # "higher" or "lower": which end is marked best
    value: Callable[[dict], float | None]


def columns(tasks: list[str], methods: bool) -> list[Column]:
    """The table's columns; `methods`: some row is a continual-learning method, with memory of its own."""
    final = [Column(f"final_{task}", f"final {task}", "higher",
                    lambda r, j=j: r["accuracy_matrix"][-1][j]) for j, task in enumerate(tasks)]
    return [
        Column("acc", "acc", "higher", lambda r: r["metrics"]["acc"]),
        Column("forgetting", "forgetting", "lower", lambda r: r["metrics"]["forgetting"]),
        Column("bwt", "bwt", "higher", lambda r: r["metrics"]["bwt"]),
        *final,
        Column("drift_l2", "drift l2", "lower", lambda r: r["metrics"]["drift_l2"]),
        Column("state_mb", "state MB", "lower", lambda r: max(r["optimizer_state_bytes"]) / 2**20),
        # what a continual-learning method holds: buffer, importances, stored weights or model
        *([Column("method_mb", "method MB", "lower", lambda r: max(r.get("method_state_bytes") or [0]) / 2**20)]
          if methods else []),
        Column("train_s", "train s", "lower", lambda r: sum(r["timing"]["train_s"]) if "timing" in r else None),
    ]


# The columns compared with the baseline by a paired test.
COMPARED = ("acc", "forgetting")


@dataclass
class Row:
    strategy: str
    label: str
    config: dict
    records: list[dict]  # completed runs: the means are theirs
    unfinished: list[dict] = field(default_factory=list)  # diverged or failed runs of the same configuration
    estimates: dict[str, Estimate | None] = field(default_factory=dict)
    versus_baseline: dict[str, PairedComparison | None] = field(default_factory=dict)
    best: set[str] = field(default_factory=set)

    @property
    def seeds(self) -> list[int]:
        return [r["seed"] for r in self.records]

    def unfinished_counts(self) -> dict[str, int]:
        """{"diverged": n, "failed": n} for the statuses that occur."""
        counts: dict[str, int] = defaultdict(int)
        for record in self.unfinished:
            counts[record["status"]] += 1
        return dict(sorted(counts.items()))

    def per_seed(self, column: Column) -> dict[int, float]:
        return {r["seed"]: v for r in self.records if (v := column.value(r)) is not None}


@dataclass
class Table:
    stream: str
    backbone: str
    tasks: list[str]
    settings: dict  # the run settings shared by every row
    heading: dict  # those of the settings that differ between this stream's tables
    columns: list[Column]
    rows: list[Row]
    baseline: Row | None
    methods: bool = False  # the continual-learning methods' table, else the optimizers alone
    comparisons: int = 0  # p-values Holm-corrected together

    def title(self, separator: str = " · ") -> str:
        settings = ", ".join(f"{key}={value}" for key, value in self.heading.items())
        kind = "continual-learning methods" if self.methods else ""
        return separator.join(filter(None, (self.stream, self.backbone, kind, settings)))


def load_tables(results: Path, stream: str | None, baseline: str = "adamw") -> tuple[list[Table], list[str], list[str]]:
    """The leaderboard tables of the records in `results` (none: no completed record), the files that
    were not records, and notes on what was left out."""
    records, problems = load_records(results)
    tables, notes = build_tables(records, baseline=baseline, stream=stream)
    return tables, problems, notes


def build_tables(records: list[dict], baseline: str = "adamw", stream: str | None = None) -> tuple[list[Table], list[str]]:
    """The leaderboard tables of the records, and notes on the runs that did not complete."""
    notes = []
    by_table: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        if stream is not None and record["stream"] != stream:
            continue
        if record["status"] != "completed":
            notes.append(f"{record['path']}: run {record['status']} ({record.get('error')}), counted in its row, "
                         "left out of the means")
        settings = table_settings(record)
        key = (record["stream"], record["backbone"], tuple(record["tasks"]), config_hash(settings))
        by_table[(*key, is_method_run(record))].append(record)

    for key in [key for key in by_table if key[-1]]:
        used = {record["optimizer"] for record in by_table[key]}
        by_table[key] += [record for record in by_table.get((*key[:-1], False), []) if record["strategy"] in used]
    tables = [_table(group, baseline, notes, methods=key[-1])
              for key, group in sorted(by_table.items(), key=lambda item: (*item[0][:3], item[0][-1]))]
    _set_headings(tables)
    return tables, notes


def table_settings(record: dict) -> dict:
    """The settings every run of a table shares: run and stream settings, whether a tuned-settings
    file chose the strategies' settings, device and effective precision."""
    return {**{key: record["config"].get(key) for key in RUN_SETTINGS}, "tuned": bool(record["config"].get("tuned")),
            **record["effective"]}


def _table(records: list[dict], baseline: str, notes: list[str], methods: bool) -> Table:
    first = records[0]
    settings = table_settings(first)
    cols = columns(first["tasks"], methods=methods)

    by_config: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r["seed"], r["path"])):
        group = by_config[strategy_label(record), config_hash(record["config"])]
        if any(r["seed"] == record["seed"] for r in group):
            notes.append(f"{record['path']}: a second record of seed {record['seed']} for the same "
                         "configuration, left out")
        else:
            group.append(record)
    rows = [Row(strategy, _tuned_label(strategy, group[0]["config"]), group[0]["config"],
                [r for r in group if r["status"] == "completed"], [r for r in group if r["status"] != "completed"])
            for (strategy, _), group in sorted(by_config.items())]
    _label_variants(rows)

    for row in rows:
        for column in cols:
            values = list(row.per_seed(column).values())
            row.estimates[column.key] = mean_interval(values) if values else None

    baselines = [row for row in rows if row.strategy == baseline]
    reference = max(baselines, key=lambda row: len(row.records), default=None)
    if len(baselines) > 1 and not methods:  # a methods table repeats the optimizers table's choice
        notes.append(f"{first['stream']} / {first['backbone']}: {len(baselines)} configurations of the baseline "
                     f"{baseline}; compared against {reference.label}, the one with most seeds")
    if reference is not None:
        for row in rows:
            for column in (c for c in cols if c.key in COMPARED):
                row.versus_baseline[column.key] = (
                    None if row is reference else paired_comparison(row.per_seed(column), reference.per_seed(column)))
    compared = [(row, key) for row in rows for key in row.versus_baseline]
    corrected = holm_corrected([row.versus_baseline[key] for row, key in compared])
    for (row, key), comparison in zip(compared, corrected):
        row.versus_baseline[key] = comparison
    tested = sum(c is not None and c.p_holm is not None for c in corrected)

    for column in cols:
        means = {id(row): est.mean for row in rows if (est := row.estimates[column.key]) is not None}
        if means:
            best = max(means.values()) if column.better == "higher" else min(means.values())
            for row in rows:
                if means.get(id(row)) == best:
                    row.best.add(column.key)
    return Table(first["stream"], first["backbone"], list(first["tasks"]), settings, {}, cols, rows, reference,
                 methods, tested)


def _tuned_label(strategy: str, config: dict) -> str:
    """A strategy at tuned settings shows the learning rate tuning chose for it."""
    if not config.get("tuned"):
        return strategy
    lrs = config.get("lr") or []
    return f"{strategy} (lr {lrs[0]:g})" if lrs and len(set(lrs)) == 1 else f"{strategy} (lr {', '.join(map(str, lrs))})"


def _label_variants(rows: list[Row]) -> None:
    """A strategy with several configurations in one table gets the settings that tell them apart."""
    by_strategy = defaultdict(list)
    for row in rows:
        by_strategy[row.strategy].append(row)
    for variants in by_strategy.values():
        if len(variants) > 1:
            differing = differing_keys([row.config for row in variants])
            for row in variants:
                row.label = f"{row.strategy} (" + ", ".join(f"{k}={row.config.get(k)}" for k in differing) + ")"


def _set_headings(tables: list[Table]) -> None:
    by_stream = defaultdict(list)
    for table in tables:
        by_stream[table.stream, table.backbone].append(table)
    for group in by_stream.values():
        differing = differing_keys([table.settings for table in group])
        for table in group:
            table.heading = {key: table.settings[key] for key in differing}


def differing_keys(configs: list[dict]) -> list[str]:
    keys = sorted(set().union(*configs))
    return [key for key in keys if len({repr(config.get(key)) for config in configs}) > 1]
