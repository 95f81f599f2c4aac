"""The benchmark scripts run and write records that hold together (make gpu-check runs them on a GPU
machine where a broken script would waste the machine). Their speed is not tested here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.startup import import_seconds  # noqa: E402

pytestmark = pytest.mark.slow  # whole runs and benchmark scripts: the full suite (make test-all)


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def recorded(script: str, tmp_path: Path, *args: str) -> tuple[list[dict], str]:
    """The rows of the record `script` writes, and the table --table prints from it."""
    out = tmp_path / "record.json"
    result = run_benchmark(script, *args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert record["command"].endswith(f"--out {out}") and record["env"]["device"] == "cpu"
    table = run_benchmark(script, "--table", str(out))
    assert table.returncode == 0, table.stderr
    return record["rows"], table.stdout


def test_the_optimizer_benchmark_measures_each_row_against_adamw_of_the_same_run(tmp_path):
    rows, table = recorded("optimizers.py", tmp_path, "--models", "efficientnet_lite0",
                           "--optimizers", "NanoAdam 1%,MicroAdam (ours) 1%", "--steps", "2", "--mask-interval", "2")
    names = [row["optimizer"] for row in rows]
    assert names == ["AdamW (torch, foreach)", "AdamW (torch, fused)", "NanoAdam 1%, m=2",
                     "MicroAdam (ours) 1%, window 10"]
    foreach = rows[0]
    for row in rows:
        assert row["time_ratio"] == pytest.approx(row["step_ms"] / foreach["step_ms"])
        assert row["state_ratio"] == pytest.approx(row["state_bytes"] / foreach["state_bytes"])
        assert row["aten_calls"] > 0
    nanoadam = rows[2]
    assert nanoadam["refresh_ms"] is not None and nanoadam["state_ratio"] < 0.05 and nanoadam["buffer_bytes"] > 0
    assert len(table.strip().splitlines()) == 2 + len(rows)


def test_the_step_profile_accounts_for_the_whole_profiled_step(tmp_path):
    rows, table = recorded("step_profile.py", tmp_path, "--models", "efficientnet_lite0", "--optimizers", "NanoAdam 1%",
                           "--steps", "2", "--top", "3")
    assert [row["operation"] for row in rows][-1] == "between the calls"
    assert len(rows) == 5  # the top 3, the others together, the time between the calls
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    assert sum(row["ms"] for row in rows) == pytest.approx(rows[0]["profiled_step_ms"])
    assert len(table.strip().splitlines()) == 2 + len(rows)


def test_the_density_benchmark_selects_more_lines_at_higher_density(tmp_path):
    rows, _ = recorded("nanoadam_density.py", tmp_path, "--model", "efficientnet_lite0", "--densities", "0.01,0.1",
                       "--steps", "2")
    sparse, dense = rows
    assert sparse["selected"] < dense["selected"] and sparse["lines_touched"] < dense["lines_touched"] <= 1
    assert sparse["dense_ratio"] == pytest.approx(sparse["step_ms"] / sparse["dense_pass_ms"])


@pytest.mark.parametrize("args, message", [
    (("step_profile.py", "--steps", "60"), "--steps 60 must be between 1 and 49"),
    (("step_profile.py", "--optimizers", "Adagrad"), "no optimizer row starts with 'Adagrad'"),
    (("nanoadam_density.py", "--densities", "0.01,2"), "each must be in (0, 1]"),
])
def test_bad_arguments_get_a_one_line_error(args, message):
    result = run_benchmark(*args)
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr


def test_the_throughput_benchmark_times_clbench_and_avalanche_against_the_plain_loop_of_the_same_run(tmp_path):
    out = tmp_path / "record.json"
    result = run_benchmark("throughput.py", "--backbones", "test_efficientnet", "--per-class", "4", "--epochs", "1",
                           "--batch-size", "8", "--repeats", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    (row,) = record["rows"]
    assert row["backbone"] == "test_efficientnet"
    for loop in ("plain", "clbench", "avalanche_naive"):
        assert len(row[f"{loop}_passes_s"]) == 3
        assert row[f"{loop}_images_per_s"] == pytest.approx(record["images"] / sorted(row[f"{loop}_passes_s"])[1])
    for loop in ("clbench", "avalanche_naive"):
        assert row[f"{loop}_ratio"] == pytest.approx(row[f"{loop}_images_per_s"] / row["plain_images_per_s"])
    assert "| test_efficientnet |" in result.stdout


def test_startup_time_goes_to_the_package_whose_import_brought_it_in():
    log = "\n".join([  # -X importtime's form: a module's own and cumulative microseconds, children first
        "import time: self [us] | cumulative | imported package",
        "import time:    300000 |     300000 |     jax",
        "import time:    100000 |     400000 |   avalanche",
        "import time:     20000 |      20000 |     clbench.records",
        "import time:     10000 |     430000 | clbench.cli",
        "import time:   1000000 |    1000000 | torch",
    ])
    assert import_seconds(log) == pytest.approx({"avalanche": 0.4, "clbench": 0.03, "torch": 1.0})


def test_the_startup_benchmark_stops_at_the_first_training_step(tmp_path):
    rows, table = recorded("startup.py", tmp_path, "--repeats", "1")
    (row,) = rows
    assert row["clbench"] == "installed" and row["avalanche_s"] > 0
    assert 0 < row["not_imports_s"] < row["total_s"]
    assert "| installed |" in table


def test_the_text_step_benchmark_times_every_configuration_against_the_first(tmp_path):
    rows, table = recorded("text_step.py", tmp_path, "--tokens", "16,8", "--threads", "1,2", "--compile-tokens", "",
                           "--batch-size", "2", "--steps", "1", "--warmup", "0")
    assert [(row["tokens"], row["threads"], row["compiled"]) for row in rows] == [
        (16, 1, False), (16, 2, False), (8, 1, False), (8, 2, False)]
    for row in rows:
        assert row["time_ratio"] == pytest.approx(row["step_ms"] / rows[0]["step_ms"])
        assert row["texts_per_core_s"] == pytest.approx(2 / (row["step_ms"] / 1000) / row["threads"])
    assert len(table.strip().splitlines()) == 2 + len(rows)
