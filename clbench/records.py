"""Run records: one JSON file per run, written atomically, with the environment that made it."""

from __future__ import annotations

import hashlib
import json
import math
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from clbench.atomic import write_text_atomically

SCHEMA_VERSION = 1
_PACKAGES = ("clbench", "torch", "torchvision", "timm", "avalanche-lib", "numpy")


def config_hash(config: dict) -> str:
    """Short stable hash of a resolved configuration, to tell apart runs of different settings."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]


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
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "device": device,
        "git_commit": _git_commit(),
    }


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
