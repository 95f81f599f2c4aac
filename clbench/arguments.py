"""The command line's grammar: every command's arguments (options several commands share declared
once), and the run options and worker placement they describe."""

from __future__ import annotations

import argparse
from pathlib import Path

from clbench.errors import UsageError
from clbench.run import (CHECKPOINT_EVERY, DATA_ROOT, DEFAULT_STRATEGY, DEFAULT_STREAM, DEVICE, DOWNLOAD,
                         KEEP_CHECKPOINTS, PLUGINS, PROGRESS, RESTART, SPEC_OPTIONS, Option, resolve_device,
                         seed_list)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see: {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="clbench", description="Continual-learning benchmark for optimizers.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    shared = _shared_options()
    runs = [shared["data"], shared["checkpoints"], shared["progress"], shared["plugins"], shared["debug"]]

    run = commands.add_parser("run", help="run one experiment and write its record", parents=runs)
    for option in (*SPEC_OPTIONS, KEEP_CHECKPOINTS, RESTART):
        _add(run, option)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--results", type=Path, default=Path("results/runs"), help="where the run record goes")

    executions = [shared["execution"], *runs]
    sweep = commands.add_parser("sweep", help="run a grid of runs declared in a TOML file (see docs/sweeps.md)",
                                parents=executions)
    sweep.add_argument("file", type=Path, help="the sweep file (.toml)")
    sweep.add_argument("--results", type=Path, default=Path("results/runs"), help="where records, logs and the manifest go")
    sweep.add_argument("--dry-run", action="store_true", help="list every run and whether it is complete; run nothing")
    sweep.add_argument("--only", action="append", default=[], metavar="KEY=V1,V2",
                       help="only the runs whose stream, strategy, backbone, seed or setting KEY is one of the values "
                            "(repeatable), e.g. --only strategy=adamw,nanoadam --only seed=0,1")

    tune = commands.add_parser("tune", help="choose strategies' settings on validation data (see docs/protocol.md)",
                               parents=executions)
    tune.add_argument("--stream", help=f"stream name (default {DEFAULT_STREAM})")
    tune.add_argument("--strategy", metavar="NAME[,NAME...]",
                      help=f"strategies to tune, each on its own (default {DEFAULT_STRATEGY})")
    tune.add_argument("--backbone", help="(default: the stream's)")
    tune.add_argument("--set", dest="assignments", action="append", metavar="KEY=VALUE",
                      help="a run setting held fixed, as clbench run takes it")
    tune.add_argument("--sweep", type=Path, metavar="FILE",
                      help="tune what this sweep file runs with tuned = true: every stream, backbone, strategy "
                           "and --set of it, the choices to its tuned folder (in place of --stream, --strategy, "
                           "--backbone, --set, --smoke, --out)")
    tune.add_argument("--space", action="append", default=[], metavar="KEY=V1,V2,...",
                      help="a setting to search and its values (repeatable; default: the lr grid)")
    tune.add_argument("--points", type=positive_int, default=7, help="lr grid points (default 7)")
    tune.add_argument("--decades", type=float, default=3.0, help="decades the lr grid spans around the strategy's "
                                                                 "default (default 3)")
    tune.add_argument("--seeds", type=seed_list, default=[100], metavar="N,N,...",
                      help="tuning seeds, not those reported afterwards (default 100)")
    tune.add_argument("--mode", choices=("all", "first_task", "per_task"), default="all",
                      help="one setting chosen on the whole stream (default), on the first task alone, or an lr per task")
    tune.add_argument("--widen", type=int, default=2, metavar="N",
                      help="times the lr grid may grow by two points where the choice is its edge (default 2)")
    tune.add_argument("--smoke", action="store_true", help="tiny subsets, one epoch: checks the pipeline")
    tune.add_argument("--trials", type=Path, default=Path("results/tuning"), help="where the trials' records go")
    tune.add_argument("--out", type=Path, help="where tuned-settings files go (default results/tuned)")
    tune.add_argument("--dry-run", action="store_true", help="list the trials and whether they are complete")

    board = commands.add_parser("leaderboard", help="tables of mean, interval and paired test over seeds")
    board.add_argument("--results", type=Path, default=Path("results/runs"), help="folder of run records")
    board.add_argument("--stream", help="only this stream")
    board.add_argument("--baseline", default="adamw", help="strategy the others are compared with (default adamw)")
    board.add_argument("--format", choices=("md", "csv", "html", "json"), default="md")
    board.add_argument("--out", type=Path, help="write to this file instead of standard output")
    board.add_argument("--curves", type=Path, metavar="DIR",
                       help="records of lr grids (tuning trials) for forgetting at matched plasticity "
                            "(default: the folder tuning beside --results, when it exists)")

    plot = commands.add_parser("plot", help="PNG figures of the leaderboard's run groups")
    plot.add_argument("--results", type=Path, default=Path("results/runs"), help="folder of run records")
    plot.add_argument("--stream", help="only this stream")
    plot.add_argument("--out", type=Path, default=Path("results/figures"), help="folder for the PNG files")
    plot.add_argument("--curves", type=Path, metavar="DIR",
                      help="records of lr grids: lr sensitivity and plasticity-forgetting figures (default: the "
                           "folder tuning beside --results, when it exists)")

    analyze = commands.add_parser("analyze", help="a sweep's contrasts (treated - control) per cell, pooled")
    analyze.add_argument("file", type=Path, help="the sweep file (.toml) whose records are analysed")
    analyze.add_argument("--results", type=Path, default=Path("results/runs"), help="folder of the sweep's records")
    analyze.add_argument("--trials", type=Path, default=Path("results/tuning"),
                         help="folder of the tuning trials (for forgetting at matched plasticity)")
    analyze.add_argument("--format", choices=("md", "json"), default="md")
    analyze.add_argument("--out", type=Path, help="write to this file instead of standard output")
    analyze.add_argument("--figures", type=Path, metavar="DIR",
                         help="also write into DIR forest plots of the contrasts and, per cell, the lr curves' figures")

    site = commands.add_parser("site", help="a static website of results/ and docs/ that opens from disk (MkDocs)")
    site.add_argument("out", type=Path, help="folder to build it into (a new or empty one, or a site built before)")
    site.add_argument("--root", type=Path, default=Path("."),
                      help="the repository whose results/, docs/ and README.md make the site (default: here)")

    inspect = commands.add_parser("inspect", help="|w| vs |gradient| diagnostic of early fine-tuning (paper Sec. 2.1)",
                                  parents=[shared["data"], shared["plugins"], shared["debug"]])
    inspect.add_argument("--stream", default=DEFAULT_STREAM, help="its first task is fine-tuned on")
    inspect.add_argument("--backbone", help="(default: the stream's)")
    inspect.add_argument("--weights", type=Path, help="backbone weights: a safetensors file or a torch state dict")
    inspect.add_argument("--steps", type=positive_int, default=20, help="AdamW steps whose gradients are averaged")
    inspect.add_argument("--batch-size", type=positive_int, default=32)
    inspect.add_argument("--lr", type=float, default=1e-4)
    inspect.add_argument("--image-size", type=int, help="default: the stream's, or the backbone's input size")
    inspect.add_argument("--train-per-class", type=int, help="training images per class (default: the stream's)")
    inspect.add_argument("--top", type=float, default=1e-4, help="top fraction by |gradient| for r (paper: 0.01%%)")
    inspect.add_argument("--bottom", type=float, default=0.8, help="bottom fraction by |gradient| for r (paper: 80%%)")
    inspect.add_argument("--fraction", type=float, default=0.01, help="set size for the overlap (default 1%%)")
    inspect.add_argument("--seed", type=int, default=0)
    inspect.add_argument("--out", type=Path, default=Path("results/inspect"), help="folder for the record and figures")

    listing = commands.add_parser("list", help="list streams, strategies, data sets or backbones",
                                  parents=[shared["plugins"], shared["debug"]])
    listing.add_argument("what", choices=("streams", "strategies", "datasets", "backbones"))
    listing.add_argument("name", nargs="?", help="a strategy: its settings with types, defaults and help")
    return parser


def _add(parser: argparse.ArgumentParser, option: Option) -> None:
    parser.add_argument(option.flag, **option.parse)


def _shared_options() -> dict[str, argparse.ArgumentParser]:
    """Options several commands take, declared once (argparse parents)."""
    def parent():
        return Parser(add_help=False)

    data, checkpoints, progress, plugins, debug, execution = (parent() for _ in range(6))
    for group, options in ((data, (DEVICE, DATA_ROOT, DOWNLOAD)), (checkpoints, (CHECKPOINT_EVERY,)),
                           (progress, (PROGRESS,)), (plugins, (PLUGINS,))):
        for option in options:
            _add(group, option)
    debug.add_argument("--debug", action="store_true", help="show tracebacks")
    execution.add_argument("--executor", choices=("local", "ray", "slurm"), default="local",
                           help="worker processes here (default), a Ray cluster, or a Slurm job array (submitit)")
    execution.add_argument("--workers", type=positive_int,
                           help="runs at a time (local default: one per GPU, else 1; Ray, Slurm: as many as fit)")
    execution.add_argument("--cpus-per-run", type=positive_int,
                           help="torch threads per run (local default: the cores split between workers; else 1)")
    execution.add_argument("--gpus-per-run", type=int, choices=(0, 1), help="default: 1 when runs train on a GPU")
    cluster = execution.add_argument_group("Ray and Slurm")
    cluster.add_argument("--ray-address", help="join this Ray cluster (default: start a local Ray instance)")
    cluster.add_argument("--slurm-partition")
    cluster.add_argument("--slurm-time", type=positive_int, default=240, metavar="MINUTES",
                         help="time limit of each job (default 240); a job that reaches it requeues and resumes")
    cluster.add_argument("--slurm-mem-gb", type=positive_int)
    cluster.add_argument("--slurm-local", action="store_true",
                         help="run the job array on this machine (submitit's local executor), to try a sweep")
    return {"data": data, "checkpoints": checkpoints, "progress": progress, "plugins": plugins, "debug": debug,
            "execution": execution}


def run_options(args):
    """The options every run of a sweep or tuning gets."""
    from clbench.plugins import plugin_dirs
    from clbench.run import RunOptions

    if args.executor == "local":
        resolve_device(args.device)  # Ray and Slurm runs check it where they run: a login node has no GPU
    plugins = tuple(folder.resolve() for folder in plugin_dirs(args.plugins))  # CLBENCH_PLUGINS's too: a Ray
    #                                                        cluster or Slurm job may not have the variable
    return RunOptions(device=args.device, data_root=args.data_root.resolve() if args.data_root else None,
                      download=args.download, plugins=plugins,
                      checkpoint_every=args.checkpoint_every, progress=args.progress)


def placement(args, folder: Path):
    from clbench.sweeps.executors import Placement

    return Placement(workers=args.workers, device=args.device, cpus_per_run=args.cpus_per_run,
                     gpus_per_run=args.gpus_per_run, folder=folder, ray_address=args.ray_address,
                     slurm_partition=args.slurm_partition, slurm_time_min=args.slurm_time,
                     slurm_mem_gb=args.slurm_mem_gb, slurm_local=args.slurm_local)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)
