"""clbench analyze: a sweep's contrasts per cell, their Holm family, matched plasticity on the
tuning curves, and the random-effects pooling over cells, on records whose effects are known."""

import json
import math
from pathlib import Path

import pytest

from clbench.reporting.campaign import CONTRASTS, analyze
from clbench.reporting.campaign_format import as_json, markdown
from clbench.sweeps.spec import load_sweep
from test_cli import assert_one_line_error, clbench

SWEEP = '''stream = ["fashionmnist_mnist", "split_fashionmnist"]
strategy = ["adamw", "nanoadam"]
seeds = [0, 1, 2, 3]
smoke = true

[[grid]]

[[grid]]
strategy = "replay"
set = { optimizer = ["adamw", "nanoadam"] }
'''
NOISE = (0.3, -0.5, 0.1, 0.4)  # per seed, the same for both sides of a pair up to `jitter`


def write_records(tmp_path, effect: dict[str, float], jitter: float = 0.2, seeds=(0, 1, 2, 3)) -> tuple:
    """The sweep's records: forgetting = 20 + NOISE[seed] (+ effect[stream] for NanoAdam-trained runs,
    + jitter on odd seeds); acc = 80 - forgetting / 2."""
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SWEEP)
    runs = load_sweep(sweep, tmp_path / "runs")
    for run in runs:
        if run.seed not in seeds:
            continue
        nano = run.strategy == "nanoadam" or run.config.get("optimizer") == "nanoadam"
        forgetting = 20 + NOISE[run.seed] + (effect[run.stream] + jitter * (run.seed % 2) if nano else 0)
        tasks = 2 if run.stream == "fashionmnist_mnist" else 5
        record = {"stream": run.stream, "strategy": run.strategy, "backbone": run.backbone, "seed": run.seed,
                  "status": "completed", "config": run.config, "effective": {"device": "cpu"},
                  "metrics": {"forgetting": forgetting, "acc": 80 - forgetting / 2, "plasticity": 85.0},
                  "accuracy_matrix": [[85.0] * tasks] * tasks, "timing": {"wall_s": 90.0}}
        run.record.parent.mkdir(parents=True, exist_ok=True)
        run.record.write_text(json.dumps(record))
    return sweep, runs


def records_of(runs):
    return [json.loads(run.record.read_text()) for run in runs if run.record.exists()]


def test_each_cell_holds_the_paired_difference_and_the_pool_their_average(tmp_path):
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -4.0, "split_fashionmnist": -6.0})
    result = analyze(records_of(runs), len(runs), tmp_path)
    assert {(c.contrast.name, c.cell.stream) for c in result.cells} == {
        (contrast.name, stream) for contrast in CONTRASTS[:2]
        for stream in ("fashionmnist_mnist", "split_fashionmnist")}
    for c in result.cells:
        expected = -4.0 if c.cell.stream == "fashionmnist_mnist" else -6.0
        forgetting, acc = c.comparisons["forgetting"], c.comparisons["acc"]
        assert forgetting.difference.mean == pytest.approx(expected + 0.1) and forgetting.seeds == (0, 1, 2, 3)
        assert acc.difference.mean == pytest.approx(-(expected + 0.1) / 2)
        assert forgetting.difference.high < 0 < acc.difference.low and forgetting.p_holm >= forgetting.p_value
    pooled = {(p.contrast.name, p.metric): p for p in result.pooled}
    nano = pooled["NanoAdam - AdamW", "forgetting"]
    assert nano.estimate.n == 2 and nano.estimate.mean == pytest.approx(-4.9, abs=0.01)
    assert nano.estimate.low < -6 and nano.estimate.high > -4 and nano.tau2 > 0  # two cells that truly differ
    assert ("NanoAdam, biases masked - AdamW", "forgetting") not in pooled  # no such runs


def test_the_holm_family_is_every_cell_of_a_metric(tmp_path):
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -4.0, "split_fashionmnist": -6.0})
    result = analyze(records_of(runs), len(runs), tmp_path)
    raw = sorted(c.comparisons["forgetting"].p_value for c in result.cells)
    corrected = sorted(c.comparisons["forgetting"].p_holm for c in result.cells)
    assert len(raw) == 4 and corrected[0] == pytest.approx(min(1.0, 4 * raw[0]))


def test_equal_cells_pool_to_their_common_effect_with_no_between_cell_variance(tmp_path):
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -5.0, "split_fashionmnist": -5.0})
    nano = next(p for p in analyze(records_of(runs), len(runs), tmp_path).pooled
                if p.contrast.name == "NanoAdam - AdamW" and p.metric == "forgetting")
    assert nano.tau2 == 0 and nano.estimate.mean == pytest.approx(-4.9) and nano.estimate.high < 0


def test_forgetting_at_matched_plasticity_reads_the_tuning_curves(tmp_path):
    """NanoAdam's curve reaches 80% plasticity at forgetting 20, AdamW's crosses 80% at 30: -10."""
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -4.0, "split_fashionmnist": -6.0})
    trials = tmp_path / "tuning"
    trials.mkdir()
    curves = {"nanoadam": [(1e-3, 60, 10), (1e-2, 80, 20)], "adamw": [(1e-4, 70, 20), (1e-3, 90, 40)]}
    for strategy, points in curves.items():
        names = []
        for lr, plasticity, forgetting in points:
            names.append(f"{strategy}{lr}.json")
            (trials / names[-1]).write_text(json.dumps({"status": "completed", "config": {"lr": [lr, lr]},
                                                        "metrics": {"plasticity": plasticity, "forgetting": forgetting,
                                                                    "acc": 0}, "timing": {"wall_s": 45.0}}))
        (tmp_path / f"{strategy}.tuned.json").write_text(json.dumps({"trials": [{"records": names}]}))
    records = records_of(runs)
    for record in records:
        if record["strategy"] in curves and record["stream"] == "fashionmnist_mnist":
            record["tuned"] = {"file": str(tmp_path / f"{record['strategy']}.tuned.json")}
    result = analyze(records, len(runs), trials)
    cell = next(c for c in result.cells
                if c.contrast.name == "NanoAdam - AdamW" and c.cell.stream == "fashionmnist_mnist")
    assert cell.matched.level == 80 and cell.matched.treated == 20 and cell.matched.control == pytest.approx(30)
    assert cell.matched.difference == pytest.approx(-10)
    # the cost: each trial once, however many seeds its tuning chose the settings of
    assert result.trials == 4 and result.trial_hours == pytest.approx(4 * 45 / 3600)
    assert result.run_hours == pytest.approx(len(records) * 90 / 3600)


def test_the_report_names_what_is_missing_and_the_command_line_writes_it(tmp_path):
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -4.0, "split_fashionmnist": -6.0}, seeds=(0, 1, 2))
    result = analyze(records_of(runs), len(runs), tmp_path)
    text = markdown(result, "Test")
    assert f"24 of {len(runs)} runs of the sweep completed" in text and "### Pooled over cells" in text
    assert "0.60 h for the 24 runs and 0.00 h for the 0 tuning trials" in text
    assert json.loads(as_json(result))["cells"][0]["forgetting"]["seeds"] == [0, 1, 2]
    out = tmp_path / "analysis.md"
    done = clbench("analyze", str(sweep), "--results", str(tmp_path / "runs"), "--out", str(out),
                   "--figures", str(tmp_path / "figures"))
    assert done.returncode == 0, done.stderr
    assert "### NanoAdam - AdamW" in out.read_text() and math.isfinite(result.pooled[0].estimate.mean)
    figures = sorted(path.name for path in (tmp_path / "figures").glob("*.png"))
    assert figures == sorted(f"sweep__{name}__{metric}.png" for name in ("nanoadam_adamw", "replay_nanoadam_adamw")
                             for metric in ("forgetting", "acc"))
    assert sorted(Path(line).name for line in done.stdout.split()) == figures
    empty = clbench("analyze", str(sweep), "--results", str(tmp_path / "none"))
    assert_one_line_error(empty, "no completed records of", "run clbench sweep")
