"""`clbench plot` writes readable PNG files; the per-block drift adds up the layers' distances."""

import math

import pytest

from clbench.cli import main
from clbench.reporting.plots import block_drift, layer_block
from test_leaderboard import record, write

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_layer_blocks_follow_the_module_tree():
    assert layer_block("blocks.3.1.conv_pw.weight") == "blocks.3"
    assert layer_block("layer1.0.conv1.weight") == "layer1.0"
    assert layer_block("conv_stem.weight") == "conv_stem"
    assert layer_block("patch_embed.proj.weight") == "patch_embed"


def test_block_drift_is_the_l2_distance_of_the_block_as_a_whole():
    drift = block_drift({"stem.weight": 1.0, "blocks.0.a.weight": 3.0, "blocks.0.b.bias": 4.0, "blocks.1.a.weight": 2.0})
    assert list(drift) == ["stem", "blocks.0", "blocks.1"]
    assert drift["blocks.0"] == pytest.approx(5.0) and drift["blocks.1"] == pytest.approx(2.0)


def test_plot_writes_four_figures_per_table_methods_apart(capsys, tmp_path):
    runs = []
    for strategy, forgetting in (("adamw", 10.0), ("nanoadam", 8.0)):
        for seed in range(3):
            r = record(strategy, seed, forgetting + seed, 80.0)
            r["drift_per_layer_l2"] = {"stem.weight": 0.1, "blocks.0.a.weight": 0.5 + seed, "head.weight": 2.0}
            runs.append(r)
    runs.append({**record("adamw", 0, 1.0, 80.0, freeze_norm_stats=True), "drift_per_layer_l2": {"stem.weight": 1.0}})
    method = record("ewc", 0, 5.0, 80.0, optimizer="adamw")  # a third table: the methods, beside adamw alone
    runs.append({**method, "optimizer": "adamw", "drift_per_layer_l2": {"stem.weight": 1.0}})
    folder = write(tmp_path / "runs", runs)
    code = main(["plot", "--results", str(folder), "--out", str(tmp_path / "figures")])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    paths = sorted((tmp_path / "figures").iterdir())
    assert len(paths) == 12 and sorted(out.split()) == [str(p) for p in paths]  # no temporary files left
    assert sum("__methods__" in p.name for p in paths) == 4
    names = {p.name.split("__")[-1] for p in paths}
    assert names == {"accuracy_matrix.png", "task_accuracy.png", "forgetting.png", "drift_per_block.png"}
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, path
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert 400 < width < 3000 and 250 < height < 2000 and math.isfinite(width / height), path
