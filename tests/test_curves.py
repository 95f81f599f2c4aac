"""Learning-rate curves and forgetting at matched plasticity, worked out by hand; the leaderboard
section and the figures they give."""

import json

import pytest

from clbench.cli import main
from clbench.reporting.campaign import analyze
from clbench.reporting.campaign_format import as_json, markdown
from clbench.reporting.curves import Point, forgetting_at, lr_curves, matched_plasticity
from clbench.reporting.plateau import plateaus
from test_leaderboard import record, write


def point(lr, plasticity, forgetting):
    return Point(lr, plasticity, forgetting, 0.0, None)


def test_forgetting_is_interpolated_where_the_curve_first_reaches_the_level():
    curve = [point(1e-4, 40.0, 2.0), point(1e-3, 80.0, 10.0), point(1e-2, 60.0, 30.0), point(1e-1, 90.0, 50.0)]
    assert forgetting_at(curve, 60.0) == pytest.approx(6.0)  # halfway from 40 to 80: the rising side
    assert forgetting_at(curve, 40.0) == pytest.approx(2.0)
    assert forgetting_at(curve, 85.0) == pytest.approx(30.0 + (25 / 30) * 20.0)
    assert forgetting_at(curve, 30.0) is None and forgetting_at(curve, 95.0) is None


def curve_record(strategy, seed, lr, plasticity, forgetting, **settings):
    """A two-task run whose plasticity and forgetting are the given ones."""
    r = record(strategy, seed, forgetting, 2 * plasticity - 90.0, lr=lr, **settings)
    r["metrics"].update(plasticity=plasticity)
    r["val_metrics"] = {"acc": r["metrics"]["acc"] + 1}
    r["effective"] = {"device": "cpu", "amp": False, "channels_last": False}  # as records are read
    return r


def curves(tmp_path):
    """adamw: forgetting 20 at plasticity 80, nanoadam 16 to 19 over seeds; one lr curve per seed."""
    records = []
    for seed, nano in enumerate((16.0, 18.0, 19.0)):
        for lr, plasticity, scale in ((1e-5, 40.0, 0.0), (1e-4, 80.0, 1.0), (1e-3, 90.0, 2.0)):
            records.append(curve_record("adamw", seed, lr, plasticity, 20.0 * scale))
            records.append(curve_record("nanoadam", seed, lr * 10, plasticity - 5 * (lr == 1e-3), nano * scale))
    return records


def test_matched_plasticity_compares_at_the_highest_common_level_paired_over_seeds(tmp_path):
    (group,) = lr_curves(curves(tmp_path))
    assert sorted(group.curves) == ["adamw", "nanoadam"] and sorted(group.curves["adamw"]) == [0, 1, 2]
    matched = matched_plasticity(group)
    assert matched.level == 85.0  # nanoadam's curves top out at 85
    adamw, nano = matched.rows
    assert adamw.forgetting.mean == pytest.approx(30.0)  # halfway from (80, 20) to (90, 40)
    # nanoadam reaches 85 at its top: 2 x 16, 18, 19
    assert nano.forgetting.mean == pytest.approx(2 * (16 + 18 + 19) / 3)
    assert nano.versus_baseline.difference.mean == pytest.approx(2 * (16 + 18 + 19) / 3 - 30.0)
    assert nano.versus_baseline.seeds == (0, 1, 2) and nano.versus_baseline.p_holm == nano.versus_baseline.p_value


def test_runs_of_other_settings_or_per_task_lrs_make_no_curve(tmp_path):
    records = curves(tmp_path)
    records.append(curve_record("sgd", 0, 1e-3, 50.0, 5.0))  # one point is not a curve
    records.append({**curve_record("sgd", 0, 1e-2, 50.0, 5.0), "config": {**records[0]["config"], "lr": [1e-3, 1e-2]}})
    other = [curve_record("adamw", 0, lr, 50.0, 5.0, freeze_norm_stats=True) for lr in (1e-4, 1e-3, 1e-2)]
    groups = lr_curves(records + other)
    assert len(groups) == 2 and all("sgd" not in group.curves for group in groups)
    # the records behind a group's curves: every run that drew a point, and no other
    drawn = next(g for g in groups if not g.settings["freeze_norm_stats"])
    assert sorted(drawn.records) == ["adamw", "nanoadam"]
    assert sorted(id(r) for rs in drawn.records.values() for r in rs) == sorted(id(r) for r in records[:-2])
    assert matched_plasticity(next(g for g in groups if g.settings["freeze_norm_stats"])) is None  # one strategy


def test_leaderboard_and_plot_show_the_curves_beside_the_tables(capsys, tmp_path):
    write(tmp_path / "tuning", curves(tmp_path))
    tuned = [curve_record(s, seed, 3e-4, 85.0, 10.0, tuned=f"s__b__{s}__x.json") for s in ("adamw", "nanoadam")
             for seed in range(3)]
    runs = tuned + [record("adamw", seed, 10.0, 80.0) for seed in range(3)]
    runs = write(tmp_path / "runs", [{**r, "drift_per_layer_l2": {"blocks.0.weight": 1.0}} for r in runs])
    assert main(["leaderboard", "--results", str(runs), "--format", "json"]) == 0
    board = json.loads(capsys.readouterr().out)
    (section,) = board["matched_plasticity"]
    assert section["plasticity_level"] == 85.0 and [r["strategy"] for r in section["rows"]] == ["adamw", "nanoadam"]
    labels = {(row["label"], row["settings"]["tuned"]) for row in board["rows"]}
    assert labels == {("adamw", False), ("adamw (lr 0.0003)", True), ("nanoadam (lr 0.0003)", True)}
    assert main(["leaderboard", "--results", str(runs)]) == 0
    assert "### Forgetting at matched plasticity" in capsys.readouterr().out

    assert main(["plot", "--results", str(runs), "--out", str(tmp_path / "figures")]) == 0
    names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert sum(name.endswith(("__lr_sensitivity.png", "__plasticity_forgetting.png")) for name in names) == 2
    assert len(names) == 4 * 2 + 2  # four per table (tuned and not), two per group of curves


def test_curve_sections_of_one_stream_are_titled_by_the_settings_that_tell_them_apart(capsys, tmp_path):
    shorter = [{**r, "config": {**r["config"], "epochs": 2}} for r in curves(tmp_path)]
    write(tmp_path / "tuning", curves(tmp_path) + shorter)
    runs = write(tmp_path / "runs", [record("adamw", seed, 10.0, 80.0) for seed in range(3)])
    assert main(["leaderboard", "--results", str(runs)]) == 0
    titles = [line for line in capsys.readouterr().out.splitlines() if line.startswith("### Forgetting at matched")]
    assert len(titles) == 2 and {title.rsplit(", ", 1)[-1] for title in titles} == {"epochs=3", "epochs=2"}


def test_a_curve_has_plateaued_at_the_lrs_whose_last_epoch_gained_under_a_point(tmp_path):
    """Each task's last-epoch gain, averaged over seeds task by task."""
    records = []
    for seed in (0, 1, 2):
        for lr, epochs in ((1e-4, [[50.0, 60.0, 70.0], [40.0, 45.0, 46.0 + seed]]), (1e-3, [[80.0, 90.0, 90.5], []])):
            records.append({**curve_record("nanoadam", seed, lr, 80.0, 10.0), "val_epoch_accuracy": epochs})
        records.append(curve_record("nanoadam", seed, 1e-2, 80.0, 10.0))  # validated after no epoch
        records += [{**curve_record("adamw", seed, lr, plasticity, 10.0), "val_epoch_accuracy": [[70.0]]}
                    for lr, plasticity in ((1e-4, 70.0), (1e-3, 85.0), (1e-2, 60.0))]
    adamw, row = plateaus(lr_curves(records))
    assert adamw.strategy == "adamw" and adamw.gains == {} and adamw.seeds == 3  # validated once a task: no gain
    assert row.strategy == "nanoadam" and row.seeds == 3
    # at 1e-4 task 0 rose 10 in its last epoch, task 1 by 1, 2 and 3 on the three seeds; at 1e-3 task 1 had none
    assert row.gains[1e-4] == pytest.approx((10.0, 2.0)) and row.gains[1e-3] == (pytest.approx(0.5), None)
    assert row.plateaued_at == [1e-3]
    assert row.plasticity == {1e-4: 80.0, 1e-3: 80.0, 1e-2: 80.0}
    records.append({**curve_record("nanoadam", 3, 1e-4, 80.0, 10.0), "val_epoch_accuracy": [[10.0, 9.0]]})
    records += [curve_record("nanoadam", 3, lr, 80.0, 10.0) for lr in (1e-3, 1e-2)]
    _, row = plateaus(lr_curves(records))  # a fourth seed validated per epoch at 1e-4 only
    assert row.gains[1e-4] == pytest.approx(((3 * 10.0 - 1.0) / 4, 2.0)) and row.seeds == 3
    analysis = analyze([], 0, records, [])
    text = markdown(analysis, "Test")
    assert ("| nanoadam | 3 | 0.0001: 80.0, 0.001: 80.0, 0.01: 80.0 | 80.0 (0.01) | 100.0% | 0.0001: +7.2 / +2.0, "
            "0.001: +0.5 / – | 0.001 |") in text
    assert "| adamw | 3 | 0.0001: 70.0, 0.001: 85.0, 0.01: 60.0 | 85.0 (0.001) | 100.0% | – | – |" in text
    assert json.loads(as_json(analysis))["plateaus"][1]["last_epoch_gain"][1] == {"lr": 1e-3, "per_task": [0.5, None]}
    # a sweep in progress: one lr has run on a seed more; each mean says what it rests on
    records.append({**curve_record("adamw", 3, 1e-3, 89.0, 10.0), "val_epoch_accuracy": [[70.0]]})
    text = markdown(analyze([], 0, records, []), "Test")
    assert "| adamw | 4 | 0.0001: 70.0 (3 seeds), 0.001: 86.0 (4 seeds), 0.01: 60.0 (3 seeds) | 86.0 (0.001) |" in text


def test_a_curve_past_its_highest_plasticity_has_not_plateaued_but_stopped_learning():
    """At too high an lr a run stays at chance: its last epoch gains nothing, which is no plateau."""
    records = []
    for seed in (0, 1, 2):
        for lr, plasticity, gain in ((1e-4, 60.0, 5.0), (1e-3, 80.0, 3.0), (1e-2, 80.0, 2.0), (1e-1, 10.0, 0.0)):
            epochs = [[50.0, 50.0 + gain]]
            records.append({**curve_record("adamw", seed, lr, plasticity, 10.0), "val_epoch_accuracy": epochs})
            records[-1]["metrics"]["fraction_changed"] = 10 * lr + seed / 100
    (row,) = plateaus(lr_curves(records))
    assert row.changed_at_peak == pytest.approx(0.1 + 0.01)  # at the top's lr 1e-2, over seeds 0, 1, 2
    assert list(row.gains) == [1e-4, 1e-3, 1e-2]  # up to the highest lr at the peak, 80
    assert (row.peak_lr, row.peak_plasticity) == (1e-2, 80.0)
    assert row.plateaued_at == []


def test_figures_of_curves_that_share_stream_backbone_and_norm_statistics_are_named_apart():
    from clbench.reporting.curves import figure_stems

    groups = [("s", "b", {"freeze_norm_stats": True, "epochs": epochs, "lr": None}) for epochs in (3, 30)]
    groups.append(("s", "b", {"freeze_norm_stats": False, "epochs": 3, "lr": None}))  # alone: its name as before
    assert figure_stems("sweep__", groups) == [("sweep__s__b__freeze_norm_stats-True__epochs-3", {"epochs": 3}),
                                               ("sweep__s__b__freeze_norm_stats-True__epochs-30", {"epochs": 30}),
                                               ("sweep__s__b__freeze_norm_stats-False", {})]
    many = [("s", "b", {"freeze_norm_stats": True, "epochs": e, "batch_size": 2 * e, "val_fraction": e / 100})
            for e in (3, 30)]  # three settings tell them apart: a hash of each group's settings names it
    stems = [stem for stem, _ in figure_stems("", many)]
    assert len(set(stems)) == 2 and all(stem.startswith("s__b__freeze_norm_stats-True__settings-") for stem in stems)


def test_the_frozen_backbone_is_drawn_as_the_floor_beside_the_curves(tmp_path):
    from clbench.reporting.curves import drawn_curves
    from clbench.reporting.plots import plot_curves

    records = [curve_record("adamw", seed, lr, 80.0 + 10 * lr, 10.0) for seed in (0, 1) for lr in (1e-4, 1e-3)]
    for seed in (0, 1):
        records.append(curve_record("frozen", seed, 1e-2, 75.0, 0.0))
        records[-1]["metrics"]["fraction_changed"] = 0.0  # heads only: no backbone weight moved
        records.append(curve_record("nanoadam", seed, 1e-3, 78.0, 3.0))
        records[-1]["metrics"]["fraction_changed"] = 0.03  # one lr so far, but it moved weights: not a floor
    (group,) = drawn_curves(records)
    assert set(group.curves) == {"adamw"} and set(group.floors) == {"frozen"}
    assert [p.plasticity for points in group.floors["frozen"].values() for p in points] == [75.0, 75.0]
    assert lr_curves(records, min_points=2)[0].floors == {}  # only drawn figures ask for the floor
    paths = plot_curves([group], [], tmp_path)
    assert sorted(p.name.rsplit("__", 1)[1] for p in paths) == ["lr_sensitivity.png", "plasticity_forgetting.png"]
    from clbench.reporting.plots import _plasticity_forgetting

    figure, caption = _plasticity_forgetting(group, {}, {"adamw": "C0", "frozen": "C1"})
    for ax in figure.axes:  # both planes: forgetting by plasticity, old-task by new-task accuracy
        assert "frozen (2 seeds): the floor" in [text.get_text() for text in ax.get_legend().get_texts()]
    assert caption.endswith("diamond: the floor, the frozen backbone")
