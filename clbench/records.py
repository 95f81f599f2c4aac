"""Run records: one JSON file per run, written atomically, with the environment that made it."""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TypedDict

from clbench.atomic import write_text_atomically
from clbench.errors import UsageError

SCHEMA_VERSION = 2  # see _UPGRADES


class RunRecord(TypedDict):
    """A run record of this schema version, as clbench.run writes it and read_record returns it
    (docs/runs.md says what each key holds)."""

    schema_version: int
    stream: str
    strategy: str
    optimizer: str | None  # the optimizer strategy a continual-learning method trains with
    backbone: str
    seed: int
    backbone_weights: str
    status: str  # completed, diverged or failed
    error: str | None
    divergence: dict | None
    tasks: list[str]
    accuracy_matrix: list[list[float]]
    baseline_accuracy: list[float]
    metrics: dict[str, float | None]
    val_accuracy_matrix: list[list[float]] | None
    val_baseline_accuracy: list[float] | None
    val_metrics: dict[str, float | None] | None
    val_epoch_accuracy: list[list[float]] | None
    drift_per_layer_l2: dict[str, float]
    output_kl: list[list[float]] | None
    optimizer_state_bytes: list[int]
    method_state_bytes: list[int]
    mask_refreshes: list[int] | None
    effective: dict
    timing: dict
    config: dict
    env: dict
    plugins: list[dict]
    tuned: dict | None
_PACKAGES = ("clbench", "torch", "torchvision", "timm", "avalanche-lib", "numpy")


# Settings added after records were committed, each with the value at which runs behave as before it
# existed: there it stays out of the hash, so that the earlier records keep their names.
SETTINGS_ADDED_LATER = {"head_lr": 0.0, "divergence_check_every": 20, "compile": False}


def identifying(config: dict) -> dict:
    """The settings that tell runs apart: all but those added later, where at their neutral value."""
    return {key: value for key, value in config.items()
            if not (key in SETTINGS_ADDED_LATER and value == SETTINGS_ADDED_LATER[key])}


def curve_settings(config: dict) -> dict:
    """The settings the runs of one lr curve share: the identifying ones but the lr and the tuned
    file that chose it."""
    return {key: value for key, value in identifying(config).items() if key not in ("lr", "tuned")}


def one_value(value):
    """A per-task setting with one value for every task, such as lr, as that value."""
    if isinstance(value, list) and value and all(v == value[0] for v in value):
        return value[0]
    return value


def differing_keys(configs: list[dict]) -> set[str]:
    """The keys whose values are not the same in all the configs (a key some lack counts as None there)."""
    return {key for key in set().union(*configs)
            if len({json.dumps(config.get(key), sort_keys=True) for config in configs}) > 1}


def config_hash(config: dict) -> str:
    """Short stable hash of a resolved configuration, to tell apart runs of different settings."""
    return hashlib.sha256(json.dumps(identifying(config), sort_keys=True).encode()).hexdigest()[:8]


# {stream}__{strategy}__{backbone}__seed{seed}__{config hash}.json: how readers tell a record from
# the other JSON files under results/ (leaderboards, benchmarks, sweep manifests)
_RECORD_NAME = re.compile(r".+__.+__.+__seed-?\d+__\w+\.json")


def is_method_run(record: dict) -> bool:
    """A continual-learning method's run names the optimizer it trained with."""
    return bool(record.get("optimizer"))


def strategy_label(record: dict) -> str:
    """How tables name a run's strategy: a method with the optimizer it trains with, "ewc + nanoadam"."""
    return f"{record['strategy']} + {record['optimizer']}" if is_method_run(record) else record["strategy"]


def file_stem(*parts: str) -> str:
    """A file name of the parts joined by "__", every run of characters other than letters, digits
    and _.=- made one "-" (figures' and site pages' names)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", "__".join(parts))


def record_path(results_dir: Path, record: dict) -> Path:
    name = "{stream}__{strategy}__{backbone}__seed{seed}__{h}.json".format(
        h=config_hash(record["config"]), **record
    )
    return Path(results_dir) / name


def save_record(results_dir: Path, record: dict) -> Path:
    path = record_path(results_dir, record)
    write_text_atomically(path, json.dumps(finite_or_none(record), indent=2, allow_nan=False) + "\n")
    return path


def finite_or_none(value):
    """JSON has no NaN or infinity: a diverged run's non-finite numbers are recorded as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def environment(device: str) -> dict:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        # CPU runs are bit-identical only for the same CPU kernels and the same number of threads
        # (the order of floating-point sums follows both): a run elsewhere is another sample
        "cpu": _cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "packages": versions,
        "device": device,
        "gpu": torch.cuda.get_device_name() if torch.device(device).type == "cuda" else None,
        "git_commit": _git_commit(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    """The commit of the clbench checkout that ran, if it runs from one."""
    source_dir = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source_dir, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


_REQUIRED_KEYS = ("stream", "strategy", "backbone", "seed", "status", "tasks", "accuracy_matrix",
                  "baseline_accuracy", "metrics", "config")


def effective_settings(config: dict, device: str) -> dict:
    """The device type and the precision settings as they took effect: bf16 autocast and
    channels-last apply on CUDA only, whatever the configuration asks for."""
    cuda = str(device).startswith("cuda")
    return {"device": "cuda" if cuda else "cpu", "amp": cuda and bool(config.get("amp")),
            "channels_last": cuda and bool(config.get("channels_last"))}


def read_record(path: Path) -> RunRecord | None:
    """The run record at path, upgraded to this schema version; None when the file is not a
    readable record of a schema this clbench knows."""
    record, _ = _read(Path(path))
    return record


def completed_record(path: Path) -> RunRecord | None:
    """The record at path when it is one of a completed run, else None."""
    record = read_record(path)
    return record if record is not None and record["status"] == "completed" else None


def is_completed(path: Path) -> bool:
    """Whether path holds the record of a completed run."""
    return completed_record(path) is not None


def _read(path: Path) -> tuple[dict | None, str | None]:
    """(the upgraded record, None), or (None, one line saying why the file is not one)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path}: not a JSON run record ({type(exc).__name__})"
    if not isinstance(record, dict) or "schema_version" not in record:
        return None, f"{path}: not a run record"
    if record["schema_version"] not in _UPGRADES and record["schema_version"] != SCHEMA_VERSION:
        return None, (f"{path}: schema version {record['schema_version']!r}, this clbench reads "
                      f"{', '.join(map(str, [*_UPGRADES, SCHEMA_VERSION]))}")
    if missing := [key for key in _REQUIRED_KEYS if key not in record]:
        return None, f"{path}: truncated record, missing {', '.join(missing)}"
    while record["schema_version"] != SCHEMA_VERSION:
        record = _UPGRADES[record["schema_version"]](record)
    return record, None


def _from_schema_1(record: dict) -> dict:
    """Schema 2 records always carry the old heads' output drift (output_kl, and its mean in
    metrics), each epoch's validation accuracy, the plugin files, the tuned file, the effective
    settings, the method's optimizer and state; schema 1 records written before a key existed get
    it as null (plugins: none; effective: derived from env.device, where the run trained; written
    before methods existed: no optimizer of a method, no method state)."""
    device = record.get("env", {}).get("device", "cpu")
    return {"output_kl": None, "val_epoch_accuracy": None, "plugins": [], "tuned": None,
            "effective": effective_settings(record["config"], device), "optimizer": None,
            "method_state_bytes": [0] * len(record["accuracy_matrix"]),
            **record, "metrics": {"output_kl": None, **record["metrics"]}, "schema_version": 2}


_UPGRADES = {1: _from_schema_1}  # schema version -> the function that upgrades a record by one version


def load_records(results_dir: Path) -> tuple[list[dict], list[str]]:
    """Every run record in results_dir and its sub-folders, upgraded to this schema version, and one
    line for each file named like a record that is not a readable record. Files named otherwise (leaderboards,
    manifests, logs) and hidden files, such as a write in progress, are not looked at."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"results folder {results_dir} does not exist; pass --results DIR")
    records, problems = [], []
    for path in sorted(results_dir.rglob("*.json")):
        if not _RECORD_NAME.fullmatch(path.name) or any(part.startswith(".") for part in
                                                         path.relative_to(results_dir).parts):
            continue
        record, problem = _read(path)
        if record is None:
            problems.append(problem)
        else:
            records.append({**record, "path": str(path)})
    return records, problems
