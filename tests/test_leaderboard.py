"""`clbench leaderboard` on small fixed record sets whose statistics are worked out by hand."""

import csv
import io
import json
import math
from collections import defaultdict

import pytest

from clbench.cli import main
from clbench.config import RUN_DEFAULTS
from clbench.records import SCHEMA_VERSION

T_975_DF2 = 0.95 * math.sqrt(2 / (1 - 0.95**2))  # see test_stats.py


def record(strategy, seed, forgetting, final_second, lr=1e-3, status="completed", **settings):
    """A two-task run: 90% on task a after training on it, 90 - forgetting after task b."""
    config = {**RUN_DEFAULTS, "image_size": 32, "train_per_class": 10, "test_per_class": 5, "lr": [lr, lr],
              **settings}
    matrix = [[90.0, 10.0], [90.0 - forgetting, final_second]]
    return {
        "schema_version": 1, "stream": "s", "strategy": strategy, "backbone": "b", "seed": seed,  # as committed ones
        "status": status, "error": None if status == "completed" else "non-finite loss", "tasks": ["a", "b"],
        "accuracy_matrix": matrix if status == "completed" else matrix[:1], "baseline_accuracy": [10.0, 10.0],
        "metrics": {"acc": (90.0 - forgetting + final_second) / 2, "forgetting": forgetting, "bwt": -forgetting,
                    "drift_l2": 1.0 + seed, "fraction_changed": 1.0},
        "optimizer_state_bytes": [2**20, 2 * 2**20], "config": config,
    }


def record_name(strategy, seed, tag):
    return f"s__{strategy}__b__seed{seed}__{tag}.json"


def write(folder, records):
    folder.mkdir(exist_ok=True)
    for i, r in enumerate(records):
        (folder / record_name(r["strategy"], r["seed"], i)).write_text(json.dumps(r))
    return folder


def leaderboard(capsys, folder, *args):
    code = main(["leaderboard", "--results", str(folder), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def three_seeds(tmp_path):
    return write(tmp_path / "runs", [
        record("adamw", 0, 10.0, 80.0), record("adamw", 1, 12.0, 82.0), record("adamw", 2, 14.0, 84.0),
        # forgetting differences to adamw -1, 0, -2; final accuracy on task b 1 point lower each seed
        record("nanoadam", 0, 9.0, 79.0), record("nanoadam", 1, 12.0, 81.0), record("nanoadam", 2, 12.0, 83.0),
    ])


def test_json_means_intervals_and_paired_test(capsys, three_seeds):
    code, out, err = leaderboard(capsys, three_seeds, "--format", "json")
    assert code == 0 and err == ""
    rows = {row["strategy"]: row for row in json.loads(out)["rows"]}
    adamw, nano = rows["adamw"], rows["nanoadam"]
    assert adamw["seeds"] == [0, 1, 2]
    # adamw forgetting 10, 12, 14: mean 12, sd 2
    half = T_975_DF2 * 2 / math.sqrt(3)
    assert adamw["forgetting"]["mean"] == pytest.approx(12.0)
    assert (adamw["forgetting"]["low"], adamw["forgetting"]["high"]) == pytest.approx((12 - half, 12 + half))
    assert adamw["state_mb"]["mean"] == pytest.approx(2.0)  # the largest state over the tasks
    # differences -1, 0, -2: mean -1, sd 1; the interval contains 0 and p = 1 - t / sqrt(2 + t^2)
    versus = nano["forgetting_vs_baseline"]
    t = -1 / (1 / math.sqrt(3))
    assert versus["difference"] == pytest.approx(-1.0)
    assert versus["low"] == pytest.approx(-1 - T_975_DF2 / math.sqrt(3))
    assert versus["low"] < 0 < versus["high"]
    assert versus["p_value"] == pytest.approx(1 - abs(t) / math.sqrt(2 + t * t))
    # Holm over the table's 2 comparisons (acc's p is 1): the smaller p doubled
    assert versus["p_holm"] == pytest.approx(2 * versus["p_value"])
    assert nano["acc_vs_baseline"]["p_holm"] == pytest.approx(1.0)
    assert versus["seeds"] == [0, 1, 2]
    assert adamw["forgetting_vs_baseline"] is None  # the baseline is not compared with itself
    assert "forgetting" in nano["best"] and "acc" in adamw["best"] and "final_b" in adamw["best"]


def test_a_method_is_one_row_per_optimizer_named_with_both(capsys, tmp_path):
    def method(optimizer, seed, forgetting, held):
        run = record("ewc", seed, forgetting, 80.0, optimizer=optimizer)
        return {**run, "optimizer": optimizer, "method_state_bytes": [held, 2 * held]}

    folder = tmp_path / "runs"
    folder.mkdir()
    runs = [record("adamw", 0, 10.0, 80.0), record("adamw", 1, 12.0, 82.0),
            method("adamw", 0, 5.0, 2**20), method("adamw", 1, 7.0, 2**20),
            method("nanoadam", 0, 4.0, 2**21), method("nanoadam", 1, 5.0, 2**21),
            record("nanoadam", 0, 9.0, 79.0), record("nanoadam", 1, 12.0, 81.0)]
    for i, run in enumerate(runs):
        (folder / record_name(run["strategy"], run["seed"], i)).write_text(json.dumps(run))
    runs.append(record("sgd", 0, 20.0, 70.0))  # an optimizer no method trains with
    (folder / record_name("sgd", 0, len(runs))).write_text(json.dumps(runs[-1]))
    code, out, err = leaderboard(capsys, folder, "--format", "json")
    tables = defaultdict(dict)
    for row in json.loads(out)["rows"]:
        tables[row["table"]][row["label"]] = row
    optimizers, rows = tables["optimizers"], tables["methods"]
    # the optimizers' table is the one they had before the methods ran: its comparisons and correction too
    alone = write(tmp_path / "alone", [run for run in runs if "optimizer" not in run])
    before = {row["label"]: row for row in json.loads(leaderboard(capsys, alone, "--format", "json")[1])["rows"]}
    assert code == 0 and sorted(optimizers) == ["adamw", "nanoadam", "sgd"]
    for label, row in optimizers.items():
        assert {**row, "records": None} == {**before[label], "records": None}  # the same runs, under other names
    assert "method_mb" not in optimizers["adamw"]
    # the methods' table repeats the optimizers alone that its methods train with
    assert sorted(rows) == ["adamw", "ewc + adamw", "ewc + nanoadam", "nanoadam"]
    assert rows["ewc + nanoadam"]["method_mb"]["mean"] == pytest.approx(4.0)  # the most it held
    assert rows["adamw"]["method_mb"]["mean"] == 0
    assert rows["ewc + adamw"]["forgetting_vs_baseline"]["difference"] == pytest.approx(-5.0)
    # within the method: ewc + nanoadam against ewc + adamw, forgetting -1 and -2 on the two seeds
    (section,) = json.loads(out)["optimizers_within_methods"]
    swap, alone = section["rows"]
    assert (swap["method"], swap["optimizer"], section["baseline"]) == ("ewc", "nanoadam", "adamw")
    assert (alone["method"], alone["optimizer"]) == ("none", "nanoadam")  # the optimizers alone
    assert alone["forgetting_vs_baseline"]["difference"] == pytest.approx(-0.5)
    assert swap["forgetting_vs_baseline"]["difference"] == pytest.approx(-1.5)
    assert swap["forgetting_vs_baseline"]["seeds"] == [0, 1] and swap["forgetting_vs_baseline"]["p_holm"] is not None
    code, out, err = leaderboard(capsys, folder)
    assert "### Optimizers within each method" in out and "| ewc | nanoadam | 2 | " in out
    code, out, err = leaderboard(capsys, write(tmp_path / "optimizers", [record("adamw", 0, 10.0, 80.0)]))
    assert "method MB" not in out and "within each method" not in out  # optimizers alone: neither


def test_markdown_marks_the_best_and_states_the_comparison(capsys, three_seeds):
    code, out, _ = leaderboard(capsys, three_seeds)
    assert code == 0
    nano_line = next(line for line in out.splitlines() if line.startswith("| nanoadam"))
    cells = [c.strip() for c in nano_line.strip("|").split("|")]
    assert cells[1] == "3"
    assert cells[3].startswith("**11.00 ± ")  # forgetting: lowest mean is bold
    assert cells[2].startswith("**80.00 ± ")  # acc: both strategies average 80.00, a tie marks both
    assert cells[6].startswith("81.00 ± ")  # final accuracy on task b: adamw's 82.00 is the best
    assert "-1.00 [-3.48, +1.48]" in nano_line and "0.451" in nano_line  # Holm: 2 x 0.225
    assert "Holm-corrected over the table's 2 comparisons" in out


def test_a_diverged_run_is_counted_in_its_row_not_in_its_means(capsys, three_seeds):
    (three_seeds / record_name("nanoadam", 3, "x")).write_text(json.dumps(record("nanoadam", 3, 0.0, 0.0,
                                                                                  status="diverged")))
    code, out, err = leaderboard(capsys, three_seeds)
    nano_line = next(line for line in out.splitlines() if line.startswith("| nanoadam"))
    assert code == 0 and nano_line.split("|")[2].strip() == "3 (1 diverged)"
    assert "**11.00 ± " in nano_line  # the mean of the 3 completed seeds, as without the diverged run
    assert "counted beside them, not in the means" in out
    assert err.startswith("clbench: note: ") and "run diverged" in err
    _, out, _ = leaderboard(capsys, three_seeds, "--format", "json")
    nano = next(row for row in json.loads(out)["rows"] if row["strategy"] == "nanoadam")
    assert nano["seeds"] == [0, 1, 2] and [u["seed"] for u in nano["unfinished"]] == [3]


def test_runs_on_another_device_or_precision_form_their_own_table(capsys, tmp_path):
    gpu = {"env": {"device": "cuda"}}
    folder = write(tmp_path / "runs", [record("adamw", 0, 10.0, 80.0), record("adamw", 1, 12.0, 82.0),
                                       {**record("adamw", 0, 20.0, 80.0), **gpu}, {**record("adamw", 1, 22.0, 82.0), **gpu}])
    _, out, _ = leaderboard(capsys, folder, "--format", "json")
    rows = json.loads(out)["rows"]
    assert len(rows) == 2
    by_device = {row["settings"]["device"]: row for row in rows}
    assert by_device["cpu"]["settings"]["amp"] is False and by_device["cuda"]["settings"]["amp"] is True
    assert by_device["cuda"]["forgetting"]["mean"] == pytest.approx(21.0)


def test_csv_and_html_carry_the_same_numbers(capsys, three_seeds):
    _, out, _ = leaderboard(capsys, three_seeds, "--format", "csv")
    rows = {row["strategy"]: row for row in csv.DictReader(io.StringIO(out))}
    assert float(rows["nanoadam"]["forgetting_mean"]) == pytest.approx(11.0)
    assert rows["nanoadam"]["forgetting_best"] == "True" and rows["adamw"]["forgetting_best"] == "False"
    assert float(rows["nanoadam"]["forgetting_vs_baseline_difference"]) == pytest.approx(-1.0)
    _, page, _ = leaderboard(capsys, three_seeds, "--format", "html")
    assert page.startswith("<!DOCTYPE html>") and "<b>11.00 ± " in page


def test_runs_under_other_settings_form_their_own_table(capsys, tmp_path):
    folder = write(tmp_path / "runs", [
        record("adamw", 0, 10.0, 80.0), record("adamw", 1, 12.0, 80.0),
        record("nanoadam", 0, 20.0, 80.0), record("nanoadam", 1, 22.0, 80.0),
        record("adamw", 0, 1.0, 80.0, freeze_norm_stats=True),
        record("nanoadam", 0, 2.0, 80.0, freeze_norm_stats=True),
        record("nanoadam", 0, 3.0, 80.0, lr=5e-3, freeze_norm_stats=True),
    ])
    _, out, _ = leaderboard(capsys, folder, "--format", "json")
    rows = json.loads(out)["rows"]
    frozen = [r for r in rows if r["settings"]["freeze_norm_stats"]]
    updated = [r for r in rows if not r["settings"]["freeze_norm_stats"]]
    assert len(updated) == 2 and len(frozen) == 3
    by_label = {r["label"]: r for r in frozen}
    assert set(by_label) == {"adamw", "nanoadam (lr=[0.001, 0.001])", "nanoadam (lr=[0.005, 0.005])"}
    assert by_label["nanoadam (lr=[0.005, 0.005])"]["forgetting_vs_baseline"]["difference"] == pytest.approx(2.0)
    nano_updated = next(r for r in updated if r["strategy"] == "nanoadam")
    assert nano_updated["forgetting_vs_baseline"]["difference"] == pytest.approx(10.0)
    _, page, _ = leaderboard(capsys, folder)
    assert "### s · b · freeze_norm_stats=True" in page and "### s · b · freeze_norm_stats=False" in page


def test_bad_files_and_unfinished_runs_are_reported_and_skipped(capsys, three_seeds):
    bad = {"junk": "{not json", "old": json.dumps({**record("adamw", 5, 1.0, 1.0), "schema_version": 0}),
           "cut": json.dumps({"schema_version": SCHEMA_VERSION, "stream": "s"}), "list": "[1, 2]",
           "diverged": json.dumps(record("nanoadam", 7, 0.0, 0.0, status="diverged"))}
    for tag, text in bad.items():
        (three_seeds / record_name("adamw", 9, tag)).write_text(text)
    (three_seeds / record_name("adamw", 9, "binary")).write_bytes(b"\xff\xfe")
    (three_seeds / f".{record_name('adamw', 9, 'partial')}.tmp").write_text("{")
    (three_seeds / "leaderboard.json").write_text("[]")  # not named like a record: not looked at
    code, out, err = leaderboard(capsys, three_seeds, "--format", "json")
    assert code == 0
    skipped = err.splitlines()
    assert len(skipped) == 6 and sum(line.startswith("clbench: skipped ") for line in skipped) == 5
    for fragment in ("junk.json: not a JSON run record", "binary.json: not a JSON run record",
                     "old.json: schema version 0", "cut.json: truncated record, missing", "list.json: not a run record",
                     "diverged.json: run diverged"):
        assert any(fragment in line for line in skipped), fragment
    rows = {row["strategy"]: row for row in json.loads(out)["rows"]}
    assert rows["nanoadam"]["seeds"] == [0, 1, 2] and rows["adamw"]["seeds"] == [0, 1, 2]


def test_records_in_sub_folders_are_found(capsys, tmp_path):
    write(tmp_path / "runs", [record("adamw", 0, 10.0, 80.0), record("nanoadam", 0, 9.0, 79.0)])
    write(tmp_path / "runs" / "sweep", [record("adamw", 1, 12.0, 82.0), record("nanoadam", 1, 12.0, 81.0)])
    (tmp_path / "leaderboard.json").write_text("{}")
    code, out, err = leaderboard(capsys, tmp_path, "--format", "json")
    assert code == 0 and err == ""
    rows = {row["strategy"]: row for row in json.loads(out)["rows"]}
    assert rows["nanoadam"]["seeds"] == [0, 1] and rows["adamw"]["seeds"] == [0, 1]


def test_empty_or_missing_results_folder_is_a_one_line_error(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        code, out, err = leaderboard(capsys, folder)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and str(folder) in err


def test_out_file_is_written(capsys, three_seeds, tmp_path):
    out_file = tmp_path / "board" / "leaderboard.md"
    code, out, _ = leaderboard(capsys, three_seeds, "--out", str(out_file))
    assert code == 0 and out == "" and out_file.read_text().startswith("### s · b")
