"""Tuned-settings files (results/tuned/): what `clbench tune` chose for one stream x backbone x
strategy x run settings, and how `clbench run --tuned` and sweeps find and apply them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from clbench.assignments import assigned_keys
from clbench.atomic import write_text_atomically
from clbench.config import resolve_config
from clbench.errors import UsageError
from clbench.methods.compose import OPTIMIZER_KEY, is_method
from clbench.records import config_hash, identifying
from clbench.strategy import Strategy
from clbench.streams import StreamSpec

DEFAULT_TUNED_DIR = Path("results/tuned")
SCHEMA_VERSION = 1


def tuned_name(stream: str, backbone: str, strategy: str, settings: dict, space_keys, mode: str) -> str:
    identity = {"settings": identifying(settings), "space": sorted(space_keys), "mode": mode}
    return f"{stream}__{backbone}__{strategy}__{config_hash(identity)}.json"


def settings_without(config: dict, keys) -> dict:
    """The run settings a tuning holds fixed: all but the tuned keys."""
    return {key: value for key, value in config.items() if key not in keys}


@dataclass(frozen=True)
class TunedFile:
    path: Path
    data: dict
    sha256: str

    @classmethod
    def load(cls, path: Path) -> TunedFile:
        try:
            raw = Path(path).read_bytes()
            data = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read tuned-settings file {path} ({type(exc).__name__}); give a file "
                             "clbench tune wrote") from None
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION or "choice" not in data:
            raise UsageError(f"{path} is not a tuned-settings file of this clbench; re-run clbench tune")
        return cls(Path(path), data, hashlib.sha256(raw).hexdigest())

    def mismatch(self, stream: str, backbone: str, strategy: str, config: dict, ignored=()) -> str | None:
        """Why this file does not apply to a run of `config` (resolved without the file's choice),
        or None. Settings in `ignored` are not compared."""
        data = self.data
        for key, value in (("stream", stream), ("backbone", backbone), ("strategy", strategy)):
            if data[key] != value:
                return f"it was tuned for {key} {data[key]}, this run is {value}"
        fixed = identifying(settings_without(config, [*data["choice"], *ignored]))
        saved = identifying(data["settings"])
        differences = [f"{key}={saved.get(key)!r} there, {fixed.get(key)!r} here"
                       for key in sorted(set(fixed) | set(saved)) if fixed.get(key) != saved.get(key)]
        return f"its run settings differ: {'; '.join(differences)}" if differences else None

    def reference(self) -> dict:
        """How a record names the file: its path (relative to the working folder when inside it) and hash."""
        path = self.path.resolve()
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        return {"file": str(shown), "sha256": self.sha256}


def write_tuned(directory: Path, data: dict) -> Path:
    path = Path(directory) / data["name"]
    write_text_atomically(path, json.dumps({"schema_version": SCHEMA_VERSION, **data}, indent=2) + "\n")
    return path


def tuned_config(stream: StreamSpec, strategy: Strategy, backbone: str, assignments: list[str], smoke: bool,
                 tuned: Path) -> tuple[dict, TunedFile]:
    """The run's configuration with a tuned-settings file's choice applied, and the file. `tuned`
    is a file, or a folder searched for the one file that matches the run. A method (ewc, replay, ...)
    not tuned itself takes the choice tuned for its optimizer alone, its own settings as they are set.
    One-line UsageError when none matches, or the run sets a key the file chose."""
    base = resolve_config(stream, strategy, assignments, smoke=smoke, backbone=backbone)
    # (strategy whose tuning applies, settings not compared): the method's own, then its optimizer's
    tunings = [(strategy.name, ())]
    if is_method(strategy):
        tunings.append((base[OPTIMIZER_KEY], tuple(strategy.defaults)))
    if not Path(tuned).exists():
        raise UsageError(f"no tuned-settings folder or file {tuned}; run clbench tune --stream {stream.name} "
                         f"--backbone {backbone} --strategy {strategy.name} first, or drop --tuned")
    if Path(tuned).is_dir():
        for tuned_for, ignored in tunings:
            files = sorted(Path(tuned).glob(f"{stream.name}__{backbone}__{tuned_for}__*.json"))
            candidates = [TunedFile.load(p) for p in files]
            matching = [f for f in candidates if f.mismatch(stream.name, backbone, tuned_for, base, ignored) is None]
            if matching:
                break
        if not matching:
            raise UsageError(f"no tuned settings in {tuned} for {stream.name} x {backbone} x {strategy.name} with these "
                             f"run settings ({len(candidates)} for other settings); run clbench tune --stream "
                             f"{stream.name} --backbone {backbone} --strategy {strategy.name} with the same --set, "
                             "or drop --tuned")
        if len(matching) > 1:
            raise UsageError(f"{len(matching)} tuned-settings files in {tuned} match this run "
                             f"({', '.join(f.path.name for f in matching)}); pass one with --tuned FILE")
        (file,) = matching
    else:
        file = TunedFile.load(tuned)
        tuned_for, ignored = next((t for t in tunings if t[0] == file.data.get("strategy")), tunings[0])
        if why := file.mismatch(stream.name, backbone, tuned_for, base, ignored):
            raise UsageError(f"{tuned} does not match this run: {why}; tune this configuration with clbench tune, "
                             "or drop --tuned")
    chosen = set(file.data["choice"])
    if clash := sorted(chosen & assigned_keys(assignments)):
        raise UsageError(f"--set {', '.join(clash)} clashes with the tuned choice in {file.path}; drop one of them")
    choice = [f"{key}={text}" for key, text in file.data["choice"].items()]
    config = resolve_config(stream, strategy, [*assignments, *choice], smoke=smoke, backbone=backbone)
    config["tuned"] = file.path.name
    return config, file
