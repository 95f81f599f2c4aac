"""Fault injection: NaN weights, a GPU out-of-memory error, corrupt checkpoints, concurrent writers
and junk in the results folder. Each checks what the user sees and what survives."""

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clbench.training.checkpoints import checkpoint_path, load_checkpoint
from clbench.errors import UsageError
from clbench.records import load_records, save_record

CLBENCH = str(Path(sys.executable).with_name("clbench"))
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}

# A strategy plugin whose optimizer misbehaves at its second step when the task's lr asks it to.
FAULTY_STRATEGY = '''
import torch
from clbench.strategy import Strategy

class Faulty(torch.optim.SGD):
    def step(self, closure=None):
        super().step(closure)
        self.steps = getattr(self, "steps", 0) + 1
        lr = self.param_groups[0]["lr"]
        if self.steps == 2 and lr == 0.5:
            with torch.no_grad():
                self.param_groups[0]["params"][0].view(-1)[0] = float("nan")
        if self.steps == 2 and lr == 0.25:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

STRATEGY = Strategy(
    name="faulty",
    description="SGD that writes a NaN weight (lr 0.5) or runs out of GPU memory (lr 0.25) at step 2",
    defaults={"lr": 1e-3},
    make_optimizer=lambda backbone, head, lr, config: Faulty([*backbone.parameters(), *head.parameters()], lr=lr),
)
'''


@pytest.fixture
def faulty(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "faulty.py").write_text(FAULTY_STRATEGY)
    return folder


def clbench(*args):
    return subprocess.run([CLBENCH, *args], capture_output=True, text=True, env=ENV, timeout=600)


def smoke(plugins, results, *settings):
    return clbench("run", "--smoke", "--no-progress", "--plugins", str(plugins), "--strategy", "faulty",
                   "--results", str(results), *(a for s in settings for a in ("--set", s)))


@pytest.mark.slow
def test_nan_weight_stops_the_run_as_diverged_and_other_seeds_go_on(faulty, tmp_path):
    # task 0 trains at lr 1e-3, task 1 at 0.5: the NaN appears at task 1, step 2; 4 steps per task
    result = smoke(faulty, tmp_path, "lr=1e-3,0.5", "batch_size=16")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "clbench: run diverged (seed 0): non-finite weight in backbone.conv_stem.weight at task 1, step 2"]
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert record["status"] == "diverged"
    assert record["divergence"] == {"task": 1, "step": 2, "cause": "non-finite weight in backbone.conv_stem.weight"}
    assert len(record["accuracy_matrix"]) == 1  # task 0's row survives
    assert not list((tmp_path / "checkpoints").glob("*")), "a diverged run is final: no checkpoint kept"
    seeds = clbench("run", "--smoke", "--no-progress", "--plugins", str(faulty), "--strategy", "faulty",
                    "--results", str(tmp_path / "seeds"), "--set", "lr=0.5", "--set", "batch_size=16", "--seeds", "0,1")
    assert seeds.returncode == 1 and seeds.stderr.count("diverged") == 2  # the first did not stop the second
    assert len(list((tmp_path / "seeds").glob("*.json"))) == 2


def test_gpu_out_of_memory_is_one_line_with_the_batch_size_to_try(faulty, tmp_path):
    result = smoke(faulty, tmp_path, "lr=0.25", "batch_size=16")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "clbench: run failed (seed 0): out of memory on cpu with batch_size 16; try --set batch_size=8 "
        "(the learning rate may need adjusting), or a smaller image_size"]
    assert json.loads(next(tmp_path.glob("*.json")).read_text())["status"] == "failed"


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"\x80\x04\x95 a pickle, not a checkpoint"])
def test_a_corrupt_checkpoint_is_named_with_the_fix(tmp_path, content):
    path = checkpoint_path(tmp_path, Path("run.json"))
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(UsageError, match=f"checkpoint {path} cannot be read .*; delete it"):
        load_checkpoint(path)


def test_a_checkpoint_that_runs_code_when_unpickled_is_refused(tmp_path):
    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "checkpoints" / "run.pt"
    path.parent.mkdir()
    torch.save({"version": 1, "run": "run", "model": Payload()}, path)
    with pytest.raises(UsageError, match="cannot be read"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
def test_a_corrupt_checkpoint_stops_the_run_with_exit_2(tmp_path):
    first = clbench("run", "--smoke", "--no-progress", "--results", str(tmp_path), "--keep-checkpoints")
    assert first.returncode == 0, first.stderr
    record_file = next(tmp_path.glob("*.json"))
    checkpoint = checkpoint_path(tmp_path, record_file)
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    record_file.unlink()
    result = clbench("run", "--smoke", "--no-progress", "--results", str(tmp_path))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot be read" in result.stderr and "delete it" in result.stderr
    restarted = clbench("run", "--smoke", "--no-progress", "--results", str(tmp_path), "--restart")
    assert restarted.returncode == 0 and record_file.exists()


def _write_many(folder, writer, count):
    for i in range(count):
        record = {"schema_version": 1, "stream": "s", "strategy": f"w{writer}", "backbone": "b", "seed": i,
                  "status": "completed", "tasks": ["a"], "accuracy_matrix": [[float(i)]], "baseline_accuracy": [0.0],
                  "metrics": {"acc": float(i)}, "config": {"padding": "x" * 20000}}
        save_record(folder, record)
        # every writer also rewrites one shared record: the last rename wins, whole
        save_record(folder, {**record, "strategy": "shared", "seed": 0, "metrics": {"acc": float(writer)}})


def test_concurrent_writers_lose_nothing_and_readers_never_see_half_a_record(tmp_path):
    writers, count = 4, 25
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(tmp_path, w, count)) for w in range(writers)]
    for p in processes:
        p.start()
    partial_reads = 0
    while any(p.is_alive() for p in processes):
        records, problems = load_records(tmp_path)
        partial_reads += len(problems)
    for p in processes:
        p.join()
        assert p.exitcode == 0
    records, problems = load_records(tmp_path)
    assert partial_reads == 0 and problems == []
    assert len(records) == writers * count + 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left behind"


@pytest.mark.slow
def test_junk_in_the_results_folder_is_reported_by_every_reader(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "s__adamw__b__seed0__junk.json").write_bytes(os.urandom(64))
    (tmp_path / "runs" / "s__adamw__b__seed1__empty.json").write_text("")
    (tmp_path / "runs" / "subfolder").mkdir()
    for command in ("leaderboard", "plot"):
        result = clbench(command, "--results", str(tmp_path / "runs"), *(["--out", str(tmp_path)] if command == "plot" else []))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert sum("skipped" in line for line in lines) == 2 and "no completed run records" in lines[-1]
