"""Seconds from process start to the first training step of `clbench run --smoke`, and where they go.

    python benchmarks/startup.py                                    # the installed clbench, 5 starts
    git worktree add /tmp/before COMMIT                             # A/B against an older checkout:
    python benchmarks/startup.py --before /tmp/before --out results/benchmarks/startup.json

Each start is a fresh interpreter running clbench's entry point under `-X importtime`; a global
forward pre-hook stops it at the first forward pass in training mode with gradients on (the first
training step). The time is taken from just before the process starts, so it includes the
interpreter's own start (and -X importtime's small overhead). Import time is split by the package our code (or the child's top level)
imported: Avalanche's column holds everything importing Avalanche loaded. "not imports" is the rest:
reading data and weights, building the model and the strategy, evaluating before training.
--before DIR times DIR's clbench package (tasks and strategies as installed) in turns with the
installed one, so both see the same machine; the table gives the median of each.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.records import add_record_arguments, print_record_table, write_record  # noqa: E402

OURS = ("clbench", "clbench_tasks", "clbench_strategies")
COLUMNS = ("torch", "avalanche", "timm", "clbench")

# Runs in the child: the hook needs torch, which the run imports anyway; the rest is the entry point.
CHILD = """
import os, sys, time
import torch
def stop_at_first_training_step(module, inputs):
    if module.training and torch.is_grad_enabled():
        with open(os.environ["STARTUP_STAMP"], "w") as stamp:
            stamp.write(repr(time.time()))
        os._exit(0)
torch.nn.modules.module.register_module_forward_pre_hook(stop_at_first_training_step)
from clbench.cli import main
sys.argv = ["clbench", *sys.argv[1:]]
sys.exit(main())
"""

IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)")


def import_seconds(importtime_log: str) -> dict[str, float]:
    """Import seconds per package that asked for them: each module's own time goes to the package of
    the import our code (or the top level) made that brought it in."""
    modules = []  # (own seconds, depth, name), children before their parent, as -X importtime prints them
    for line in importtime_log.splitlines():
        if match := IMPORT_LINE.match(line):
            modules.append((int(match.group(1)) / 1e6, len(match.group(2)) // 2, match.group(3)))
    seconds: dict[str, float] = {}
    owner_at_depth: dict[int, str] = {}
    for own, depth, name in reversed(modules):  # parents first
        package = name.split(".")[0]
        parent = owner_at_depth.get(depth - 1, "clbench")
        owner = ("clbench" if package in OURS else package) if parent == "clbench" else parent
        owner_at_depth[depth] = owner
        seconds[owner] = seconds.get(owner, 0.0) + own
    return seconds


def one_start(source: Path | None, run_args: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        stamp = Path(scratch) / "stamp"
        env = {**os.environ, "STARTUP_STAMP": str(stamp)}
        started = time.time()
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", CHILD, "run", "--smoke", "--no-progress",
                               "--results", scratch, *run_args], env=env, capture_output=True, text=True,
                              cwd=source or scratch)  # `python -c` imports from its working directory first
        if not stamp.exists():
            raise SystemExit(f"startup: the run ended without a training step (exit {done.returncode}):\n"
                             f"{done.stderr[-2000:]}")
        total = float(stamp.read_text()) - started
    imports = import_seconds(done.stderr)
    row = {"total_s": total, **{f"{p}_s": imports.get(p, 0.0) for p in COLUMNS}}
    row["other_imports_s"] = sum(s for p, s in imports.items() if p not in COLUMNS)
    row["not_imports_s"] = total - sum(imports.values())
    return row


def checkout(directory: Path) -> str:
    """The commit checked out in `directory`, or its path when it is no git checkout."""
    done = subprocess.run(["git", "-C", str(directory), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else str(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, metavar="DIR", help="also time the clbench of this checkout")
    parser.add_argument("run_args", nargs="*", help="more `clbench run` arguments, after --")
    add_record_arguments(parser)
    args = parser.parse_args()
    if args.table:
        print_record_table(args.table, HEADER, table_row)
        return
    if args.before and not (args.before / "clbench" / "cli.py").is_file():
        raise SystemExit(f"startup: {args.before} holds no clbench/cli.py; give a checkout of clbench")
    sources = {"installed": None, **({f"before ({checkout(args.before)})": args.before.resolve()} if args.before else {})}
    for source in sources.values():
        one_start(source, args.run_args)  # warms the file cache
    starts: dict[str, list] = {label: [] for label in sources}
    for _ in range(args.repeats):
        for label, source in sources.items():
            starts[label].append(one_start(source, args.run_args))
    rows = [{"clbench": label, **{key: statistics.median(start[key] for start in runs) for key in runs[0]}}
            for label, runs in reversed(starts.items())]
    print(HEADER)
    for row in rows:
        print(table_row(row))
    write_record(args.out, "cpu", repeats=args.repeats, run_args=args.run_args, rows=rows, starts=starts)


HEADER = ("| clbench | to first step | imports: " + " | ".join(COLUMNS) + " | other imports | not imports |\n"
          + "|---" * (len(COLUMNS) + 4) + "|")


def table_row(row: dict) -> str:
    cells = [row["total_s"], *(row[f"{p}_s"] for p in COLUMNS), row["other_imports_s"], row["not_imports_s"]]
    return f"| {row['clbench']} | " + " | ".join(f"{seconds:.2f} s" for seconds in cells) + " |"


if __name__ == "__main__":
    main()
