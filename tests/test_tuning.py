"""clbench tune: the space, the choice on validation data only, the edge of the grid, the
tuned-settings files and their use by clbench run --tuned and sweeps."""

import dataclasses
import json
import math
from pathlib import Path

import pytest
from fake_records import write_record

from clbench.config import resolve_config
from clbench.errors import UsageError
from clbench.registry import get_strategy, get_stream
from clbench.run import RunOptions
from clbench.sweeps.executors import Placement
from clbench.sweeps.spec import load_sweep
from clbench.tuning.space import lr_grid, widened
from clbench.tuning.tune import StrategyTuning, TuneRequest, sweep_requests, tune
from clbench.tuned_files import TunedFile, tuned_config
from test_cli import assert_one_line_error


def request(tmp_path, strategy="adamw", **changes) -> TuneRequest:
    settings = dict(stream="fashionmnist_mnist", backbone="efficientnet_lite0", strategies=[strategy],
                    assignments=[], space=[], points=7, decades=3.0, seeds=[100], mode="all", smoke=True, widen=0,
                    trials_dir=tmp_path / "tuning", tuned_dir=tmp_path / "tuned", command="clbench tune (test)")
    return TuneRequest(**{**settings, **changes})


def write_trials(req: TuneRequest, outcome) -> None:
    """Writes every planned trial's record as if it had run: outcome(lr) gives (status, validation
    matrix, test matrix)."""
    for run in StrategyTuning(req, req.strategies[0]).planned():
        lr = run.config["lr"][0]
        status, val, test = outcome(lr)
        write_record(run, status, val, test)


def run_tune(req: TuneRequest, capsys=None) -> tuple[int, dict | None]:
    """tune() where every trial's record already exists: the executor is never called."""
    code = tune([req], "local", Placement(), RunOptions(progress=False))
    files = list(req.tuned_dir.glob("*.json"))
    return code, (json.loads(files[0].read_text()) if files else None)


def peaked(best_lr: float, height: float = 90.0):
    """Accuracy that falls with the distance (in decades) of the lr from best_lr."""
    return lambda lr: height - 10 * abs(math.log10(lr / best_lr))


def test_default_space_is_a_log_grid_of_the_same_points_around_each_strategys_lr():
    grid = lr_grid([1e-4, 1e-4])
    assert len(grid) == 7 and grid[3] == [1e-4, 1e-4]
    assert math.isclose(math.log10(grid[-1][0] / grid[0][0]), 3, abs_tol=0.02)
    assert [row[0] for row in widened(grid, "highest")][-2:] == [0.01, 0.032]
    assert [row[0] for row in widened(grid, "lowest")][:3] == [3.2e-07, 1e-06, 3.2e-06]


def test_the_choice_follows_validation_where_test_disagrees(tmp_path):
    """Validation peaks at lr 1e-3, test at 1e-5: the file holds 1e-3 and no test score."""
    val, test = peaked(1e-3), peaked(1e-5)
    req = request(tmp_path)
    write_trials(req, lambda lr: ("completed", [[val(lr), 0.0], [val(lr) - 5, val(lr)]],
                                  [[test(lr), 0.0], [test(lr) - 5, test(lr)]]))
    code, tuned = run_tune(req)
    assert code == 0 and tuned["choice"] == {"lr": "0.001"} and tuned["edge"] is None
    assert tuned["space"]["lr"][0] == [3.2e-06, 3.2e-06] and len(tuned["trials"]) == 7
    assert tuned["seeds"] == [100] and tuned["settings"]["epochs"] == 1 and "lr" not in tuned["settings"]
    chosen = next(t for t in tuned["trials"] if t["set"] == {"lr": "0.001"})
    assert chosen["val_score_per_task"] == [90.0, 87.5] and tuned["score_per_task"] == [90.0, 87.5]
    assert all(set(t) == {"set", "status", "val_score_per_task", "records"} for t in tuned["trials"])


def test_ties_go_to_the_smaller_lr_and_a_diverged_lr_is_never_chosen(tmp_path):
    req = request(tmp_path)
    write_trials(req, lambda lr: ("diverged", [[100.0, 0.0]], [[0.0, 0.0]]) if lr > 1e-4 else  # its first task best
                 ("completed", [[99.0, 0.0], [99.0, 99.0]], [[0.0, 0.0], [0.0, 0.0]]) if lr < 1e-4 else
                 ("completed", [[50.0, 0.0], [50.0, 50.0]], [[0.0, 0.0], [0.0, 0.0]]))
    code, tuned = run_tune(dataclasses.replace(req, mode="first_task"))
    assert tuned["choice"] == {"lr": "3.2e-06"} and tuned["edge"] == "lowest"
    assert [t["status"] for t in tuned["trials"]][-3:] == ["diverged"] * 3


def test_an_edge_of_grid_choice_is_reported_and_widened(tmp_path, capsys):
    best = peaked(0.1)  # adamw's grid ends at 3.2e-3: its best point is its highest
    outcome = lambda lr: ("completed", [[best(lr), 0.0], [best(lr), best(lr)]], [[0.0, 0.0], [0.0, 0.0]])
    req = request(tmp_path)
    write_trials(req, outcome)
    code, tuned = run_tune(req)
    assert code == 0 and tuned["choice"] == {"lr": "0.0032"} and tuned["edge"] == "highest"
    assert "still the highest lr of its grid; widen it" in capsys.readouterr().err

    widening = request(tmp_path, widen=2)
    for edges in ([], ["highest"], ["highest", "highest"]):  # the trials each widening adds, as if run
        tuning = StrategyTuning(widening, "adamw")
        for edge in edges:
            tuning.space["lr"] = widened(tuning.space["lr"], edge)
        for run in tuning.planned():
            score = best(run.config["lr"][0])
            write_record(run, val=[[score, 0], [score, score]])
    code, tuned = run_tune(widening)
    out = capsys.readouterr().out
    assert "the best lr is the highest of the grid; widening it by two points" in out
    assert tuned["choice"] == {"lr": "0.1"} and tuned["edge"] is None and tuned["widened"] == ["highest", "highest"]


def test_a_given_lr_grid_widens_too_unless_widen_is_0(tmp_path, capsys):
    best = peaked(0.1)
    outcome = lambda lr: ("completed", [[best(lr), 0.0], [best(lr), best(lr)]], [[0.0, 0.0], [0.0, 0.0]])
    given = request(tmp_path, space=["lr=0.001,0.01"], widen=1)
    write_trials(given, outcome)  # the given grid's trials; the widened ones, 0.1 and 1, as if run:
    write_trials(dataclasses.replace(given, space=["lr=0.1,1"]), outcome)
    code, tuned = run_tune(given)
    assert code == 0 and tuned["choice"] == {"lr": "0.1"} and tuned["widened"] == ["highest"]
    assert [t["set"]["lr"] for t in tuned["trials"]] == ["0.001", "0.01", "0.1", "1.0"]

    code, tuned = run_tune(dataclasses.replace(given, widen=0))
    assert tuned["choice"] == {"lr": "0.01"} and tuned["edge"] == "highest" and tuned["widened"] == []
    assert "still the highest lr of its grid" in capsys.readouterr().err


def test_first_task_and_per_task_modes_choose_on_what_each_may_see(tmp_path):
    """Task 0 is learnt best at 1e-3; the average after task 1 is best at 1e-4."""
    first, after = peaked(1e-3), peaked(1e-4)

    def outcome(lr):
        return "completed", [[first(lr), 0.0], [2 * after(lr) - 50.0, 50.0]], [[0.0, 0.0], [0.0, 0.0]]

    for mode, choice in (("all", "0.0001"), ("first_task", "0.001"), ("per_task", "0.001,0.0001")):
        req = request(tmp_path / mode, mode=mode)
        write_trials(req, outcome)
        assert run_tune(req)[1]["choice"] == {"lr": choice}, mode


def test_a_trial_that_cannot_complete_writes_no_file(tmp_path, capsys, monkeypatch):
    from clbench.sweeps import executors

    req = request(tmp_path, points=2)
    write_trials(req, lambda lr: ("failed", None, None))  # run again, and failed again
    monkeypatch.setattr(executors, "execute", lambda job, env, forked=False: executors.Outcome("failed", "oom", 0.0))
    code = tune([req], "local", Placement(), RunOptions(progress=False))
    assert code == 1 and not list(req.tuned_dir.glob("*.json"))
    assert "adamw: not tuned, some trials did not complete" in capsys.readouterr().err


def test_space_and_fixed_settings_must_not_overlap(tmp_path):
    with pytest.raises(UsageError, match="both held fixed"):
        StrategyTuning(request(tmp_path, assignments=["lr=1e-3"], space=["lr=1e-3,1e-2"]), "adamw")
    with pytest.raises(UsageError, match="per_task .* drop the other --space keys"):
        StrategyTuning(request(tmp_path, mode="per_task", space=["weight_decay=0,0.1"]), "adamw")
    with pytest.raises(UsageError, match="unknown --space key 'l'"):
        StrategyTuning(request(tmp_path, space=["l=1"]), "adamw")


def test_a_methods_strength_is_tuned_with_its_optimizer_at_a_fixed_lr(tmp_path):
    req = request(tmp_path, strategy="ewc", assignments=["optimizer=nanoadam", "lr=3.2e-3"],
                  space=["ewc_lambda=1,100"])
    runs = StrategyTuning(req, "ewc").planned()
    assert [run.config["ewc_lambda"] for run in runs] == [1.0, 100.0]
    assert all(run.config["optimizer"] == "nanoadam" and run.config["lr"] == [3.2e-3, 3.2e-3]
               and run.config["density"] == 0.01 for run in runs)

    write_trials(req, lambda lr: ("completed", [[50.0, 0.0], [50.0, 60.0]], [[0.0, 0.0], [0.0, 0.0]]))
    write_record(next(run for run in runs if run.config["ewc_lambda"] == 100.0), val=[[50.0, 0.0], [50.0, 70.0]])
    code, tuned = run_tune(dataclasses.replace(req, widen=2))  # nothing to widen: the lr is not searched
    assert code == 0 and tuned["choice"] == {"ewc_lambda": "100"} and tuned["edge"] is None


@pytest.fixture
def tuned_file(tmp_path) -> Path:
    req = request(tmp_path)
    best = peaked(1e-3)
    write_trials(req, lambda lr: ("completed", [[best(lr), 0.0], [best(lr), best(lr)]], [[0.0, 0.0], [0.0, 0.0]]))
    run_tune(req)
    (path,) = req.tuned_dir.glob("*.json")
    return path


def test_a_run_takes_the_tuned_choice_and_names_the_file(tuned_file):
    stream, strategy = get_stream("fashionmnist_mnist"), get_strategy("adamw")
    for where in (tuned_file, tuned_file.parent):
        config, file = tuned_config(stream, strategy, "efficientnet_lite0", [], True, where)
        assert config["lr"] == [1e-3, 1e-3] and config["tuned"] == tuned_file.name and file.path == tuned_file


def test_a_tuned_file_that_does_not_match_the_run_is_refused(tuned_file, cli):
    stream = get_stream("fashionmnist_mnist")
    with pytest.raises(UsageError, match=r"does not match this run: its run settings differ: epochs=1 there, 3 here"):
        tuned_config(stream, get_strategy("adamw"), "efficientnet_lite0", [], False, tuned_file)
    with pytest.raises(UsageError, match="tuned for strategy adamw, this run is sgd"):
        tuned_config(stream, get_strategy("sgd"), "efficientnet_lite0", [], True, tuned_file)
    with pytest.raises(UsageError, match="no tuned settings in .* with these run settings"):
        tuned_config(stream, get_strategy("adamw"), "efficientnet_lite0", ["epochs=2"], True, tuned_file.parent)
    with pytest.raises(UsageError, match="no tuned-settings folder or file .*; run clbench tune"):
        tuned_config(stream, get_strategy("adamw"), "efficientnet_lite0", [], True, tuned_file.parent / "none")
    with pytest.raises(UsageError, match="--set lr clashes with the tuned choice"):
        tuned_config(stream, get_strategy("adamw"), "efficientnet_lite0", ["lr=1"], True, tuned_file)
    result = cli("run", "--smoke", "--strategy", "adamw", "--set", "epochs=2", "--tuned", str(tuned_file),
                     "--results", str(tuned_file.parent / "runs"))
    assert_one_line_error(result, "does not match this run", "epochs=1 there, 2 here")
    assert not (tuned_file.parent / "runs").exists() or not list((tuned_file.parent / "runs").glob("*.json"))


def test_a_method_takes_its_optimizers_tuned_choice_until_it_is_tuned_itself(tuned_file):
    stream, ewc = get_stream("fashionmnist_mnist"), get_strategy("ewc")
    for where in (tuned_file, tuned_file.parent):
        config, file = tuned_config(stream, ewc, "efficientnet_lite0", ["ewc_lambda=5"], True, where)
        assert config["lr"] == [1e-3, 1e-3] and config["ewc_lambda"] == 5 and file.path == tuned_file
    with pytest.raises(UsageError, match="no tuned settings in"):
        tuned_config(stream, ewc, "efficientnet_lite0", ["optimizer=nanoadam"], True, tuned_file.parent)
    with pytest.raises(UsageError, match="tuned for strategy adamw, this run is ewc"):
        tuned_config(stream, ewc, "efficientnet_lite0", ["optimizer=nanoadam"], True, tuned_file)
    own = json.loads(tuned_file.read_text())
    own.update(strategy="ewc", choice={"lr": 3e-3},
               settings={k: v for k, v in resolve_config(stream, ewc, [], smoke=True).items() if k != "lr"})
    (tuned_file.parent / "fashionmnist_mnist__efficientnet_lite0__ewc__0.json").write_text(json.dumps(own))
    config, _ = tuned_config(stream, ewc, "efficientnet_lite0", [], True, tuned_file.parent)
    assert config["lr"] == [3e-3, 3e-3]


def test_a_sweep_plans_its_runs_with_the_tuned_choice(tuned_file, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(f'strategy = "adamw"\nsmoke = true\nseeds = [0, 1]\ntuned = "{tuned_file.parent}"\n')
    runs = load_sweep(grid, tmp_path / "runs")
    assert [run.config["lr"] for run in runs] == [[1e-3, 1e-3]] * 2
    assert runs[0].run_args()[-2:] == ["--tuned", str(tuned_file)]
    grid.write_text(f'strategy = "sgd"\nsmoke = true\ntuned = "{tuned_file.parent}"\n')
    with pytest.raises(UsageError, match=r"grid.toml:3: no tuned settings"):
        load_sweep(grid, tmp_path / "runs")


def test_tune_then_run_tuned_end_to_end(tmp_path, cli):
    """Real smoke trials of a 2-point grid, then a run with the choice, its record naming the file."""
    tuned_dir = tmp_path / "tuned"
    result = cli("tune", "--smoke", "--strategy", "sgd", "--points", "2", "--widen", "0", "--no-progress",
                     "--trials", str(tmp_path / "tuning"), "--out", str(tuned_dir))
    assert result.returncode == 0, result.stderr
    (path,) = tuned_dir.glob("fashionmnist_mnist__efficientnet_lite0__sgd__*.json")
    tuned = TunedFile.load(path)
    assert len(tuned.data["trials"]) == 2 and all(t["status"] == "completed" for t in tuned.data["trials"])
    assert len(list((tmp_path / "tuning").glob("*__seed100__*.json"))) == 2
    result = cli("run", "--smoke", "--strategy", "sgd", "--tuned", str(tuned_dir), "--no-progress",
                     "--results", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    (record_path,) = (tmp_path / "runs").glob("*.json")
    record = json.loads(record_path.read_text())
    assert record["tuned"] == {"file": str(path.relative_to(tmp_path)), "sha256": tuned.sha256}  # cwd: tmp_path
    assert record["config"]["lr"] == [float(tuned.data["choice"]["lr"])] * 2


def test_tune_sweep_tunes_every_configuration_the_sweep_runs_tuned(tmp_path):
    """One request per stream x backbone x --set of the tuned grids (seeds aside); after their trials,
    the sweep finds a tuned file for every run."""
    tuned_dir = tmp_path / "tuned"
    sweep = tmp_path / "campaign.toml"
    sweep.write_text(f'stream = ["fashionmnist_mnist", "split_fashionmnist"]\nstrategy = ["adamw", "nanoadam"]\n'
                     f'seeds = [0, 1]\nsmoke = true\ntuned = "{tuned_dir}"\n\n[[grid]]\n\n'
                     '[[grid]]\nstrategy = "replay"\nset = { optimizer = ["adamw", "nanoadam"] }\n\n'
                     '[[grid]]\nstrategy = "sgd"\ntuned = false\n')
    requests = sweep_requests(sweep, request(tmp_path, points=2))
    assert [(r.stream, r.strategies, r.assignments) for r in requests] == [
        ("fashionmnist_mnist", ["adamw", "nanoadam"], []), ("split_fashionmnist", ["adamw", "nanoadam"], []),
        *[(stream, ["replay"], [f"optimizer={optimizer}"])
          for stream in ("fashionmnist_mnist", "split_fashionmnist") for optimizer in ("adamw", "nanoadam")]]
    assert all(r.smoke and r.tuned_dir == tuned_dir and r.points == 2 for r in requests)
    with pytest.raises(UsageError, match="no tuned-settings folder .* clbench tune --sweep .*campaign.toml tunes"):
        load_sweep(sweep, tmp_path / "runs")
    best = peaked(1e-3)
    for req in requests:
        for strategy in req.strategies:
            write_trials(dataclasses.replace(req, strategies=[strategy]),
                         lambda lr: ("completed", [[best(lr)] * 5] * 5, [[0.0] * 5] * 5))
    assert tune(requests, "local", Placement(), RunOptions(progress=False), name=sweep.stem) == 0
    assert len(list(tuned_dir.glob("*.json"))) == 8 and (tmp_path / "tuning" / "campaign.tune.json").exists()
    runs = load_sweep(sweep, tmp_path / "runs")
    assert len(runs) == 2 * 2 * 4 + 2 * 2 and all(run.tuned for run in runs if run.strategy != "sgd")
    replay = {run.config["optimizer"]: run.tuned.name for run in runs if run.strategy == "replay"}
    assert len(set(replay.values())) == 2 and all("__replay__" in name for name in replay.values())


def test_tune_sweep_refuses_what_the_sweep_file_already_says(tmp_path, cli):
    sweep = tmp_path / "grid.toml"
    sweep.write_text('strategy = "adamw"\nsmoke = true\n')
    with pytest.raises(UsageError, match="no runs with tuned = true"):
        sweep_requests(sweep, request(tmp_path))
    result = cli("tune", "--sweep", str(sweep), "--strategy", "adamw", "--out", str(tmp_path))
    assert_one_line_error(result, "--strategy, --out and --sweep both say what to tune; drop --strategy, --out")
