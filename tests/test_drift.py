"""Which drift measure tracks forgetting: rank correlations per cell over the rising branch of each
lr curve, pooled by Fisher's z."""

import math

import pytest

from clbench.reporting.drift import pooled_tracking, rising_branch, tracking


def run(strategy, seed, lr, plasticity, forgetting, l2, fraction, kl):
    return {"strategy": strategy, "optimizer": None, "seed": seed, "config": {"lr": [lr, lr], "epochs": 2},
            "metrics": {"plasticity": plasticity, "forgetting": forgetting, "drift_l2": l2,
                        "fraction_changed": fraction, "output_kl": kl}}


def test_each_curve_is_kept_up_to_its_highest_plasticity():
    curve = [run("adamw", 0, lr, p, 10, 1, 1, 1) for lr, p in ((1e-4, 60), (1e-3, 80), (1e-2, 70), (1e-1, 10))]
    other_seed = [run("adamw", 1, 1e-4, 50, 10, 1, 1, 1), run("adamw", 1, 1e-3, 40, 10, 1, 1, 1)]
    kept = rising_branch([*reversed(curve), *other_seed])
    assert [(r["seed"], r["config"]["lr"][0]) for r in kept] == [(0, 1e-4), (0, 1e-3), (1, 1e-4)]
    tied = [run("adamw", 2, lr, p, 10, 1, 1, 1) for lr, p in ((1e-4, 60), (1e-3, 98), (1e-2, 98))]
    assert [r["config"]["lr"][0] for r in rising_branch(tied)] == [1e-4, 1e-3]  # the first lr at the top ends it


def test_the_measure_ordered_like_forgetting_has_rho_one_and_others_less():
    runs = [run("nanoadam", 0, 10.0 ** -k, 50 + k, forgetting, forgetting * 2, (k * 7) % 5, 1.0)
            for k, forgetting in enumerate((1, 3, 2, 5, 4, 6))]
    result = tracking(runs)
    assert result["drift_l2"].rho == pytest.approx(1.0) and result["drift_l2"].n == 6
    assert abs(result["fraction_changed"].rho) < 1
    assert result["output_kl"].rho is None  # no spread: no correlation
    assert tracking(runs[:3])["drift_l2"].rho is None  # too few runs


def test_pooling_weights_each_cell_by_its_runs():
    cells = [tracking([run("adamw", 0, 10.0 ** -k, 50, f, l2, 1, 1) for k, (f, l2) in enumerate(pairs)])
             for pairs in ([(1, 2), (2, 1), (3, 4), (4, 3), (5, 6), (6, 5), (7, 8)],
                           [(1, 1), (2, 3), (3, 2), (4, 4), (5, 5)])]
    (pooled,) = [p for p in pooled_tracking(cells) if p.measure == "drift_l2"]
    rhos = [cell["drift_l2"].rho for cell in cells]
    z = (4 * math.atanh(rhos[0]) + 2 * math.atanh(rhos[1])) / 6
    assert pooled.rho == pytest.approx(math.tanh(z)) and pooled.cells == 2 and pooled.runs == 12
    assert pooled.low < pooled.rho < pooled.high
