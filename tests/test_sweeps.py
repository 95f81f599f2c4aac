"""Sweeps: the TOML grid and its validation, the executors (local workers, a local Ray instance,
submitit's local executor) on real smoke runs, resume after a kill, and two sweeps on one grid."""

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_records import write_record
import torch

from clbench.training.checkpoints import checkpoint_path
from clbench.errors import UsageError
from clbench.records import is_completed
from clbench.registry import get_stream
from clbench.run import RunOptions, plan_run
from clbench.training.runlock import ALREADY_RUNNING, RunLock, lock_path
from clbench.sweeps import executors
from clbench.sweeps.executors import Job, Outcome, Placement, execute
from clbench.sweeps.manifest import sweep_manifest
from clbench.sweeps.spec import load_sweep
from clbench.tuning.tune import TuneRequest, sweep_requests
from test_cli import CLBENCH, assert_one_line_error, clbench


def sweep_file(folder: Path, text: str, name: str = "grid.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def problem(tmp_path, text: str) -> str:
    with pytest.raises(UsageError) as error:
        load_sweep(sweep_file(tmp_path, text), tmp_path / "runs")
    return str(error.value)


# --- the grid -------------------------------------------------------------------------------------

def test_lists_expand_to_their_product_seed_by_seed(tmp_path):
    runs = load_sweep(sweep_file(tmp_path, """
strategy = ["adamw", "nanoadam"]
seeds = [0, 1]
[set]
epochs = [1, 2]
freeze_norm_stats = true
"""), tmp_path / "runs")
    assert len(runs) == 8
    assert [run.seed for run in runs] == [0] * 4 + [1] * 4  # every configuration gets seed 0 before seed 1
    assert {(run.strategy, run.config["epochs"]) for run in runs} == {
        ("adamw", 1), ("adamw", 2), ("nanoadam", 1), ("nanoadam", 2)}
    assert all(run.config["freeze_norm_stats"] is True for run in runs)
    assert len({run.record for run in runs}) == 8
    assert runs[0].run_args() == ["--stream", "fashionmnist_mnist", "--strategy", "adamw", "--backbone",
                                  "efficientnet_lite0", "--seeds", "0", "--set", "epochs=1",
                                  "--set", "freeze_norm_stats=true"]


def test_per_strategy_settings_and_an_lr_per_task(tmp_path):
    runs = load_sweep(sweep_file(tmp_path, """
strategy = ["adamw", "nanoadam"]
[strategies.nanoadam]
lr = [1e-2, [1e-3, 2e-3]]
density = 0.05
"""), tmp_path / "runs")
    adamw = [run for run in runs if run.strategy == "adamw"]
    nano = [run for run in runs if run.strategy == "nanoadam"]
    assert len(adamw) == 1 and adamw[0].config["lr"] == [1e-4, 1e-4]
    assert sorted(run.config["lr"] for run in nano) == [[1e-3, 2e-3], [1e-2, 1e-2]]
    assert all(run.config["density"] == 0.05 for run in nano)


def test_grids_inherit_the_top_level_and_their_union_has_no_duplicates(tmp_path):
    runs = load_sweep(sweep_file(tmp_path, """
strategy = "adamw"
seeds = [0, 1]
set.epochs = 2
[[grid]]
[[grid]]
seeds = [1, 2]
[[grid]]
strategy = "sgd"
seeds = 0
set.freeze_norm_stats = true
"""), tmp_path / "runs")
    assert [(run.strategy, run.seed) for run in runs] == [("adamw", 0), ("adamw", 1), ("adamw", 2), ("sgd", 0)]
    assert all(run.config["epochs"] == 2 for run in runs)
    assert runs[-1].config["freeze_norm_stats"] is True and runs[0].config["freeze_norm_stats"] is False


def test_a_strategy_table_at_the_top_applies_to_the_grids_that_run_it(tmp_path):
    runs = load_sweep(sweep_file(tmp_path, """
[strategies.nanoadam]
lr = 1e-2
[[grid]]
strategy = "adamw"
[[grid]]
strategy = "nanoadam"
"""), tmp_path / "runs")
    assert [(run.strategy, run.config["lr"]) for run in runs] == [("adamw", [1e-4, 1e-4]), ("nanoadam", [1e-2, 1e-2])]


def test_the_sweep_guides_example_is_a_valid_sweep_of_the_size_it_states(tmp_path):
    guide = (Path(__file__).parents[1] / "docs" / "sweeps.md").read_text()
    example = guide.split("```toml\n", 1)[1].split("```", 1)[0]
    runs = load_sweep(sweep_file(tmp_path, example), tmp_path / "runs")
    assert len(runs) == 40 and "40 (the 20 at each strategy's" in guide


CAMPAIGN = Path(__file__).parents[1] / "results" / "sweeps" / "campaign"


def test_the_papers_grid_is_every_strategy_on_every_backbone_for_5_seeds(tmp_path):
    """The committed paper-scale grid, read without the tuned choices that need its data."""
    runs = load_sweep(CAMPAIGN / "paper_grid.toml", tmp_path / "runs", resolve_tuned=False)
    cells = {(run.backbone, run.strategy, run.config.get("optimizer")) for run in runs}
    assert len(runs) == 60 and len(cells) == 12 and {run.seed for run in runs} == set(range(5))
    assert {run.config["preset"] for run in runs} == {"paper"} and all(run.tuned for run in runs)
    assert ("vit_large_patch16_224", "replay", "nanoadam") in cells


def test_the_offline_campaign_refreshes_nanoadams_mask_several_times_a_task(tmp_path):
    """3 streams x 2 backbones x {AdamW, NanoAdam, replay with each}, and on Lite0 the ablation of
    frozen norm statistics for both optimizers on the two streams that shift between data sets, 5
    tuned seeds each."""
    runs = load_sweep(CAMPAIGN / "offline.toml", tmp_path / "runs", resolve_tuned=False)
    cells = {(run.stream, run.backbone, run.strategy, run.config.get("optimizer"), run.config["freeze_norm_stats"],
              run.config.get("mask_biases")) for run in runs}
    assert len(cells) == 3 * 2 * 4 + 2 * 2 and len(runs) == 5 * len(cells) and all(run.tuned for run in runs)
    ablations = [cell for cell in cells if cell[4]]
    assert len(ablations) == 4 and {cell[1] for cell in ablations} == {"efficientnet_lite0"}
    assert {cell[0] for cell in ablations} == {"fashionmnist_mnist", "fashionmnist_mnist_digits"}
    for run in runs:
        config, stream = run.config, get_stream(run.stream)
        if "mask_interval" not in config:
            continue
        per_class = config["train_per_class"] - round(config["val_fraction"] * config["train_per_class"])
        for task in stream.tasks:
            examples = per_class * (len(task.classes) if task.classes else 10)  # their data sets have 10 classes
            steps = math.ceil(examples / config["batch_size"]) * config["epochs"]
            assert 5 <= math.ceil(steps / config["mask_interval"]) <= steps / 3, (run.label(), steps)
    tunings = sweep_requests(CAMPAIGN / "offline.toml", TuneRequest(
        stream="", backbone="", strategies=[], assignments=[], space=[], points=5, decades=2.0, seeds=[100],
        mode="all", smoke=False, widen=2, trials_dir=tmp_path, tuned_dir=tmp_path, command=""))
    assert sum(len(request.strategies) for request in tunings) == len(cells)


def test_the_records_are_those_clbench_run_writes(tmp_path):
    """The committed grid's records are found complete: a sweep run is exactly a clbench run."""
    root = Path(__file__).parents[1]
    runs = load_sweep(root / "results" / "sweeps" / "default_stream.toml", root / "results" / "runs")
    assert len(runs) == 44 and all(is_completed(run.record) for run in runs)


@pytest.mark.parametrize("text, fragments", [
    ('strategy = "adamw"\n\nstrategys = ["x"]\n', [":3: unknown key 'strategys'", "did you mean strategy"]),
    ('lr = 1e-3\n', [":1: unknown key 'lr'", "under [set]"]),
    ('[set]\nepochs = 1\nepoch = 2\n', [":3:", "unknown --set key 'epoch'", "epochs"]),
    ('[set]\nepochs = "two"\n', [":2:", "epochs='two' is not a valid int"]),
    ('[set]\nepochs = 0\n', [":2:", "epochs=0 is not allowed; epochs must be at least 1"]),
    ('[set]\nepochs = {a = 1}\n', [":2:", "is not a value --set takes"]),
    ('stream = ["fashionmnist_mnist", "fashion"]\n', [":1:", "unknown stream 'fashion'"]),
    ('strategy = ["adamw"]\nbackbone = "resnet_18"\n', [":2:", "unknown backbone 'resnet_18'"]),
    ('seeds = [0, 0]\n', [":1:", "repeats a seed"]),
    ('seeds = ["a"]\n', [":1:", "seeds must be an integer"]),
    ('strategy = "adamw"\n[strategies.nanoadam]\nlr = 1e-3\n', [":2:", "strategies.nanoadam names a strategy"]),
    ('strategy = "adamw"\n[set]\ndensity = 0.1\n', [":3:", "unknown --set key 'density'", "adamw"]),
    ('[[grid]]\nseeds = [1]\n[[grid]]\n[grid.set]\nepochs = -1\n', [":5:", "epochs=-1 is not allowed; epochs must be at least 1"]),
    ('[set]\nlr = []\n', [":2:", "empty list"]),
    ('set = 3\n', [":1:", "set must be a table"]),
    ('strategies = 3\n', [":1:", "strategies must be [strategies.NAME] tables"]),
    ('strategy = "adamw"\nstrategies.adamw = 1e-3\n', [":2:", "strategies.adamw must be a table"]),
    ('strategy = "adamw"\n[strategies.sgd]\nlr = 1\n[[grid]]\n', [":2:", "strategies.sgd names a strategy no grid"]),
    ('strategy = "adamw"\nseeds = [0 1]\n', [":2: not valid TOML"]),
])
def test_bad_sweep_files_name_the_file_key_and_line(tmp_path, text, fragments):
    message = problem(tmp_path, text)
    assert "grid.toml" in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("text, fragment", [
    ("seeds = [0,\n", "not valid TOML"),
    ("strategy = 'adamw'\nlearning_rate = 1\n", "grid.toml:2: unknown key 'learning_rate'"),
    ("[set]\nepochs = 'x'\n", "grid.toml:2: --set epochs='x' is not a valid int"),
])
def test_bad_sweep_file_is_one_line_exit_2_and_runs_nothing(tmp_path, text, fragment, cli):
    results = tmp_path / "runs"
    result = cli("sweep", str(sweep_file(tmp_path, text)), "--results", str(results))
    assert_one_line_error(result, fragment)
    assert not results.exists()


def test_missing_sweep_file_and_bad_only_are_one_line_errors(tmp_path, cli):
    assert_one_line_error(cli("sweep", str(tmp_path / "none.toml"), "--dry-run"), "cannot read sweep file")
    path = sweep_file(tmp_path, 'strategy = ["adamw", "sgd"]\n')
    assert_one_line_error(cli("sweep", str(path), "--dry-run", "--only", "strategy"), "is not KEY=VALUE")
    assert_one_line_error(cli("sweep", str(path), "--dry-run", "--only", "strategy=nanoadam"), "selects no run")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
def test_cuda_runs_are_checked_where_they_run(tmp_path, cli):
    path = sweep_file(tmp_path, 'strategy = "adamw"\n')
    local = cli("sweep", str(path), "--device", "cuda", "--results", str(tmp_path / "runs"))
    assert_one_line_error(local, "--device cuda asked for, but torch sees no CUDA GPU")
    login_node = cli("sweep", str(path), "--device", "cuda", "--executor", "slurm", "--dry-run")
    assert login_node.returncode == 0 and "--device cuda" in login_node.stdout


def test_dry_run_lists_runs_and_what_is_complete(tmp_path, cli):
    path = sweep_file(tmp_path, 'strategy = ["adamw", "sgd"]\nseeds = [0, 1]\n')
    (done,) = [run for run in load_sweep(path, tmp_path / "runs") if run.strategy == "sgd" and run.seed == 1]
    write_record(done)
    result = cli("sweep", str(path), "--dry-run", "--results", str(tmp_path / "runs"), "--only", "seed=1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("2 runs: 1 complete, 1 to run")
    assert lines[1].startswith("complete") and "--strategy sgd" in lines[1] and "--seeds 1" in lines[1]
    assert not (tmp_path / "runs" / "logs").exists()


def test_a_resumed_sweeps_manifest_keeps_what_the_skipped_runs_cost(tmp_path):
    path = sweep_file(tmp_path, 'strategy = ["adamw", "sgd"]\n')
    runs = load_sweep(path, tmp_path / "runs")
    done = next(run for run in runs if run.strategy == "sgd")
    write_record(done)
    record = json.loads(done.record.read_text())
    done.record.write_text(json.dumps({**record, "timing": {"wall_s": 93.46}}))
    manifest = sweep_manifest(path, tmp_path / "runs", "local", runs, {done.record})
    assert manifest.entries[done.record]["status"] == "skipped" and manifest.entries[done.record]["wall_s"] == 93.5
    (pending,) = [entry for record, entry in manifest.entries.items() if record != done.record]
    assert pending["status"] == "not run" and pending["wall_s"] is None


# --- running --------------------------------------------------------------------------------------

SMOKE_GRID = """
strategy = "adamw"
seeds = [0, 1]
smoke = true
[strategies.adamw]
lr = [1e-4, 1e30]   # 1e30 diverges
"""


def records(folder: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in folder.glob("*__seed*.json")}


def manifest(folder: Path, name: str = "grid") -> dict:
    return json.loads((folder / f"{name}.sweep.json").read_text())


def test_local_workers_run_the_grid_and_report_what_did_not_complete(tmp_path, cli):
    path, results = sweep_file(tmp_path, SMOKE_GRID), tmp_path / "runs"
    result = cli("sweep", str(path), "--workers", "2", "--results", str(results), "--no-progress")
    assert result.returncode == 1, result.stderr
    found = records(results)
    assert sorted(r["status"] for r in found.values()) == ["completed", "completed", "diverged", "diverged"]
    runs = manifest(results)["runs"]
    assert manifest(results)["counts"]["completed"] == 2 and manifest(results)["counts"]["diverged"] == 2
    for run in runs:
        assert Path(run["log"]).read_text().startswith("== ") and Path(run["record"]).exists()
        assert (run["reason"] is None) == (run["status"] == "completed")
    diverged = [run for run in runs if run["status"] == "diverged"]
    assert all("non-finite" in run["reason"] for run in diverged)
    assert "diverged: clbench run" in result.stdout and "non-finite" in result.stdout
    cores = len(os.sched_getaffinity(0))
    assert all(r["env"]["torch_threads"] == max(1, cores // 2) for r in found.values())  # cores split
    mode = (results / next(iter(found))).stat().st_mode & 0o777
    assert mode == 0o666 & ~current_umask(), oct(mode)  # readable by the group, as the umask says
    again = cli("sweep", str(path), "--dry-run", "--results", str(results))
    assert "4 runs: 2 complete, 2 to run" in again.stdout


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray", "slurm"])
def test_every_executor_runs_the_grid_with_the_plugin_folders_the_sweep_started_with(tmp_path, executor, monkeypatch):
    """CLBENCH_PLUGINS reaches each run through the job's options, not the worker's environment
    (which a Ray node or Slurm job may not share): a run's process never reads the variable."""
    from test_plugins import STRATEGY_FILE

    if executor != "local":
        pytest.importorskip({"ray": "ray", "slurm": "submitit"}[executor])
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "adagrad_plugin.py").write_text(STRATEGY_FILE)
    monkeypatch.setenv("CLBENCH_PLUGINS", str(plugins))
    path, results = sweep_file(tmp_path, 'strategy = ["sgd", "adagrad_plugin"]\nsmoke = true\n'), tmp_path / "runs"
    options = ["--workers", "2"] + (["--slurm-local"] if executor == "slurm" else [])
    result = clbench("sweep", str(path), "--executor", executor, "--results", str(results), "--no-progress", *options)
    assert result.returncode == 0, result.stdout + result.stderr
    completed = [r for r in records(results).values() if r["status"] == "completed"]
    assert sorted(r["strategy"] for r in completed) == ["adagrad_plugin", "sgd"]
    assert all(r["plugins"] == [{"path": str(plugins / "adagrad_plugin.py"), "sha256": r["plugins"][0]["sha256"]}]
               for r in completed)
    assert manifest(results)["executor"] == executor and manifest(results)["counts"]["completed"] == 2
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_local_workers_share_the_gpus(tmp_path):
    path, results = sweep_file(tmp_path, 'strategy = ["adamw", "nanoadam", "sgd"]\nsmoke = true\n'), tmp_path / "runs"
    result = clbench("sweep", str(path), "--device", "cuda", "--workers", "2", "--results", str(results),
                     "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    found = records(results).values()
    assert len(found) == 3 and all(r["status"] == "completed" and r["env"]["device"] == "cuda" for r in found)
    assert all(r["env"]["gpu"] == torch.cuda.get_device_name() for r in found)


def test_more_local_workers_than_gpus_run_several_runs_on_each_gpu(tmp_path, monkeypatch):
    four_at_once = threading.Barrier(4, timeout=30)  # broken, and the runs fail, unless 4 run at once
    gpus_seen = []

    def fake_execute(job, env, forked=False):
        gpus_seen.append(env["CUDA_VISIBLE_DEVICES"])
        four_at_once.wait()
        return Outcome("completed", None, 0.0)

    monkeypatch.setattr(executors, "_local_gpu_count", lambda device: 2)
    monkeypatch.setattr(executors, "execute", fake_execute)
    jobs = [Job(plan_run("fashionmnist_mnist", "sgd", "efficientnet_lite0", i, smoke=True, results=tmp_path),
                RunOptions(), tmp_path / f"{i}.log") for i in range(8)]
    done = []
    executors.run_local(jobs, lambda job, outcome: done.append(outcome.status), Placement(workers=4, device="cuda"))
    assert done == ["completed"] * 8
    assert sorted(gpus_seen[:4]) == ["0", "0", "1", "1"] and set(gpus_seen) == {"0", "1"}


@pytest.mark.slow
def test_a_sweep_killed_midway_finishes_only_the_missing_runs(tmp_path):
    path, results = sweep_file(tmp_path, 'strategy = ["adamw", "sgd", "nanoadam"]\nsmoke = true\n'), tmp_path / "runs"
    command = [CLBENCH, "sweep", str(path), "--results", str(results), "--no-progress"]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while not records(results) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and its runs, as a lost machine or scancel would
    sweep.wait()
    first = records(results)
    assert len(first) == 1, "killed after the first record"
    (name,) = first
    written = (results / name).stat().st_mtime_ns

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    counts = manifest(results)["counts"]
    assert counts["skipped"] == 1 and counts["completed"] == 2
    (skipped,) = [entry for entry in manifest(results)["runs"] if entry["status"] == "skipped"]
    assert skipped["wall_s"] == round(first[name]["timing"]["wall_s"], 1)  # what it cost, kept from its record
    assert len(records(results)) == 3 and (results / name).stat().st_mtime_ns == written
    assert not list(results.rglob(".*.tmp")) and not list(results.rglob("*.lock"))


@pytest.mark.slow
def test_sigterm_stops_the_sweep_and_its_runs_like_ctrl_c(tmp_path):
    path, results = sweep_file(tmp_path, 'strategy = ["adamw", "sgd", "nanoadam"]\nsmoke = true\n'), tmp_path / "runs"
    sweep = subprocess.Popen([CLBENCH, "sweep", str(path), "--results", str(results), "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not records(results) and time.time() < deadline:
        time.sleep(0.2)
    sweep.terminate()
    out, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 130 and "sweep interrupted; run the same command again" in err
    counts = manifest(results)["counts"]
    assert counts["completed"] >= 1 and counts["completed"] + counts["not run"] == 3
    assert "not run" in out and not list(results.rglob("*.lock"))  # the stopped run released its lock


@pytest.mark.slow
def test_two_sweeps_on_one_grid_train_each_run_once(tmp_path):
    path, results = sweep_file(tmp_path, 'strategy = ["adamw", "sgd", "nanoadam"]\nsmoke = true\n'), tmp_path / "runs"
    command = [CLBENCH, "sweep", str(path), "--results", str(results), "--no-progress"]
    sweeps = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for sweep in sweeps:
        sweep.communicate(timeout=300)
    assert len(records(results)) == 3 and all(r["status"] == "completed" for r in records(results).values())
    logs = list((results / "logs").glob("*.log"))
    assert len(logs) == 3
    for log in logs:  # both sweeps wrote to each run's log; only one trained it
        text = log.read_text()
        assert text.count(": completed in ") == 1, text
        assert text.count("== ") in (1, 2)


def test_a_forked_local_run_writes_what_a_new_process_writes(tmp_path):
    """Local workers fork each run from a server that has imported torch and Avalanche once: the
    same record and thread count as a run in a new Python process (how Ray and Slurm run it)."""
    found = []
    for forked in (False, True):
        results = tmp_path / ("forked" if forked else "new")
        (run,) = load_sweep(sweep_file(tmp_path, 'strategy = "nanoadam"\nsmoke = true\n'), results)
        job = Job(run, RunOptions(progress=False, skip_completed=True), results / "run.log")
        outcome = execute(job, {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}, forked=forked)
        assert outcome.status == "completed", outcome.reason
        found.append(json.loads(run.record.read_text()))
    new, forked = found
    assert forked["accuracy_matrix"] == new["accuracy_matrix"] and forked["mask_refreshes"] == new["mask_refreshes"]
    assert forked["drift_per_layer_l2"] == new["drift_per_layer_l2"]
    assert forked["env"]["torch_threads"] == new["env"]["torch_threads"] == 1


@pytest.mark.slow
def test_a_run_whose_lock_is_held_is_left_to_its_holder(tmp_path):
    results = tmp_path / "runs"
    (run,) = load_sweep(sweep_file(tmp_path, 'strategy = "sgd"\nsmoke = true\n'), results)
    lock = RunLock(lock_path(checkpoint_path(results, run.record)))
    lock.path.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(lock.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = clbench("run", *run.run_args(), "--results", str(results), "--no-progress")
        assert result.returncode == ALREADY_RUNNING and "already running in another process" in result.stdout
        assert not records(results)
        assert not lock.acquire()
    finally:
        holder.kill()
        holder.wait()
    assert lock.acquire()  # the holder's death dropped it
    lock.release()
    assert not lock.path.exists()


def test_a_sweep_file_of_another_folder_with_the_same_name_does_not_take_its_manifest(tmp_path):
    from clbench.sweeps.manifest import Manifest, sweep_manifest

    results = tmp_path / "runs"
    first, second = tmp_path / "a" / "heads.toml", tmp_path / "b" / "heads.toml"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text('strategy = "sgd"\n')
    sweep_manifest(first, results, "local", [], set()).save()
    sweep_manifest(first, results, "local", [], set()).save()  # the same file resumes its own manifest
    with pytest.raises(UsageError, match=f"heads.sweep.json is the manifest of sweep file {first}, and {second}"):
        sweep_manifest(second, results, "local", [], set())
    tuning = results / "heads.tune.json"
    Manifest(tuning, "tuning heads", {"tune": f"clbench tune --sweep {first} --seeds 1"}, results, "local", [],
             set()).save()
    with pytest.raises(UsageError, match="rename one of the two files"):
        Manifest(tuning, "tuning heads", {"tune": f"clbench tune --sweep {second}"}, results, "local", [], set())
    Manifest(tuning, "tuning heads", {"tune": f"clbench tune --sweep {first} --workers 2"}, results, "local", [],
             set())
