"""One run, planned once and executed once. `plan_run` resolves and validates the settings into a
RunSpec (what the run is, and so the name of its record); `execute` trains it (lock, checkpoint,
engine) and writes its record. `clbench run`, sweeps, tuning and the tests all go through here."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clbench.assignments import value_text
from clbench.errors import UsageError

if TYPE_CHECKING:
    from clbench.records import RunRecord  # records imports what --help need not (platform, subprocess)

DEFAULT_STREAM = "fashionmnist_mnist"
DEFAULT_STRATEGY = "nanoadam"


@dataclass(frozen=True)
class Option:
    """One option of `clbench run`: how the command line takes it (argparse's keyword arguments) and
    the RunSpec or RunOptions field it fills, so that one description serves both parsing and
    turning a run back into the arguments that re-create it."""

    flag: str
    field: str
    parse: dict
    resolve: bool = False  # a path made absolute when written back (a worker may run elsewhere)
    explicit: bool = False  # written back even at its default, so that the command says what it runs

    def words(self, value) -> list[str]:
        """The command-line words that give `value`; none for the option's default."""
        action = self.parse.get("action")
        if action in ("store_true", "store_false"):
            return [self.flag] if value == (action == "store_true") else []
        if value is None or (value == self.parse.get("default") and not self.explicit):
            return []
        text = (lambda v: str(Path(v).resolve())) if self.resolve else str
        values = value if self.parse.get("action") == "append" else [value]
        return [word for v in values for word in (self.flag, text(v))]


def seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 0,1,2") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a seed")
    return seeds


# What names a run (RunSpec); --seeds writes one seed back (a run whose record another worker
# completed meanwhile is then skipped, not redone).
SPEC_OPTIONS = (
    Option("--stream", "stream", {"default": DEFAULT_STREAM, "help": f"stream name (default {DEFAULT_STREAM})"},
           explicit=True),
    Option("--strategy", "strategy", {"default": DEFAULT_STRATEGY, "help": f"strategy name (default {DEFAULT_STRATEGY})"},
           explicit=True),
    Option("--backbone", "backbone", {"help": "an offline backbone, any timm model name, or hf:NAME, a Hugging Face "
                                              "text encoder (default: the stream's; clbench list backbones)"}),
    Option("--seeds", "seed", {"type": seed_list, "metavar": "N,N,...",
                               "help": "run each of these seeds (one record each); seeds with a completed record are "
                                       "skipped"}),
    Option("--set", "assignments", {"dest": "assignments", "action": "append", "default": [], "metavar": "KEY=VALUE",
                                    "help": "override a hyperparameter, e.g. --set lr=1e-3,2e-3 --set epochs=2"}),
    Option("--smoke", "smoke", {"action": "store_true", "help": "tiny subsets, one epoch: checks the pipeline"}),
    Option("--tuned", "tuned", {"type": Path, "nargs": "?", "const": Path("results/tuned"), "metavar": "FILE_OR_DIR",
                                "help": "apply the settings clbench tune chose for this run (default folder: "
                                        "results/tuned)"}),
    Option("--weights", "weights", {"type": Path, "help": "backbone weights: a safetensors file or a torch state dict"}),
)
# How a run executes (RunOptions); skip_completed is --seeds'.
DEVICE = Option("--device", "device", {"choices": ("auto", "cpu", "cuda"), "default": "auto"})
DATA_ROOT = Option("--data-root", "data_root", {"type": Path, "help": "directory holding the data sets' files"},
                   resolve=True)
DOWNLOAD = Option("--no-download", "download", {"action": "store_false", "dest": "download", "default": True,
                                                "help": "never download data, fail if it is missing"})
PLUGINS = Option("--plugins", "plugins", {"type": Path, "action": "append", "default": [], "metavar": "DIR",
                                          "help": "folder of stream, strategy or data-set plugin files (also: "
                                                  "CLBENCH_PLUGINS)"}, resolve=True)
CHECKPOINT_EVERY = Option("--checkpoint-every", "checkpoint_every",
                          {"type": int, "default": 0, "metavar": "STEPS",
                           "help": "a run also checkpoints every STEPS training steps (default: only between tasks; "
                                   "for preemptible jobs)"})
KEEP_CHECKPOINTS = Option("--keep-checkpoints", "keep_checkpoints",
                          {"action": "store_true", "help": "keep the last checkpoint of a completed run"})
RESTART = Option("--restart", "restart", {"action": "store_true",
                                          "help": "discard this run's checkpoint instead of continuing from it"})
PROGRESS = Option("--no-progress", "progress", {"action": "store_false", "dest": "progress", "default": True,
                                                "help": "no progress bars"})
OPTIONS_OPTIONS = (DEVICE, DATA_ROOT, DOWNLOAD, PLUGINS, CHECKPOINT_EVERY, KEEP_CHECKPOINTS, RESTART, PROGRESS)


@dataclass(frozen=True)
class RunSpec:
    """One run: its names, seed and resolved settings, and the record it writes."""

    stream: str
    strategy: str
    backbone: str
    seed: int
    assignments: tuple[str, ...]  # --set key=value, as the command line takes them
    smoke: bool
    record: Path
    config: dict  # every resolved setting of the run
    tuned: Path | None = None  # the tuned-settings file applied (clbench run --tuned); the file or folder
    #                            a sweep names, when planned with resolve_tuned=False
    weights: Path | None = None  # backbone weights given with --weights

    def run_args(self) -> list[str]:
        """The arguments of `clbench run` that re-create this run."""
        return [word for option in SPEC_OPTIONS for word in option.words(getattr(self, option.field))]

    def label(self) -> str:
        return shlex.join(["clbench", "run", *self.run_args()])


def plan_run(stream: str, strategy: str, backbone: str | None, seed: int, assignments: list[str] | tuple[str, ...] = (),
             smoke: bool = False, results: Path = Path("results/runs"), tuned: Path | None = None,
             weights: Path | None = None) -> RunSpec:
    """The run's settings resolved and validated (UsageError, one line, if bad), with the choice of
    the tuned-settings file (or the one file in folder `tuned` that matches the run) applied.
    backbone None or "": the stream's."""
    from clbench.config import resolve_config
    from clbench.records import record_path
    from clbench.registry import get_strategy, get_stream
    from clbench.training.backbones import check_backbone_fits
    from clbench.tuned_files import tuned_config

    chosen_stream, chosen_strategy = get_stream(stream), get_strategy(strategy)
    backbone = backbone or chosen_stream.backbone
    check_backbone_fits(chosen_stream, backbone)
    if tuned:
        config, file = tuned_config(chosen_stream, chosen_strategy, backbone, list(assignments), smoke, tuned)
        tuned = file.path
    else:
        config = resolve_config(chosen_stream, chosen_strategy, list(assignments), smoke=smoke, backbone=backbone)
    if weights is not None:
        config["weights"] = str(weights)
    identity = {"stream": stream, "strategy": strategy, "backbone": backbone, "seed": seed, "config": config}
    return RunSpec(stream, strategy, backbone, seed, tuple(assignments), smoke, record_path(results, identity), config,
                   tuned, weights)


_UNSET = object()


def replan(record: dict, path: Path, tuned_folder: Path) -> RunSpec | None:
    """The run that re-creates the record at `path`: --set for every setting its record holds at other
    than today's default, --tuned for the tuned-settings file it took (from `tuned_folder`, which gives
    the settings that file chose). None where that plan names another record (a default or a
    setting's meaning changed since the record was made) or cannot be made."""
    config = record["config"]
    names = record["stream"], record["strategy"], record["backbone"], record["seed"]
    tuned = Path(tuned_folder) / config["tuned"] if config.get("tuned") else None
    try:
        defaults = plan_run(*names).config
        chosen = json.loads(tuned.read_text())["choice"] if tuned else {}
        assignments = [f"{key}={value_text(value)}" for key, value in config.items()
                       if key != "tuned" and key not in chosen and defaults.get(key, _UNSET) != value]
        spec = plan_run(*names, assignments, results=path.parent, tuned=tuned)
    except (UsageError, OSError, ValueError, KeyError):
        return None
    return spec if spec.record.name == path.name else None


@dataclass(frozen=True)
class RunOptions:
    """How and where a run executes: nothing here changes its numbers or its record's name."""

    device: str = "auto"
    data_root: Path | None = None
    download: bool = True
    plugins: tuple[Path, ...] = ()
    checkpoint_every: int = 0  # also checkpoint every N training steps (0: only between tasks)
    keep_checkpoints: bool = False
    restart: bool = False  # discard the run's checkpoint instead of continuing from it
    skip_completed: bool = False  # a completed record is kept, not redone (a batch of seeds, a sweep)
    progress: bool = True

    def __post_init__(self):
        if self.checkpoint_every < 0:
            raise UsageError(f"--checkpoint-every {self.checkpoint_every} is negative; give a number of steps, or 0")

    def run_args(self) -> list[str]:
        """The options of `clbench run` that say the same (skip_completed is --seeds, see RunSpec)."""
        return [word for option in OPTIONS_OPTIONS for word in option.words(getattr(self, option.field))]


@dataclass(frozen=True)
class RunResult:
    spec: RunSpec
    status: str  # completed, diverged, failed; or skipped (completed before), running elsewhere (locked)
    record: RunRecord | None  # the record written now, None when skipped or running elsewhere
    path: Path  # the record's file


def execute(spec: RunSpec, options: RunOptions) -> RunResult:
    """Trains the planned run, unless another process holds its lock or (skip_completed) its record
    is complete, and writes its record atomically. A run continues from its checkpoint, if any."""
    from clbench.quiet import importing_avalanche

    with importing_avalanche():
        from clbench.training.engine import RunRequest, run_experiment
    from clbench.data.datasets import DataSource
    from clbench.config import trained_strategy
    from clbench.methods.compose import OPTIMIZER_KEY
    from clbench.records import SCHEMA_VERSION, RunRecord, environment, is_completed, save_record
    from clbench.registry import datasets, get_strategy, get_stream, plugins
    from clbench.training.checkpoints import Checkpointing, checkpoint_path
    from clbench.training.runlock import RunLock, lock_path
    from clbench.tuned_files import TunedFile

    results = spec.record.parent
    device = resolve_device(options.device)
    checkpointing = Checkpointing(checkpoint_path(results, spec.record), options.checkpoint_every,
                                  options.keep_checkpoints)
    lock = RunLock(lock_path(checkpointing.path))
    if not lock.acquire():
        return RunResult(spec, "running elsewhere", None, spec.record)
    try:
        if options.skip_completed and is_completed(spec.record):
            return RunResult(spec, "skipped", None, spec.record)
        if options.restart:
            checkpointing.path.unlink(missing_ok=True)
        elif checkpointing.path.exists():
            print(f"seed {spec.seed}: continuing from checkpoint {checkpointing.path}")
        import torch

        torch.set_flush_denormal(True)  # denormals make CPU training 2-4x slower
        source = DataSource(options.data_root, download=options.download)
        strategy = trained_strategy(get_strategy(spec.strategy), spec.config)
        request = RunRequest(get_stream(spec.stream), strategy, spec.backbone, spec.seed, spec.config, device, source,
                             checkpointing, datasets())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Avalanche and timm warn about internals users cannot act on
            measured = run_experiment(request, progress=options.progress)
        record = RunRecord(**{
            "schema_version": SCHEMA_VERSION, "stream": spec.stream, "strategy": spec.strategy,
            "optimizer": spec.config.get(OPTIMIZER_KEY),  # the optimizer strategy a method trains with, else None
            "backbone": spec.backbone, "seed": spec.seed, **measured, "config": spec.config,
            "env": environment(device),
            "plugins": [{"path": str(p.path.resolve()), "sha256": p.sha256} for p in plugins()],
            "tuned": TunedFile.load(spec.tuned).reference() if spec.tuned else None,
        })
        path = save_record(results, record)
    finally:
        lock.release()
    return RunResult(spec, record["status"], record, path)


def report(result: RunResult) -> int:
    """Prints what the run did; the exit code of `clbench run` for it (see training.runlock)."""
    from clbench.reporting.report import format_run, mask_refresh_warning
    from clbench.training.runlock import ALREADY_RUNNING

    seed = result.spec.seed
    if result.status == "running elsewhere":
        print(f"seed {seed}: skipped, already running in another process")
        return ALREADY_RUNNING
    if result.status == "skipped":
        print(f"seed {seed}: skipped, a completed record exists: {result.path}")
        return 0
    print(format_run(result.record))
    print(f"record: {result.path}")
    if warning := mask_refresh_warning(result.record):
        print(f"clbench: warning: {warning}", file=sys.stderr)
    if result.status != "completed":
        print(f"clbench: run {result.status} (seed {seed}): {result.record['error']}", file=sys.stderr)
        return 1
    return 0


def run_in_worker(spec: RunSpec, options: RunOptions) -> int:
    """A sweep's run in a worker process: executed, reported, and its exit code as `clbench run`'s."""
    from clbench.registry import use_plugins

    def run() -> int:
        interrupt_on_sigterm()
        use_plugins(list(options.plugins))
        return report(execute(spec, options))

    return exit_code(run)


def resolve_device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    return choice


def interrupt_on_sigterm() -> None:
    """A scheduler's SIGTERM (scancel, preemption, a sweep stopping its workers) ends the process as
    Ctrl-C does: the run's lock is released, its last checkpoint kept."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def exit_code(call, debug: bool = False) -> int:
    """Runs call() as a command: its return value is the exit code; bad input is one line on stderr
    and code 2, an interrupt 130, anything else one line and 1 (a traceback with debug)."""
    try:
        return call()
    except UsageError as exc:
        if debug:
            raise
        print(f"clbench: error: {exc}", file=sys.stderr)
        return UsageError.exit_code
    except KeyboardInterrupt:
        print("clbench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"clbench: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
