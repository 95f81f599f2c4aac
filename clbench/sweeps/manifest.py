"""A sweep's manifest: every run with its status, record and log, rewritten atomically beside the
records as runs finish, and the summary table printed at the end."""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from pathlib import Path

from clbench.atomic import write_text_atomically
from clbench.errors import UsageError
from clbench.records import is_completed, read_record
from clbench.sweeps.executors import Outcome
from clbench.run import RunSpec

# In the order the summary lists them; "skipped": completed before this sweep started (its wall_s is
# the one its record holds, so that a resumed sweep's manifest keeps what the runs cost).
STATUSES = ("completed", "skipped", "diverged", "failed", "invalid", "running elsewhere", "not run")
_MEANING = {"completed": "trained now", "skipped": "completed before", "invalid": "bad settings",
            "running elsewhere": "another process is training them", "not run": "the sweep stopped first"}


def log_path(results: Path, run: RunSpec) -> Path:
    return Path(results) / "logs" / f"{run.record.stem}.log"


def sweep_manifest(sweep_file: Path, results: Path, executor: str, runs: list[RunSpec],
                   complete: set[Path]) -> Manifest:
    """<results>/<sweep file's stem>.sweep.json, naming the sweep file and its hash."""
    source = {"sweep": str(sweep_file), "sweep_sha256": hashlib.sha256(Path(sweep_file).read_bytes()).hexdigest()}
    return Manifest(Path(results) / f"{Path(sweep_file).stem}.sweep.json", f"sweep {sweep_file}", source,
                    results, executor, runs, complete)


class Manifest:
    def __init__(self, path: Path, title: str, source: dict, results: Path, executor: str, runs: list[RunSpec],
                 complete: set[Path]):
        """source: what the runs come from (a sweep file and its hash, a tuning command)."""
        _check_same_sweep_file(Path(path), source)
        self.path, self.title, self.results = Path(path), title, Path(results)
        self.entries = {run.record: _first_entry(run, results, run.record in complete) for run in runs}
        self.header = {**source, "executor": executor, "started": _now(), "finished": None}

    def update(self, run: RunSpec, outcome: Outcome) -> None:
        self.entries[run.record].update(status=outcome.status, reason=outcome.reason, wall_s=round(outcome.wall_s, 1))
        self.save()

    def note_completed_meanwhile(self) -> None:
        """Runs the sweep stopped before hearing of, whose records are complete (finished just
        before the stop, or by another process), count as completed."""
        for record, entry in self.entries.items():
            if entry["status"] == "not run" and is_completed(record):
                entry["status"] = "completed"

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for entry in self.entries.values():
            counts[entry["status"]] += 1
        return counts

    def all_completed(self) -> bool:
        return all(entry["status"] in ("completed", "skipped") for entry in self.entries.values())

    def save(self, finished: bool = False) -> None:
        if finished:
            self.header["finished"] = _now()
        manifest = {**self.header, "counts": self.counts(), "runs": list(self.entries.values())}
        write_text_atomically(self.path, json.dumps(manifest, indent=2) + "\n")

    def summary(self) -> str:
        counts = self.counts()
        lines = [f"{self.title}: {len(self.entries)} runs"]
        for status in STATUSES:
            if counts[status] or status in ("completed", "skipped"):
                meaning = f"  ({_MEANING[status]})" if status in _MEANING else ""
                lines.append(f"  {status:<18}{counts[status]:>5}{meaning}")
        unfinished = [entry for entry in self.entries.values() if entry["reason"]]
        if unfinished:
            lines.append("runs that did not complete:")
            lines += [f"  {entry['status']}: {entry['command']}\n    {entry['reason']} (log: {entry['log']})"
                      for entry in unfinished]
        lines.append(f"manifest: {self.path}")
        return "\n".join(lines)


def _first_entry(run: RunSpec, results: Path, completed_before: bool) -> dict:
    entry = {"command": run.label(), "record": str(run.record), "log": str(log_path(results, run)),
             "status": "not run", "reason": None, "wall_s": None}
    if completed_before:
        wall_s = read_record(run.record).get("timing", {}).get("wall_s")  # None for a hand-made record
        entry.update(status="skipped", wall_s=None if wall_s is None else round(wall_s, 1))
    return entry


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _check_same_sweep_file(path: Path, source: dict) -> None:
    """A manifest is named by its sweep file's stem: another folder's file of the same name would
    overwrite the first one's manifest. UsageError before anything runs."""
    if not path.exists():
        return
    try:
        previous = _sweep_file(json.loads(path.read_text()))
    except (OSError, ValueError):
        return  # an unreadable manifest is rewritten
    current = _sweep_file(source)
    if previous and current and Path(previous).resolve() != Path(current).resolve():
        raise UsageError(f"{path} is the manifest of sweep file {previous}, and {current} would overwrite it; "
                         "rename one of the two files")


def _sweep_file(source: dict) -> str | None:
    """The sweep file a manifest's runs come from: a sweep's, or the --sweep of a tuning command."""
    if source.get("sweep"):
        return source["sweep"]
    words = shlex.split(source.get("tune") or "")
    return words[words.index("--sweep") + 1] if "--sweep" in words[:-1] else None
