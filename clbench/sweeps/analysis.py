"""`clbench analyze`'s inputs: a sweep file's planned runs, their completed records and tuning
trials, and the contrasts it names, handed to reporting.campaign.analyze."""

from __future__ import annotations

from pathlib import Path

from clbench.errors import UsageError
from clbench.methods.compose import trained_with
from clbench.records import completed_record, load_records, strategy_label
from clbench.registry import get_strategy
from clbench.reporting.campaign import Analysis, analyze, sweep_trials
from clbench.reporting.contrasts import DEFAULT_CONTRASTS, parse_contrast
from clbench.sweeps.spec import load_contrasts, load_sweep


def analyze_sweep(file: Path, results: Path, trials_dir: Path,
                  loaded_trials: list[dict] | None = None) -> tuple[Analysis, list[dict]]:
    """The analysis of the sweep's records in `results` and trials in `trials_dir` (`loaded_trials`:
    that folder's records, where the caller has loaded them already), and the sweep's trials."""
    planned = load_sweep(file, results, resolve_tuned=False)
    contrasts = _contrasts(file, load_contrasts(file), planned)
    try:
        runs = load_sweep(file, results)
    except UsageError:  # not tuned yet: the tuning curves alone
        runs = []
    records = [record for run in runs if (record := completed_record(run.record)) is not None]
    if loaded_trials is None:
        loaded_trials = load_records(trials_dir)[0] if trials_dir.is_dir() else []
    trials = sweep_trials(loaded_trials, [_planned_record(run) for run in planned])
    if not records and not trials:
        raise UsageError(f"no completed records or tuning trials of {file} in {results} or {trials_dir}; "
                         f"run clbench tune --sweep {file} or clbench sweep {file} first, or pass "
                         "--results DIR and --trials DIR")
    as_trials = sum(completed_record(trials_dir / run.record.name) is not None for run in planned)
    return analyze(records, len(planned), trials, contrasts, _strategy_defaults, as_trials), trials


def _contrasts(file: Path, texts: list[str] | None, planned) -> list:
    """The sweep file's contrasts (else the default ones), each side a strategy the sweep runs."""
    labels = {strategy_label(_planned_record(run)) for run in planned}
    contrasts = []
    for text in texts or DEFAULT_CONTRASTS:
        try:
            contrast = parse_contrast(text)
        except UsageError as exc:
            raise UsageError(f"{file}: {exc}") from None
        missing = [side.label for side in (contrast.treated, contrast.control) if side.label not in labels]
        if texts and missing:
            raise UsageError(f"{file}: contrast {text!r} names {missing[0]!r}, which no run of the sweep trains; "
                             f"name one of {', '.join(sorted(labels))}")
        contrasts.append(contrast)
    return contrasts


def _planned_record(run) -> dict:
    """What a record of the planned run will say of its stream, strategy, backbone and settings."""
    return {"stream": run.stream, "strategy": run.strategy, "backbone": run.backbone,
            "optimizer": run.config.get("optimizer"), "config": run.config}


def _strategy_defaults(label: str) -> dict | None:
    """The default settings of a strategy label ("ewc + nanoadam": the method's over its optimizer's,
    composed as a run composes them); None if not registered."""
    name, _, optimizer = label.partition(" + ")
    try:
        strategy = get_strategy(name)
        return (trained_with(strategy, get_strategy(optimizer)) if optimizer else strategy).defaults
    except UsageError:
        return None
