"""clbench analyze: a sweep's contrasts per cell, their Holm family, matched comparisons on the
seed-mean tuning curves with their bootstrap, and the random-effects pooling over cells, on records
whose effects are known."""

import json
import math
from pathlib import Path

import pytest
from scipy import stats

from clbench.cli import main
from clbench.errors import UsageError
from clbench.records import SCHEMA_VERSION

from clbench.reporting.campaign import analyze, of_cell, sweep_trials
from clbench.reporting.campaign_format import as_json, markdown
from clbench.reporting.contrasts import DEFAULT_CONTRASTS, parse_contrast, side_records
from clbench.reporting.matched import MEASURES, matched_difference, unmatched_reason
from clbench.reporting.curves import Point
from clbench.sweeps.spec import load_sweep
from test_cli import assert_one_line_error

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
        record = {"schema_version": SCHEMA_VERSION, "stream": run.stream, "strategy": run.strategy,
                  "optimizer": run.config.get("optimizer"), "backbone": run.backbone, "seed": run.seed,
                  "tasks": [f"t{i}" for i in range(tasks)], "baseline_accuracy": [10.0] * tasks,
                  "status": "completed", "config": run.config, "effective": {"device": "cpu"},
                  "metrics": {"forgetting": forgetting, "acc": 80 - forgetting / 2, "plasticity": 85.0},
                  "accuracy_matrix": [[85.0] * tasks] * tasks, "timing": {"wall_s": 90.0}}
        run.record.parent.mkdir(parents=True, exist_ok=True)
        run.record.write_text(json.dumps(record))
    return sweep, runs


def records_of(runs):
    return [json.loads(run.record.read_text()) for run in runs if run.record.exists()]


CONTRASTS = [parse_contrast(text) for text in DEFAULT_CONTRASTS]


def analyzed(records, planned, trials=()):
    return analyze(records, planned, list(trials), CONTRASTS)


def test_each_cell_holds_the_paired_difference_and_the_pool_their_average(tmp_path):
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -4.0, "split_fashionmnist": -6.0})
    result = analyzed(records_of(runs), len(runs))
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
    nano = pooled["nanoadam - adamw", "forgetting"]
    assert nano.estimate.n == 2 and nano.estimate.mean == pytest.approx(-4.9, abs=0.01)
    assert nano.estimate.low < -6 and nano.estimate.high > -4 and nano.tau2 > 0  # two cells that truly differ
    assert ("nanoadam mask_biases=true - adamw", "forgetting") not in pooled  # no such runs


def test_the_holm_family_is_every_cell_of_a_metric(tmp_path):
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -4.0, "split_fashionmnist": -6.0})
    result = analyzed(records_of(runs), len(runs))
    raw = sorted(c.comparisons["forgetting"].p_value for c in result.cells)
    corrected = sorted(c.comparisons["forgetting"].p_holm for c in result.cells)
    assert len(raw) == 4 and corrected[0] == pytest.approx(min(1.0, 4 * raw[0]))


def test_equal_cells_pool_to_their_common_effect_with_no_between_cell_variance(tmp_path):
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -5.0, "split_fashionmnist": -5.0})
    nano = next(p for p in analyzed(records_of(runs), len(runs)).pooled
                if p.contrast.name == "nanoadam - adamw" and p.metric == "forgetting")
    assert nano.tau2 == 0 and nano.estimate.mean == pytest.approx(-4.9) and nano.estimate.high < 0


CURVES = {"nanoadam": [(1e-3, 60, 10), (1e-2, 80, 20)], "adamw": [(1e-4, 70, 20), (1e-3, 90, 40)]}
OFFSETS = {100: -1.0, 101: 0.0, 102: 1.0}  # NanoAdam's forgetting per tuning seed, added to CURVES'


def curves_of(points, offset=0.0):
    return [Point(lr, plasticity, forgetting + offset, 0.0, None, 50.0 - forgetting - offset, plasticity)
            for lr, plasticity, forgetting in points]


def test_matched_forgetting_is_read_off_the_seed_mean_curves_with_a_bootstrap_over_seeds():
    """NanoAdam's seed-mean curve reaches 80% plasticity at forgetting 20, AdamW's crosses 80% at 30:
    -10; a draw of seeds moves NanoAdam's mean offset within [-1, 1], so every draw is below 0."""
    treated = {seed: curves_of(CURVES["nanoadam"], offset) for seed, offset in OFFSETS.items()}
    control = {seed: curves_of(CURVES["adamw"]) for seed in OFFSETS}
    forgetting = matched_difference(treated, control, MEASURES[0])
    assert forgetting.level == 80 and forgetting.treated == pytest.approx(20) and forgetting.control == pytest.approx(30)
    assert forgetting.difference == pytest.approx(-10) and forgetting.seeds == (100, 101, 102)
    assert -11 <= forgetting.low < -10 < forgetting.high <= -9
    assert forgetting.p_value == pytest.approx(2 / 27)  # no draw of the 27 at or above 0: the floor
    # old-task accuracy at matched new-task accuracy (here new = plasticity, old = 50 - forgetting)
    old = matched_difference(treated, control, MEASURES[1])
    assert old.level == 80 and old.difference == pytest.approx(10)
    # over the shared range of plasticity, 70 to 80, both sides are linear: read at its middle, 75
    over_range = matched_difference(treated, control, next(m for m in MEASURES if m.name == "forgetting_range"))
    assert (over_range.lowest, over_range.level) == (70, 80)
    assert over_range.treated == pytest.approx(17.5) and over_range.control == pytest.approx(25)
    assert over_range.difference == pytest.approx(-7.5) and -8.5 <= over_range.low < -7.5 < over_range.high <= -6.5
    # one seed: the estimate without an interval; no seed in common: nothing
    single = matched_difference({100: treated[100]}, {100: control[100]}, MEASURES[0])
    assert single.difference == pytest.approx(-11) and single.low is None and single.p_value is None
    assert matched_difference({100: treated[100]}, {101: control[101]}, MEASURES[0]) is None
    # a curve that starts above the level both reach has no value there
    high = {100: curves_of([(1e-3, 95, 10), (1e-2, 99, 20)])}
    assert matched_difference(high, {100: control[100]}, MEASURES[0]) is None
    # and the analysis says what to run for one
    names = ("nanoadam", "adamw")
    assert unmatched_reason(high, {100: control[100]}, MEASURES[0], names) == (
        "nanoadam's curve starts at 95.0, above the 90.0 that adamw's reaches at most: run nanoadam at lower lrs")
    assert unmatched_reason(treated, control, MEASURES[0], names) is None
    assert "share no seed" in unmatched_reason({100: treated[100]}, {101: control[101]}, MEASURES[0], names)
    assert "adamw ran fewer than 2 lrs on every seed" in unmatched_reason(treated, {100: control[100][:1]}, MEASURES[0],
                                                                    names)


def test_the_analysis_reads_the_sweep_trials_and_holm_corrects_each_measure(tmp_path):
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -4.0, "split_fashionmnist": -6.0})
    trials = []
    for run in runs:
        if run.seed != 0 or run.strategy not in CURVES:
            continue
        for seed, offset in OFFSETS.items():
            for lr, plasticity, forgetting in CURVES[run.strategy]:
                extra = offset if run.strategy == "nanoadam" else 0.0
                trials.append({"stream": run.stream, "strategy": run.strategy, "backbone": run.backbone,
                               "optimizer": None, "seed": seed, "status": "completed",
                               "config": {**run.config, "lr": [lr] * len(run.config["lr"])},
                               "metrics": {"plasticity": plasticity, "forgetting": forgetting + extra, "acc": 0},
                               "accuracy_matrix": [[0.0, 50.0 - forgetting - extra, plasticity]],
                               "timing": {"wall_s": 45.0}, "effective": {"device": "cpu"}})
    other = {**trials[0], "config": {**trials[0]["config"], "epochs": 7}}  # another sweep's trial
    planned = [{"stream": r.stream, "strategy": r.strategy, "backbone": r.backbone, "optimizer": r.config.get("optimizer"),
                "config": r.config} for r in runs]
    assert sweep_trials([*trials, other], planned) == trials
    records = records_of(runs)
    result = analyzed(records, len(runs), trials)
    cells = [c for c in result.cells if c.contrast.name == "nanoadam - adamw"]
    assert len(cells) == 2
    for cell in cells:
        assert cell.matched["forgetting"].difference == pytest.approx(-10)
        matched = cell.matched["forgetting"]
        # each seed's own curves, read at 80 where NanoAdam's top out: 20 + offset against AdamW's 30
        assert matched.per_seed == pytest.approx((-11, -10, -9))
        half = stats.t.ppf(0.975, 2) * 1 / math.sqrt(3)  # the t-interval over them: sd 1, 3 seeds
        assert (matched.t.low, matched.t.high) == pytest.approx((-10 - half, -10 + half))
        assert matched.p_value == pytest.approx(2 / 27)  # the bootstrap's: no draw of 27 reaches 0
        p_t = stats.ttest_1samp([-11, -10, -9], 0.0).pvalue
        assert matched.p_holm == pytest.approx(min(1, 2 * p_t))  # Holm over a family of two cells
    assert result.trials == len(trials) == 24 and result.trial_hours == pytest.approx(24 * 45 / 3600)
    assert result.run_hours == pytest.approx(len(records) * 90 / 3600)
    pooled = {(p.contrast.name, p.metric): p for p in result.pooled}
    assert pooled["nanoadam - adamw", "matched forgetting"].estimate.mean == pytest.approx(-10)
    split = next(c.cell for c in cells if c.cell.stream == "split_fashionmnist")
    one = of_cell(result, split, trials)  # a cell's page: its contrasts, curves and trials, nothing pooled
    assert {c.cell.stream for c in one.cells} == {"split_fashionmnist"} and not one.pooled
    assert one.trials == 12 and one.trial_hours == pytest.approx(12 * 45 / 3600)
    third = [{**t, "config": {**t["config"], "lr": [10 * lr for lr in t["config"]["lr"]]}}  # a third lr: curves
             for t in trials if t["config"]["lr"][0] == CURVES[t["strategy"]][-1][0]]
    with_curves = analyzed(records, len(runs), trials + third)
    assert {p.group.stream for p in with_curves.plateaus} == {"fashionmnist_mnist", "split_fashionmnist"}
    assert {p.group.stream for p in of_cell(with_curves, split, trials + third).plateaus} == {"split_fashionmnist"}
    # the curves alone, before any reported run: the matched columns, no paired ones
    curves_only = analyzed([], len(runs), trials)
    assert all(c.comparisons["forgetting"] is None and c.matched["forgetting"] for c in curves_only.cells)
    text = markdown(curves_only, "Test")
    contrast = text[text.index("### nanoadam - adamw"):text.index("### Matched measures by cell")].splitlines()
    assert contrast[2].startswith("| stream | backbone | norm stats | curve seeds | ")  # no paired columns
    assert all(line.count("|") == contrast[2].count("|") for line in contrast[2:] if line)
    by_cell = text[text.index("### Matched measures by cell"):text.index("### Pooled over cells")]
    rows = [line for line in by_cell.splitlines() if "| nanoadam - adamw | -10.00 [" in line]
    assert sorted(line.split(" | ")[0] for line in rows) == ["| fashionmnist_mnist", "| split_fashionmnist"]
    one_lr = [t for t in trials if not (t["strategy"] == "adamw" and t["config"]["lr"][0] == 1e-4)]
    text = markdown(analyzed([], len(runs), one_lr), "Test")
    assert ("- split_fashionmnist · efficientnet_lite0 · updated, nanoadam - adamw, forgetting at matched plasticity: "
            "adamw ran fewer than 2 lrs on every seed: run its lr grid") in text
    # `clbench analyze --figures` draws the curves of 2 lrs that the matched measures read
    tuning = tmp_path / "tuning"
    tuning.mkdir()
    for i, trial in enumerate(trials):
        tasks = len(trial["config"]["lr"])
        name = f"{trial['stream']}__{trial['strategy']}__{trial['backbone']}__seed{trial['seed']}__{i}.json"
        (tuning / name).write_text(json.dumps({**trial, "schema_version": SCHEMA_VERSION,
                                               "tasks": [f"t{t}" for t in range(tasks)],
                                               "baseline_accuracy": [10.0] * tasks}))
    assert main(["analyze", str(sweep), "--results", str(tmp_path / "none"), "--trials", str(tuning),
                 "--out", str(tmp_path / "analysis.md"), "--figures", str(tmp_path / "figures")]) == 0
    drawn = {path.name.split("__")[1] for path in (tmp_path / "figures").glob("sweep__*__lr_*.png")}
    assert drawn == {"fashionmnist_mnist", "split_fashionmnist"}


def test_a_bare_side_means_the_strategy_at_its_defaults_and_settings_pick_a_variant():
    def record(weight_decay, lr):
        return {"strategy": "adamw", "optimizer": None, "config": {"weight_decay": weight_decay, "lr": [lr]}}

    records = [record(0.0, 1e-3), record(0.0, 1e-2), record(0.01, 1e-3)]
    contrast = parse_contrast("adamw weight_decay=0.01 - adamw")
    assert side_records(contrast.treated, records, {"weight_decay": 0.0}) == records[2:]
    assert side_records(contrast.control, records, {"weight_decay": 0.0}) == records[:2]
    assert side_records(contrast.control, records, None) == []  # two variants, no defaults to choose by
    assert parse_contrast("replay + nanoadam - replay + adamw").treated.label == "replay + nanoadam"
    for bad in ("nanoadam", "nanoadam - ", "weight_decay=1 - adamw"):
        with pytest.raises(UsageError):
            parse_contrast(bad)


def test_the_report_names_what_is_missing_and_the_command_line_writes_it(tmp_path, cli):
    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -4.0, "split_fashionmnist": -6.0}, seeds=(0, 1, 2))
    result = analyzed(records_of(runs), len(runs))
    text = markdown(result, "Test")
    assert f"24 of {len(runs)} runs of the sweep completed" in text and "### Pooled over cells" in text
    assert "0.60 h for the 24 runs and 0.00 h for the 0 tuning trials" in text
    assert json.loads(as_json(result))["cells"][0]["forgetting"]["seeds"] == [0, 1, 2]
    out = tmp_path / "analysis.md"
    trials = ("--trials", str(tmp_path / "tuning"))  # none: not the committed ones of this working folder
    done = cli("analyze", str(sweep), "--results", str(tmp_path / "runs"), *trials, "--out", str(out),
               "--figures", str(tmp_path / "figures"))
    assert done.returncode == 0, done.stderr
    assert "### nanoadam - adamw" in out.read_text() and math.isfinite(result.pooled[0].estimate.mean)
    figures = sorted(path.name for path in (tmp_path / "figures").glob("*.png"))
    assert figures == sorted(f"sweep__{name}__{metric}.png" for name in ("nanoadam_adamw", "replay_nanoadam_replay_adamw")
                             for metric in ("forgetting", "acc"))
    assert sorted(Path(line).name for line in done.stdout.split()) == figures
    empty = cli("analyze", str(sweep), "--results", str(tmp_path / "none"), *trials)
    assert_one_line_error(empty, "no completed records or tuning trials of", "run clbench tune --sweep")
    (tmp_path / "named.toml").write_text('contrasts = ["nanoadam - lora"]\n' + SWEEP)
    unknown = cli("analyze", str(tmp_path / "named.toml"), "--results", str(tmp_path / "runs"), *trials)
    assert_one_line_error(unknown, "names 'lora', which no run of the sweep trains", "name one of")
    (tmp_path / "bad.toml").write_text('contrasts = "nanoadam - adamw"\n' + SWEEP)
    bad = cli("analyze", str(tmp_path / "bad.toml"), "--results", str(tmp_path / "runs"), *trials)
    assert_one_line_error(bad, "bad.toml:1: contrasts must be a list", "contrasts = [")


def test_a_sweep_whose_runs_are_lr_curve_trials_counts_them_among_the_trials(tmp_path):
    from clbench.sweeps.analysis import analyze_sweep

    sweep, runs = write_records(tmp_path, {"fashionmnist_mnist": -4.0, "split_fashionmnist": -6.0}, seeds=(0, 1, 2))
    result, trials = analyze_sweep(sweep, tmp_path / "none", tmp_path / "runs")  # `clbench sweep --results tuning`
    assert result.complete == 0 and result.complete_as_trials == 24 == len(trials) and result.planned == len(runs)
    assert markdown(result, "Test").splitlines()[2].startswith(
        f"24 of the sweep's {len(runs)} runs completed, as lr-curve trials; 24 trials of its settings drew the lr curves.")


@pytest.mark.parametrize("settings, norm", [({"freeze_norm_stats": True}, "frozen"), ({"freeze_norm_stats": False}, "updated"),
                                            ({"freeze_norm_stats": False, "max_tokens": 128}, "none")])
def test_a_cells_norm_statistics_are_none_on_a_text_stream(settings, norm):
    from clbench.reporting.campaign import norm_stats

    assert norm_stats(settings) == norm


def test_a_contrast_at_equal_lr_pairs_the_seeds_both_sides_ran_at_that_lr():
    from clbench.reporting.campaign import _at_equal_lrs

    def point(lr, plasticity, forgetting, changed):
        return Point(lr=lr, plasticity=plasticity, forgetting=forgetting, acc=plasticity - forgetting, val_acc=None,
                     fraction_changed=changed)

    treated = {0: [point(1e-3, 80, 2, 0.03), point(3e-3, 82, 5, 0.05)], 1: [point(1e-3, 81, 4, 0.03)],
               2: [point(1e-3, 79, 9, 0.03)]}
    control = {0: [point(1e-3, 80, 3, 0.06), point(1e-2, 70, 20, 0.2)], 1: [point(1e-3, 80, 6, 0.07)]}
    (row,) = _at_equal_lrs(treated, control)  # 3e-3 and 1e-2: one side only; seed 2: the treated only
    assert row.lr == 1e-3 and row.differences["forgetting"].n == 2
    assert row.differences["forgetting"].mean == pytest.approx(-1.5)  # (2 - 3 + 4 - 6) / 2
    assert row.differences["plasticity"].mean == pytest.approx(0.5)
    half = stats.t.ppf(0.975, 1) * stats.tstd([-1, -2]) / math.sqrt(2)
    assert row.differences["forgetting"].high == pytest.approx(-1.5 + half)
    assert row.changed == (pytest.approx(0.03), pytest.approx(0.065))


def test_a_contrast_with_the_frozen_backbone_reads_each_lr_of_the_curve_against_its_run_on_the_seed():
    def trial(strategy, seed, lr, plasticity, forgetting, old_acc, changed):
        return {"stream": "fashionmnist_mnist", "strategy": strategy, "backbone": "efficientnet_lite0",
                "optimizer": None, "seed": seed, "status": "completed", "effective": {"device": "cpu"},
                "config": {"epochs": 2, "lr": [lr, lr]}, "timing": {"wall_s": 60.0},
                "metrics": {"plasticity": plasticity, "forgetting": forgetting, "acc": plasticity - forgetting / 2,
                            "fraction_changed": changed},
                "accuracy_matrix": [[plasticity, 10.0], [old_acc, plasticity]]}

    floor = {0: 80.0, 1: 82.0, 2: 78.0}  # each seed's frozen-backbone plasticity: the seed's data
    trials = [trial("frozen", seed, 0.01, p, 0.0, p, 0.0) for seed, p in floor.items()]
    trials += [trial("nanoadam", seed, lr, p + gain, forgetting, p + gain - forgetting, 0.03)
               for seed, p in floor.items() for lr, gain, forgetting in ((1e-3, 2.0, 1.0), (3e-3, 5.0 + seed, 4.0))]
    result = analyze([], 0, trials, [parse_contrast("nanoadam - frozen"), parse_contrast("nanoadam - adamw")])
    (cell,) = result.cells
    assert cell.floor and cell.matched == {m.name: None for m in MEASURES} and cell.unmatched == {}
    low, high = cell.at_equal_lr  # every lr of the curve, though the floor ran only its own
    assert (low.lr, high.lr) == (1e-3, 3e-3) and low.differences["plasticity"].n == 3
    assert low.differences["plasticity"].mean == pytest.approx(2.0) and low.differences["plasticity"].low is not None
    assert high.differences["plasticity"].mean == pytest.approx(6.0)  # 5 + the seeds' 0, 1, 2
    assert high.differences["forgetting"].mean == pytest.approx(4.0)
    assert high.differences["old_acc"].mean == pytest.approx(2.0)  # 6 more learnt, 4 forgotten
    assert low.changed == (pytest.approx(0.03), 0.0)
    text = markdown(result, "Test")
    assert "### nanoadam - frozen" not in text and "Matched measures by cell" not in text  # nothing to match
    rows = text[text.index("### Against the frozen backbone"):].split("\n\n")[2].splitlines()[2:]
    assert [row.split(" | ")[3:6] for row in rows] == [["nanoadam - frozen", "0.001", "3"],
                                                        ["nanoadam - frozen", "0.003", "3"]]
    assert json.loads(as_json(result))["cells"][0]["floor"] is True


def test_a_strategy_run_at_one_lr_so_far_is_read_for_its_plateau_task_by_task():
    def trial(seed, gains_by_task):
        return {"stream": "fashionmnist_mnist", "strategy": "nanoadam", "backbone": "efficientnet_lite0",
                "optimizer": None, "seed": seed, "status": "completed", "effective": {"device": "cpu"},
                "config": {"epochs": 3, "lr": [1e-3, 1e-3]}, "timing": {"wall_s": 60.0},
                "metrics": {"plasticity": 80.0 + seed, "forgetting": 5.0, "acc": 78.0},
                "accuracy_matrix": [[80.0, 10.0], [75.0, 81.0]],
                "val_epoch_accuracy": [[70.0, 70.0 + gains[0], 70.0 + sum(gains)] for gains in gains_by_task]}

    trials = [trial(0, [(5.0, 2.0), (4.0, 0.0)]), trial(1, [(6.0, 1.0), (3.0, 0.5)])]  # (first, last epoch) gains
    (row,) = analyzed([], 2, trials).plateaus
    assert row.strategy == "nanoadam" and row.peak_lr == 1e-3 and row.peak_plasticity == pytest.approx(80.5)
    assert row.gains == {1e-3: (pytest.approx(1.5), pytest.approx(0.25))}  # per task, the seeds' mean
    assert row.plateaued_at == [] and row.seeds == 2
