"""`clbench sweep FILE.toml`: plan the file's runs, skip the completed ones, run the rest through an
executor with one overall progress bar, and keep the manifest and summary of what happened."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from clbench.errors import UsageError
from clbench.records import is_completed
from clbench.sweeps.executors import EXECUTORS, Job, Outcome, Placement
from clbench.sweeps.manifest import Manifest, log_path, sweep_manifest
from clbench.run import RunOptions, RunSpec
from clbench.sweeps.spec import load_sweep, matches


def plan(sweep_file: Path, results: Path, only: list[str]) -> tuple[list[RunSpec], set[Path]]:
    """The sweep's runs (those that every KEY=V1,V2 of `only` selects), and the records among them
    that are already complete."""
    runs = load_sweep(sweep_file, results)
    for selection in only:
        key, sep, values = selection.partition("=")
        if not sep or not values:
            raise UsageError(f"--only {selection!r} is not KEY=VALUE[,VALUE...]; e.g. --only strategy=adamw,nanoadam")
        runs = [run for run in runs if matches(run, key.strip(), [v.strip() for v in values.split(",")])]
        if not runs:
            raise UsageError(f"--only {selection} selects no run of {sweep_file}; see clbench sweep {sweep_file} "
                             "--dry-run")
    return runs, {run.record for run in runs if is_completed(run.record)}


def dry_run(sweep_file: Path, results: Path, only: list[str], options: RunOptions) -> int:
    runs, complete = plan(sweep_file, results, only)
    for run in runs:
        mark = "complete" if run.record in complete else "to run  "
        print(f"{mark}  {run.label()}")
    shared = " ".join(options.run_args())
    print(f"{len(runs)} runs: {len(complete)} complete, {len(runs) - len(complete)} to run"
          + (f" (each with {shared})" if shared else ""))
    return 0


def run_sweep(sweep_file: Path, results: Path, only: list[str], executor: str, placement: Placement,
              options: RunOptions) -> int:
    """Runs what is missing; 0 when every run of the sweep has a completed record at the end."""
    runs, complete = plan(sweep_file, results, only)
    manifest = sweep_manifest(sweep_file, results, executor, runs, complete)
    interrupted = run_planned(runs, complete, manifest, executor, placement, options)
    print(manifest.summary())
    if interrupted:
        print("clbench: sweep interrupted; run the same command again to finish the missing runs", file=sys.stderr)
        return 130
    return 0 if manifest.all_completed() else 1


def run_planned(runs: list[RunSpec], complete: set[Path], manifest: Manifest, executor: str, placement: Placement,
                options: RunOptions) -> bool:
    """Runs those of `runs` whose records are not in `complete` through the executor, keeping the
    manifest up to date. True when interrupted (Ctrl-C or SIGTERM): the runs are then stopped."""
    results = manifest.results
    manifest.save()
    by_record = {run.record.resolve(): run for run in runs}
    worker_options = replace(options, skip_completed=True, progress=False)  # completed by another worker: kept
    jobs = [Job(replace(run, record=run.record.resolve()), worker_options, log_path(results, run).resolve())
            for run in runs if run.record not in complete]
    bar = tqdm(total=len(jobs), unit="run", desc=manifest.title.split()[0], file=sys.stderr,
               disable=True if not options.progress or not jobs else None)  # None: only on a terminal
    finished = failed = 0

    def on_done(job: Job, outcome: Outcome) -> None:
        nonlocal finished, failed
        run = by_record[job.spec.record]
        manifest.update(run, outcome)
        finished += 1
        failed += outcome.status != "completed"
        bar.update(1)
        bar.set_postfix(failed=failed)
        note = f": {outcome.reason}" if outcome.reason else ""
        bar.write(f"[{finished}/{len(jobs)}] {outcome.status} in {outcome.wall_s:.0f} s  {run.label()}{note}")

    interrupted = False
    try:
        if jobs:
            EXECUTORS[executor](jobs, on_done, placement)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (see clbench.run.interrupt_on_sigterm): the runs are stopped, the manifest kept
        interrupted = True
    finally:
        bar.close()
        manifest.note_completed_meanwhile()
        manifest.save(finished=True)
    return interrupted
