"""Within each continual-learning method, another optimizer against the baseline optimizer: does
`ewc + nanoadam` forget less than `ewc + adamw`? Paired over the seeds both rows have."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from clbench.records import is_method_run
from clbench.reporting.leaderboard import COMPARED, Row, Table
from clbench.reporting.stats import PairedComparison, holm_corrected, paired_comparison

ALONE = "none"  # the method of an optimizer run alone


@dataclass(frozen=True)
class OptimizerSwap:
    method: str  # a method's strategy name, or "none" for the optimizers alone
    optimizer: str
    versus: dict[str, PairedComparison | None]  # acc and forgetting: this row minus the baseline optimizer's


@dataclass(frozen=True)
class SwapSection:
    table: Table
    baseline: str
    swaps: list[OptimizerSwap]


def optimizer_swaps(table: Table, baseline: str = "adamw") -> SwapSection | None:
    """For every method (and the optimizers alone) run with the baseline optimizer and another, the
    other's paired difference in acc and forgetting, Holm-corrected over the section. None for a
    table of the optimizers alone; a method with several configurations with one optimizer is left out."""
    if not table.methods:
        return None
    by_method: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for row in table.rows:
        if row.records:
            method, optimizer = _method_and_optimizer(row.records[0])
            by_method[method][optimizer].append(row)
    columns = {column.key: column for column in table.columns}
    swaps = []
    for method, rows in sorted(by_method.items()):
        reference = rows.get(baseline, [])
        for optimizer, others in sorted(rows.items()):
            if optimizer == baseline or len(reference) != 1 or len(others) != 1:
                continue
            swaps.append(OptimizerSwap(method, optimizer, {
                key: paired_comparison(others[0].per_seed(columns[key]), reference[0].per_seed(columns[key]))
                for key in COMPARED}))
    corrected = iter(holm_corrected([swap.versus[key] for swap in swaps for key in COMPARED]))
    swaps = [OptimizerSwap(s.method, s.optimizer, {key: next(corrected) for key in COMPARED}) for s in swaps]
    return SwapSection(table, baseline, swaps) if swaps else None


def _method_and_optimizer(record: dict) -> tuple[str, str]:
    if is_method_run(record):
        return record["strategy"], record["optimizer"]
    return ALONE, record["strategy"]
