"""NanoAdam's step against its density on one timm structure, beside a dense pass over the same
tensors: what scattered access costs on this hardware.

    python benchmarks/nanoadam_density.py
    python benchmarks/nanoadam_density.py --out results/benchmarks/nanoadam-density-cpu.json
    python benchmarks/nanoadam_density.py --table results/benchmarks/nanoadam-density-cpu.json

A masked step reads the selected gradients and adds to the selected weights (one gather and one
scatter per masked tensor). Were its memory traffic proportional to the entries it selects, it
would cost about the density times a dense pass over the masked tensors; but memory moves in cache
lines (64 bytes, 16 fp32 entries), and on a CPU the hardware prefetcher fetches lines around those
asked for. Each row, in one run: NanoAdam's step at that density (median over the timed steps; no
mask refresh among them, benchmarks/optimizers.py times it), the share of the masked tensors' cache
lines its mask touches (from its mask indices), the dense pass `p += 0 * g` over the masked tensors
(every line of their weights and gradients read, the weights' written back, as the gather and the
scatter do), and torch AdamW's step, foreach and fused.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.optimizers import BASELINES, call_seconds, make_model, optimizers  # noqa: E402
from benchmarks.records import add_record_arguments, print_record_table, write_record  # noqa: E402
from clbench.optim import NanoAdam  # noqa: E402
from clbench.optim.param_groups import masked_param_groups  # noqa: E402

DENSITIES = "0.001,0.002,0.005,0.01,0.02,0.05,0.1"
LINE_ENTRIES = 16  # fp32 entries in a 64-byte cache line
TABLE_HEADER = ("| model | density | selected | lines touched | step ms | x dense pass | x AdamW foreach "
                "| x AdamW fused | ns per selected entry |\n" + "|---" * 9 + "|")


def median_seconds(run, steps: int) -> float:
    """The median of `steps` timed calls of run(), after one untimed."""
    run()
    return statistics.median(call_seconds(run, steps))


def lines_touched(optimizer: NanoAdam, params: list[torch.Tensor]) -> float:
    """The share of the tensors' cache lines that hold at least one selected entry."""
    touched = sum(optimizer.mask_index(p).div(LINE_ENTRIES, rounding_mode="floor").unique().numel() for p in params)
    return touched / sum(-(-p.numel() // LINE_ENTRIES) for p in params)


def table_row(row: dict) -> str:
    return (f"| {row['model']} | {row['density']:g} | {row['selected']} | {row['lines_touched']:.1%} "
            f"| {row['step_ms']:.2f} | {row['dense_ratio']:.3f} | {row['time_ratio']:.3f} "
            f"| {row['fused_time_ratio']:.3f} | {row['ns_per_entry']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_base_patch16_224", help="a timm model name")
    parser.add_argument("--densities", default=DENSITIES, help="comma-separated, each in (0, 1]")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row")
    add_record_arguments(parser)
    args = parser.parse_args()
    if args.table:
        return print_record_table(args.table, TABLE_HEADER, table_row)
    densities = [float(part) for part in args.densities.split(",")]
    if not all(0 < density <= 1 for density in densities):
        sys.exit(f"error: --densities {args.densities!r}: each must be in (0, 1]")

    model = make_model(args.model, "cpu")
    baselines = optimizers(mask_interval=100)
    adamw_seconds = {}
    for name in BASELINES:
        adamw = baselines[name][0](model)
        adamw_seconds[name] = median_seconds(adamw.step, args.steps)
        del adamw
        gc.collect()
    foreach, fused = adamw_seconds.values()
    params = [p for group in masked_param_groups(model) if group["masked"] for p in group["params"]]
    grads = [p.grad for p in params]
    with torch.no_grad():
        dense_seconds = median_seconds(lambda: torch._foreach_add_(params, grads, alpha=0.0), args.steps)

    rows = []
    print(TABLE_HEADER)
    for density in densities:
        optimizer = NanoAdam(masked_param_groups(model), lr=1e-3, density=density, mask_interval=10**9)
        seconds = median_seconds(optimizer.step, args.steps)  # the first step takes the mask
        selected = sum(optimizer.mask_index(p).numel() for p in params)
        row = dict(model=args.model, density=density, selected=selected,
                   lines_touched=lines_touched(optimizer, params), step_ms=1e3 * seconds,
                   dense_pass_ms=1e3 * dense_seconds, dense_ratio=seconds / dense_seconds,
                   adamw_foreach_ms=1e3 * foreach, time_ratio=seconds / foreach,
                   adamw_fused_ms=1e3 * fused, fused_time_ratio=seconds / fused,
                   ns_per_entry=1e9 * seconds / selected)
        rows.append(row)
        print(table_row(row), flush=True)
        del optimizer
        gc.collect()
    print(f"dense pass over the {len(params)} masked tensors: {1e3 * dense_seconds:.2f} ms; "
          f"AdamW step: {1e3 * foreach:.2f} ms foreach, {1e3 * fused:.2f} ms fused")
    write_record(args.out, "cpu", rows=rows)


if __name__ == "__main__":
    main()
