"""`clbench tune`: run a strategy's trials over a declared space through the sweep executors, on
seeds that are not reported, choose by validation accuracy, widen the lr grid while the choice
sits on its edge, and write the tuned-settings file."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from clbench.assignments import assigned_keys, per_task_texts
from clbench.config import resolve_config
from clbench.errors import UsageError
from clbench.records import read_record
from clbench.registry import get_strategy, get_stream
from clbench.sweeps.executors import Placement
from clbench.sweeps.manifest import Manifest
from clbench.run import RunOptions, RunSpec, plan_run
from clbench.sweeps.spec import load_sweep
from clbench.sweeps.sweep import run_planned
from clbench.tuning.select import MODES, OBJECTIVE, Trial, choose, score_trials
from clbench.tuning.space import lr_grid, parse_space, point_assignments, widened
from clbench.tuned_files import settings_without, tuned_name, write_tuned

@dataclass(frozen=True)
class TuneRequest:
    stream: str
    backbone: str
    strategies: list[str]
    assignments: list[str]  # --set, held fixed
    space: list[str]  # --space KEY=V1,V2,...
    points: int
    decades: float
    seeds: list[int]  # tuning seeds (default 100): reported runs use 0, 1, 2, ..., which tuning never sees
    mode: str
    smoke: bool
    widen: int  # how many times the lr grid may grow by two points where the choice sits on its edge
    trials_dir: Path
    tuned_dir: Path
    command: str
    in_sweep: bool = False  # one of the tunings of a sweep file (clbench tune --sweep)


class StrategyTuning:
    """One strategy's space, trials and choice."""

    def __init__(self, request: TuneRequest, strategy: str):
        self.request, self.strategy = request, strategy
        base = resolve_config(get_stream(request.stream), get_strategy(strategy), request.assignments,
                              smoke=request.smoke, backbone=request.backbone)
        self.num_tasks = len(base["lr"])
        self.fixed_lr = base["lr"][0]
        self.space = parse_space(request.space, base)
        fixed = assigned_keys(request.assignments)
        if clash := sorted(set(self.space) & fixed):
            raise UsageError(f"{', '.join(clash)} is both held fixed (--set) and searched (--space); drop one")
        if "lr" not in self.space and "lr" not in fixed:
            self.space = {"lr": lr_grid(base["lr"], request.points, request.decades), **self.space}
        if request.mode == "per_task" and set(self.space) != {"lr"}:
            raise UsageError("--mode per_task chooses a learning rate per task and searches nothing else; "
                             "drop the other --space keys")
        self.settings = settings_without(base, self.space)
        self.widenings: list[str] = []
        self.trials: list[Trial] = []
        self.chosen: list[Trial] | None = None

    def label(self) -> str:
        """The strategy, and where several tunings run together, what else tells them apart."""
        r = self.request
        return self.strategy if not r.in_sweep else " x ".join([r.stream, r.backbone, self.strategy, *r.assignments])

    def planned(self) -> list[RunSpec]:
        """Every trial's runs, seed by seed."""
        by_point = self._runs_by_point()
        return [runs[i] for i in range(len(self.request.seeds)) for _, runs in by_point]

    def _runs_by_point(self) -> list[tuple[dict[str, str], list[RunSpec]]]:
        r = self.request
        return [(point, [plan_run(r.stream, self.strategy, r.backbone, seed,
                                  [*r.assignments, *(f"{k}={v}" for k, v in point.items())], r.smoke, r.trials_dir)
                         for seed in r.seeds])
                for point in point_assignments(self.space)]

    def select(self) -> None:
        self.trials = [Trial(point, [_load(run.record) for run in runs]) for point, runs in self._runs_by_point()]
        if any(record is None for trial in self.trials for record in trial.records):
            self.chosen = None
            return
        score_trials(self.trials, self.num_tasks)
        self.chosen = choose(self.trials, self.request.mode, self.num_tasks, self._lr_of)

    def _lr_of(self, trial: Trial) -> float:
        """The trial's first-task lr: searched, or held fixed with --set lr=..."""
        return float(per_task_texts(trial.assignments["lr"])[0]) if "lr" in trial.assignments else self.fixed_lr

    def edge(self) -> str | None:
        """"lowest" or "highest" when a chosen lr is the grid's own (None when lr is held fixed)."""
        if not self.chosen or "lr" not in self.space:
            return None
        grid = [lr[0] for lr in self.space["lr"]]
        chosen = {self._lr_of(t) for t in self.chosen}
        return "lowest" if min(grid) in chosen else "highest" if max(grid) in chosen else None

    def widen(self) -> None:
        edge = self.edge()
        self.space["lr"] = widened(self.space["lr"], edge)
        self.widenings.append(edge)

    def choice(self) -> dict[str, str]:
        if self.request.mode == "per_task":  # task j takes the j-th lr of its trial
            per_trial = [per_task_texts(t.assignments["lr"]) for t in self.chosen]
            return {"lr": ",".join(lrs[j] if len(lrs) > 1 else lrs[0] for j, lrs in enumerate(per_trial))}
        return dict(self.chosen[0].assignments)

    def file_data(self) -> dict:
        r = self.request
        return {
            "name": tuned_name(r.stream, r.backbone, self.strategy, self.settings, self.space, r.mode),
            "stream": r.stream, "backbone": r.backbone, "strategy": self.strategy, "smoke": r.smoke,
            "assignments": r.assignments, "settings": self.settings,
            "space": {key: values for key, values in self.space.items()}, "widened": self.widenings,
            "seeds": r.seeds, "mode": r.mode, "objective": OBJECTIVE,
            "trials": [{"set": t.assignments, "status": t.status(), "val_score_per_task": t.scores,
                        "records": [Path(rec["path"]).name for rec in t.records]} for t in self.trials],
            "choice": self.choice(),
            "score_per_task": [t.scores[j] for j, t in enumerate(self.chosen)],
            "edge": self.edge(),
            "command": r.command,
        }


def _load(path: Path) -> dict | None:
    """A trial's record when it completed or diverged (a diverged lr is a result: never chosen), else None."""
    record = read_record(path)
    return {**record, "path": str(path)} if record is not None and record["status"] in ("completed", "diverged") else None


def tune(requests: list[TuneRequest], executor: str, placement: Placement, options: RunOptions,
         dry_run: bool = False, name: str | None = None) -> int:
    """Tunes every strategy of every request, their trials run together (one manifest, `name`:
    the requests' stream x backbone by default), the lr grids widened where a choice sits on an edge."""
    if any(request.mode not in MODES for request in requests):
        raise UsageError(f"--mode {requests[0].mode} is unknown; use one of {', '.join(MODES)}")
    tunings = [StrategyTuning(request, strategy) for request in requests for strategy in request.strategies]
    if dry_run:
        runs = [run for t in tunings for run in t.planned()]
        for run in runs:
            print(f"{'done    ' if _load(run.record) is not None else 'to run  '}  {run.label()}")
        print(f"{len(runs)} trials on seeds {', '.join(map(str, requests[0].seeds))} (the grid widens where the "
              "choice sits on its edge)")
        return 0
    name = name or f"{requests[0].stream}__{requests[0].backbone}__{'+'.join(requests[0].strategies)}"
    pending = tunings
    for round_ in range(max(r.widen for r in requests) + 1):
        if run_trials([run for t in tunings for run in t.planned()], requests[0], name, executor, placement,
                      options):
            print("clbench: tuning interrupted; run the same command again to finish it", file=sys.stderr)
            return 130
        for t in pending:
            t.select()
        pending = [t for t in pending if t.chosen and t.edge() and round_ < t.request.widen]
        if not pending:
            break
        for t in pending:
            print(f"{t.label()}: the best lr is the {t.edge()} of the grid; widening it by two points")
            t.widen()
    written = []
    for t in tunings:
        if not t.chosen:
            print(f"{t.label()}: not tuned, some trials did not complete (see the summary above); run the same "
                  "command again", file=sys.stderr)
            continue
        path = write_tuned(t.request.tuned_dir, t.file_data())
        written.append(path)
        score = t.chosen[0].scores[0] if t.request.mode == "first_task" else t.chosen[-1].scores[-1]
        print(f"{t.label()}: {' '.join(f'{k}={v}' for k, v in t.choice().items())}  (validation accuracy "
              f"{score:.2f})  -> {path}")
        if t.edge():
            print(f"clbench: warning: {t.label()}'s choice is still the {t.edge()} lr of its grid; widen it "
                  "with --space lr=... or --widen N", file=sys.stderr)
    return 0 if len(written) == len(tunings) else 1


def sweep_requests(path: Path, template: TuneRequest) -> list[TuneRequest]:
    """The tunings a sweep file's tuned runs need: one request per stream, backbone, --set and tuned
    folder of the sweep (seeds aside), for the strategies run with them; the other options from template."""
    groups: dict[tuple, list[str]] = {}
    for run in load_sweep(path, template.trials_dir, resolve_tuned=False):
        if run.tuned is None:
            continue
        if run.tuned.suffix == ".json" or run.tuned.is_file():
            raise UsageError(f"{path}: tuned = \"{run.tuned}\" names one tuned-settings file, which clbench tune "
                             "does not write; set tuned = true (or a folder) to tune these runs")
        strategies = groups.setdefault((run.stream, run.backbone, run.assignments, run.smoke, run.tuned), [])
        if run.strategy not in strategies:
            strategies.append(run.strategy)
    if not groups:
        raise UsageError(f"{path} has no runs with tuned = true: nothing to tune")
    return [replace(template, stream=stream, backbone=backbone, strategies=strategies, assignments=list(assignments),
                    smoke=smoke, tuned_dir=tuned_dir, in_sweep=True)
            for (stream, backbone, assignments, smoke, tuned_dir), strategies in groups.items()]


def run_trials(runs: list[RunSpec], request: TuneRequest, name: str, executor: str, placement: Placement,
               options: RunOptions) -> bool:
    complete = {run.record for run in runs if _load(run.record) is not None}  # a diverged trial is not run again
    manifest = Manifest(request.trials_dir / f"{name}.tune.json", f"tuning {name}", {"tune": request.command},
                        request.trials_dir, executor, runs, complete)
    interrupted = run_planned(runs, complete, manifest, executor, placement, options)
    print(manifest.summary())
    return interrupted


def command_line(argv: list[str]) -> str:
    return shlex.join(["clbench", *argv])
