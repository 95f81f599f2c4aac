"""Where an optimizer's step spends its time on CPU: the top-level aten operations of its step under
torch.profiler, each against the whole step of torch AdamW (foreach) measured in the same run.

    python benchmarks/step_profile.py                       # NanoAdam and MicroAdam on ViT-B/16 and Lite0
    python benchmarks/step_profile.py --out results/benchmarks/step-profile-cpu.json
    python benchmarks/step_profile.py --table results/benchmarks/step-profile-cpu.json

The optimizers and models are those of benchmarks/optimizers.py (random init, a 10-class head, fixed
random gradients). "step ms" is the median of the timed steps without the profiler; an operation's
"ms" is the time of its calls per profiled step (the aten operations they call included), its
share that of the profiled step, and "between the calls" the profiled step's time that no top-level
aten call took (Python, and the profiler's own cost per call).
NanoAdam's steps here take no mask refresh (benchmarks/optimizers.py times it). On a GPU the number
that matters is the aten calls of benchmarks/optimizers.py (one launch each), not this split.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.optimizers import BASELINES, call_seconds, make_model, optimizers  # noqa: E402
from benchmarks.records import add_record_arguments, print_record_table, write_record  # noqa: E402
from clbench.optim.op_count import profiled_events, top_level_aten  # noqa: E402

BETWEEN_CALLS = "between the calls"
MASK_INTERVAL = 100  # NanoAdam's, as in benchmarks/optimizers.py; the steps here stay inside its first interval
TABLE_HEADER = ("| model | optimizer | step ms | x AdamW foreach | operation | calls | ms | share of step "
                "| x AdamW foreach step |\n" + "|---" * 9 + "|")


def step_seconds(optimizer, steps: int) -> float:
    return statistics.median(call_seconds(optimizer.step, steps))


def profiled_step(optimizer, steps: int) -> tuple[float, dict[str, tuple[float, float]]]:
    """Seconds of a step under the profiler, and name -> (calls, seconds) per step of its
    top-level aten operations."""
    events = profiled_events(lambda: [optimizer.step() for _ in range(steps)])
    step = sum(event.cpu_time_total for event in events if event.name.startswith("Optimizer.step#")) / 1e6
    totals = defaultdict(lambda: [0, 0.0])
    for event in top_level_aten(events):
        totals[event.name][0] += 1
        totals[event.name][1] += event.cpu_time_total / 1e6
    return step / steps, {name: (calls / steps, seconds / steps) for name, (calls, seconds) in totals.items()}


def profile_rows(model_name: str, name: str, optimizer, steps: int, baseline: float, top: int) -> list[dict]:
    optimizer.step()  # warm-up: allocates the state (and takes NanoAdam's first mask)
    seconds = step_seconds(optimizer, steps)
    profiled, operations = profiled_step(optimizer, steps)
    operations = sorted(operations.items(), key=lambda item: -item[1][1])
    shown = operations[:top]
    rest = operations[top:]
    if rest:
        shown.append((f"{len(rest)} other aten operations",
                      (sum(calls for _, (calls, _) in rest), sum(s for _, (_, s) in rest))))
    shown.append((BETWEEN_CALLS, (0, profiled - sum(s for _, (_, s) in operations))))
    return [dict(model=model_name, optimizer=name, step_ms=1e3 * seconds, time_ratio=seconds / baseline,
                 profiled_step_ms=1e3 * profiled, operation=operation, calls=calls, ms=1e3 * op_seconds,
                 share=op_seconds / profiled, baseline_ratio=op_seconds / baseline)
            for operation, (calls, op_seconds) in shown]


def table_row(row: dict) -> str:
    return (f"| {row['model']} | {row['optimizer']} | {row['step_ms']:.2f} | {row['time_ratio']:.3f} "
            f"| {row['operation']} | {row['calls']:g} | {row['ms']:.2f} | {row['share']:.1%} "
            f"| {row['baseline_ratio']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="vit_base_patch16_224,efficientnet_lite0",
                        help="timm model names, comma-separated")
    parser.add_argument("--optimizers", default="NanoAdam 1%,MicroAdam (ours) 1%",
                        help="prefixes of benchmarks/optimizers.py's rows, comma-separated")
    parser.add_argument("--steps", type=int, default=5, help="timed steps, then as many profiled")
    parser.add_argument("--top", type=int, default=6, help="operations shown per optimizer; the rest in one row")
    add_record_arguments(parser)
    args = parser.parse_args()
    if args.table:
        return print_record_table(args.table, TABLE_HEADER, table_row)
    if not 0 < args.steps < MASK_INTERVAL // 2:
        sys.exit(f"error: --steps {args.steps} must be between 1 and {MASK_INTERVAL // 2 - 1}, "
                 "so that NanoAdam refreshes no mask in the timed and profiled steps")
    wanted = [part.strip() for part in args.optimizers.split(",")]
    factories = optimizers(MASK_INTERVAL)
    chosen = {name: factory for name, (factory, _) in factories.items()
              if any(name.startswith(prefix) for prefix in wanted)}
    if not chosen:
        sys.exit(f"error: no optimizer row starts with {args.optimizers!r}; "
                 f"choose from: {', '.join(factories)}")

    rows = []
    print(TABLE_HEADER)
    for model_name in args.models.split(","):
        model = make_model(model_name, "cpu")
        adamw = factories[BASELINES[0]][0](model)
        adamw.step()
        baseline = step_seconds(adamw, args.steps)
        del adamw
        for name, factory in chosen.items():
            for row in profile_rows(model_name, name, factory(model), args.steps, baseline, args.top):
                rows.append(row)
                print(table_row(row), flush=True)
            gc.collect()
        del model
        gc.collect()
    write_record(args.out, "cpu", baseline=BASELINES[0], rows=rows)


if __name__ == "__main__":
    main()
