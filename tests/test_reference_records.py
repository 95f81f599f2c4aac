"""Committed records re-run on the current code must come back value for value (issue 44's moved
record): any change that moves a number fails here. Runs are bit-identical on one kind of CPU
with one thread count, not across CPUs, so a record made on another CPU is skipped, naming both."""

import json
from pathlib import Path

import pytest
import torch

from clbench.records import environment

REFERENCE = Path(__file__).parent.parent / "results" / "reference"

# the record's file name: the `clbench run` arguments that made it (results/README.md, "Reference records")
RUNS = {
    "fashionmnist_mnist__nanoadam__efficientnet_lite0__seed0__df238505.json":
        ["--strategy", "nanoadam", "--set", "mask_interval=2", "--set", "batch_size=8"],
    "fashionmnist_mnist__replay__efficientnet_lite0__seed0__b7de5e78.json": ["--strategy", "replay"],
    "bbc_imdb_rt__nanoadam__all_minilm_l6_v2__seed0__a15aaa51.json":
        ["--stream", "bbc_imdb_rt", "--strategy", "nanoadam", "--set", "mask_interval=2", "--set", "batch_size=8"],
}
NOT_MEASURED = ("env", "timing", "plugins")  # where and how fast it ran, not what it measured


def test_every_reference_record_has_its_command():
    assert sorted(p.name for p in REFERENCE.glob("*.json")) == sorted(RUNS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_committed_record_is_made_again_value_for_value(tmp_path, cli, name):
    committed = json.loads((REFERENCE / name).read_text())
    made_on = (committed["env"]["cpu"], committed["env"]["torch_threads"])
    here = (environment("cpu")["cpu"], torch.get_num_threads())
    if made_on != here:
        pytest.skip(f"{name} was made on {made_on[0]} with {made_on[1]} threads, this is {here[0]} with {here[1]}: "
                    "numbers are bit-identical only on the same CPU and thread count")
    result = cli("run", "--smoke", "--no-progress", "--seeds", "0", "--results", tmp_path, *RUNS[name])
    assert result.returncode == 0, result.stderr
    again = json.loads((tmp_path / name).read_text())
    for key in NOT_MEASURED:
        committed.pop(key), again.pop(key)
    assert again == committed
