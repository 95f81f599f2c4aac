"""The `clbench` command line: run experiments and list what can be run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from clbench.arguments import build_parser, placement, run_options
from clbench.errors import UsageError
from clbench.run import DEFAULT_STRATEGY, DEFAULT_STREAM, exit_code, interrupt_on_sigterm, resolve_device


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    interrupt_on_sigterm()

    def command() -> int:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)

    return exit_code(command, debug="--debug" in argv)


def _run(args) -> int:
    from clbench.registry import use_plugins
    from clbench.run import RunOptions, execute, plan_run, report
    from clbench.training.runlock import ALREADY_RUNNING

    use_plugins(args.plugins)
    options = RunOptions(device=args.device, data_root=args.data_root, download=args.download,
                         plugins=tuple(args.plugins), checkpoint_every=args.checkpoint_every,
                         keep_checkpoints=args.keep_checkpoints, restart=args.restart,
                         skip_completed=bool(args.seeds),  # a batch resumes; a single run is always run
                         progress=args.progress)
    seeds = args.seeds or [args.seed]
    specs = [plan_run(args.stream, args.strategy, args.backbone, seed, args.assignments, args.smoke, args.results,
                      args.tuned, args.weights) for seed in seeds]
    resolve_device(args.device)
    _check_writable(args.results)
    codes = [report(execute(spec, options)) for spec in specs]
    if 1 in codes:
        return 1
    return ALREADY_RUNNING if all(code == ALREADY_RUNNING for code in codes) else 0


def _sweep(args) -> int:
    from clbench.registry import use_plugins
    from clbench.sweeps.sweep import dry_run, run_sweep

    use_plugins(args.plugins)
    options = run_options(args)
    if args.dry_run:
        return dry_run(args.file, args.results, args.only, options)
    _check_writable(args.results)
    return run_sweep(args.file, args.results, args.only, args.executor, placement(args, args.results), options)


def _tune(args) -> int:
    from clbench.training.backbones import check_backbone_fits
    from clbench.registry import get_stream, use_plugins
    from clbench.tuning.tune import TuneRequest, command_line, sweep_requests, tune
    from clbench.tuned_files import DEFAULT_TUNED_DIR

    use_plugins(args.plugins)
    single = {"--stream": args.stream, "--strategy": args.strategy, "--backbone": args.backbone,
              "--set": args.assignments, "--smoke": args.smoke, "--out": args.out}
    if args.sweep and (given := [flag for flag, value in single.items() if value]):
        raise UsageError(f"{', '.join(given)} and --sweep both say what to tune; drop {', '.join(given)} "
                         "(the sweep file declares it)")
    stream = args.stream or DEFAULT_STREAM
    request = TuneRequest(stream=stream, backbone=args.backbone or get_stream(stream).backbone,
                          strategies=(args.strategy or DEFAULT_STRATEGY).split(","),
                          assignments=args.assignments or [], space=args.space, points=args.points,
                          decades=args.decades, seeds=args.seeds, mode=args.mode, smoke=args.smoke,
                          widen=max(0, args.widen), trials_dir=args.trials, tuned_dir=args.out or DEFAULT_TUNED_DIR,
                          command=command_line(sys.argv[1:]))
    if args.sweep:
        requests = sweep_requests(args.sweep, request)
    else:
        check_backbone_fits(get_stream(request.stream), request.backbone)
        requests = [request]
    options = run_options(args)
    if not args.dry_run:
        _check_writable(args.trials)
        for tuned_dir in {r.tuned_dir for r in requests}:
            _check_writable(tuned_dir)
    return tune(requests, args.executor, placement(args, args.trials), options, dry_run=args.dry_run,
                name=args.sweep.stem if args.sweep else None)


def _leaderboard(args) -> int:
    from clbench.reporting.curves import matched_plasticity
    from clbench.reporting.leaderboard_format import render
    from clbench.reporting.optimizer_swaps import optimizer_swaps

    tables, left_out = _tables(args.results, args.stream, args.baseline)
    matched = [m for group in _curve_groups(args, args.stream)
               if (m := matched_plasticity(group, args.baseline)) is not None]
    swaps = [s for table in tables if (s := optimizer_swaps(table, args.baseline)) is not None]
    _write_output(render(tables, left_out, args.format, matched, swaps), args.out)
    return 0


def _plot(args) -> int:
    from clbench.reporting.plots import plot_curves, plot_tables

    tables, _ = _tables(args.results, args.stream)
    paths = plot_tables(tables, args.out)
    paths += plot_curves(_curve_groups(args, args.stream), tables, args.out)
    for path in paths:
        print(path)
    return 0


def _analyze(args) -> int:
    from clbench.reporting.campaign_format import as_json, markdown
    from clbench.sweeps.analysis import analyze_sweep

    analysis, trials = analyze_sweep(args.file, args.results, args.trials)
    _write_output(as_json(analysis) if args.format == "json" else markdown(analysis, f"Analysis of {args.file}"),
                  args.out)
    if args.figures:
        from clbench.reporting.campaign_plots import plot_analysis
        from clbench.reporting.curves import drawn_curves
        from clbench.reporting.plots import plot_curves

        paths = plot_analysis(analysis, args.figures, args.file.stem)
        paths += plot_curves(drawn_curves(trials), [], args.figures, prefix=f"{args.file.stem}__")
        for path in paths:
            print(path, file=sys.stderr if args.out is None else sys.stdout)
    return 0


def _site(args) -> int:
    from clbench.site.build import build_site

    site = build_site(args.out, args.root)
    print(f"{site.pages} pages in {site.seconds:.1f} s: open {site.out / 'index.html'}")
    return 0


def _curve_groups(args, stream: str | None):
    """The lr curves of --curves, or of the folder tuning beside --results (none when it does not exist)."""
    from clbench.reporting.curves import curve_groups

    groups, problems = curve_groups(args.curves or args.results.parent / "tuning", stream)
    _notes(problems, "skipped")
    return groups


def _tables(results: Path, stream: str | None, baseline: str = "adamw"):
    from clbench.reporting.leaderboard import load_tables

    tables, problems, notes = load_tables(results, stream, baseline)
    _notes(problems, "skipped")
    _notes(notes, "note:")
    if not tables:
        raise UsageError(f"no completed run records{f' of stream {stream}' if stream else ''} in "
                         f"{results}; run clbench run first, or pass --results DIR")
    return tables, problems + notes


def _notes(lines: list[str], kind: str) -> None:
    for line in lines:
        print(f"clbench: {kind} {line}", file=sys.stderr)


def _inspect(args) -> int:
    from clbench.training.backbones import check_backbone_fits
    from clbench.data.datasets import DataSource
    from clbench.quiet import importing_avalanche, silenced
    from clbench.registry import datasets, get_stream, use_plugins

    with importing_avalanche():
        from clbench.diagnostics.inspection import InspectRequest, format_summary, run_inspection

    use_plugins(args.plugins)
    stream = get_stream(args.stream)
    backbone = args.backbone or stream.backbone
    check_backbone_fits(stream, backbone)
    for name in ("top", "bottom", "fraction"):
        if not 0 < getattr(args, name) <= 1:
            raise UsageError(f"--{name} {getattr(args, name)} is not a fraction in (0, 1]; e.g. --{name} 0.01")
    settings = {**stream.defaults(), "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                "top": args.top, "bottom": args.bottom, "fraction": args.fraction}
    if args.image_size is not None and stream.is_text:
        raise UsageError(f"--image-size: stream {stream.name} holds texts; drop it")
    if args.image_size is not None:
        settings["image_size"] = args.image_size
    if args.train_per_class is not None:
        settings["train_per_class"] = args.train_per_class
    _check_writable(args.out, "--out")
    import torch

    torch.set_flush_denormal(True)  # denormals make CPU training 2-4x slower
    request = InspectRequest(stream, backbone, args.weights, settings, args.seed, resolve_device(args.device),
                             DataSource(args.data_root, download=args.download), datasets())
    with silenced():
        record, paths = run_inspection(request, args.out)
    print(format_summary(record))
    for path in paths:
        print(path)
    return 0


def _write_output(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        from clbench.atomic import write_text_atomically

        write_text_atomically(out, text)


def _list(args) -> int:
    from clbench import registry

    registry.use_plugins(args.plugins)
    if args.name:
        if args.what != "strategies":
            raise UsageError(f"clbench list {args.what} takes no name; settings are listed for strategies: "
                             f"clbench list strategies {args.name}")
        from clbench.settings_docs import strategy_settings_text

        print(strategy_settings_text(registry.get_strategy(args.name)))
        return 0
    table = {"streams": registry.streams, "strategies": registry.strategies, "datasets": registry.datasets,
             "backbones": registry.backbones}
    items = table[args.what]()
    width = max(len(name) for name in items)
    for name, item in sorted(items.items()):
        print(f"{name:<{width}}  {item.description}")
    for plugin in registry.plugins():
        print(f"plugin {plugin.path}  sha256 {plugin.sha256}")
    if args.what == "backbones":
        print("and any timm model name (e.g. resnet18, vit_large_patch16_224): weights from the timm hub, "
              "or --weights FILE;\nany Hugging Face text encoder as hf:NAME (e.g. hf:bert-base-uncased): weights "
              "from the hub, or --weights DIR saved with save_pretrained")
    return 0


def _check_writable(results: Path, option: str = "--results") -> None:
    """Fail before the run, not after it, when the record could not be written."""
    existing = next((p for p in [results, *results.parents] if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise UsageError(f"cannot write records into {results}: {existing} is not a writable directory; "
                         f"pass {option} DIR")


_COMMANDS = {"run": _run, "sweep": _sweep, "tune": _tune, "leaderboard": _leaderboard, "plot": _plot,
             "analyze": _analyze, "site": _site, "inspect": _inspect, "list": _list}
