"""Fault injection: a run killed with SIGKILL and re-run finishes with the record of a run never
interrupted, number for number (CPU). Checkpoints are atomic and removed when the run completes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLBENCH = str(Path(sys.executable).with_name("clbench"))
# 100 training images, batches of 10, 2 epochs: 20 steps per task, a checkpoint every 3 steps.
RUN = ["run", "--no-progress", "--strategy", "STRATEGY", "--set", "image_size=32", "--set", "train_per_class=10",
       "--set", "test_per_class=4", "--set", "epochs=2", "--set", "batch_size=10", "--set", "lr_schedule=cosine",
       "--checkpoint-every", "3"]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
VOLATILE = ("timing", "env", "path")  # wall-clock times and the machine differ between any two runs


def command(strategy, results):
    return [CLBENCH, *(strategy if a == "STRATEGY" else a for a in RUN), "--results", str(results)]


def run(strategy, results):
    return subprocess.run(command(strategy, results), capture_output=True, text=True, env=ENV, timeout=600)


def kill_at_first_checkpoint(strategy, results, checkpoints_seen=1):
    """Starts the run and SIGKILLs it once it has written `checkpoints_seen` checkpoints."""
    process = subprocess.Popen(command(strategy, results), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=ENV)
    folder = results / "checkpoints"
    seen, last = 0, None
    while process.poll() is None:
        files = list(folder.glob("*.pt")) if folder.exists() else []
        stamp = files[0].stat().st_mtime_ns if files else None
        if stamp is not None and stamp != last:
            seen, last = seen + 1, stamp
            if seen == checkpoints_seen:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return
        time.sleep(0.02)
    pytest.fail(f"the run ended (code {process.returncode}) before its checkpoint {checkpoints_seen}")


def stable(record):
    return {k: v for k, v in record.items() if k not in VOLATILE}


@pytest.mark.slow
@pytest.mark.parametrize("strategy, checkpoints_seen", [("nanoadam", 1), ("adamw", 8)])
def test_sigkill_then_rerun_gives_the_uninterrupted_record(tmp_path, strategy, checkpoints_seen):
    whole = run(strategy, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    assert not list((tmp_path / "whole" / "checkpoints").glob("*")), "a completed run leaves no checkpoint"

    results = tmp_path / "killed"
    kill_at_first_checkpoint(strategy, results, checkpoints_seen)
    assert not list(results.glob("*.json")), "a killed run must not leave a record"
    left = {p.suffix for p in (results / "checkpoints").iterdir()}
    assert left == {".pt", ".lock"}, "the checkpoint and the dead run's lock file (unlocked), no half-written file"

    resumed = run(strategy, results)
    assert resumed.returncode == 0, resumed.stderr
    assert "continuing from checkpoint" in resumed.stdout
    expected = json.loads(next((tmp_path / "whole").glob("*.json")).read_text())
    got = json.loads(next(results.glob("*.json")).read_text())
    assert stable(got) == stable(expected)
    assert not list((results / "checkpoints").glob("*"))
