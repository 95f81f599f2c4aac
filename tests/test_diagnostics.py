"""The small-weight diagnostic: ratio r and overlap on tensors worked out by hand, and `clbench inspect`."""

import json
import math

import pytest
import torch

from clbench.cli import main
from clbench.diagnostics.small_weights import ratio_r, small_weight_large_gradient_overlap


def test_ratio_r_by_hand():
    # 10 weights; by |gradient| the top 10% is index 9 (|w| 0.1), the bottom 80% are indices 0..7
    w = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 0.1])
    g = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 5.0, 9.0])
    assert ratio_r(w, g, top=0.1, bottom=0.8) == pytest.approx(0.1 / 8.0)
    # top 20%: indices 8 and 9, |w| 9 and 0.1; torch's median of two values is the lower one
    assert ratio_r(w, g, top=0.2, bottom=0.8) == pytest.approx(0.1 / 8.0)
    # the sign of weights and gradients does not matter
    assert ratio_r(-w, -g, top=0.1, bottom=0.8) == pytest.approx(0.1 / 8.0)


def test_ratio_r_is_high_when_large_gradients_sit_on_large_weights():
    w = torch.arange(1.0, 101.0)
    assert ratio_r(w, w.clone(), top=0.01, bottom=0.8) == pytest.approx(100.0 / 80.0)


def test_overlap_by_hand():
    w = torch.tensor([0.1, 0.2, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0])
    g = torch.tensor([9.0, 0.0, 8.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    # 20%: smallest weights {0, 1}, largest gradients {0, 2}: one of two shared
    assert small_weight_large_gradient_overlap(w, g, fraction=0.2) == pytest.approx(0.5)
    assert small_weight_large_gradient_overlap(w, -w, fraction=0.3) == pytest.approx(0.0)


@pytest.mark.slow
def test_inspect_writes_a_record_and_two_figures(tmp_path, capsys):
    code = main(["inspect", "--steps", "2", "--batch-size", "8", "--image-size", "32", "--train-per-class", "2",
                 "--device", "cpu", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert record["kind"] == "inspect" and record["task"] == "fashion_mnist"
    for init in ("pretrained", "random"):
        layers = record["layers"][init]
        assert layers[-1]["name"] == "heads.0.weight" and len(layers) == record["summary"][init]["layers"] + 1
        assert all(math.isfinite(d["ratio_r"]) and 0 <= d["overlap"] <= 1 for d in layers)
    # the two initialisations differ: the diagnostic really loaded the pretrained weights
    assert record["layers"]["pretrained"][0]["ratio_r"] != record["layers"]["random"][0]["ratio_r"]
    assert len(list(tmp_path.glob("*.png"))) == 2 and "median r" in out


def test_inspect_rejects_a_fraction_outside_0_1(capsys):
    assert main(["inspect", "--top", "5"]) == 2
    assert "--top 5.0 is not a fraction" in capsys.readouterr().err
