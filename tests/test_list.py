"""`clbench list` prints names without loading what only training needs (issue 30: under 3 s)."""

import subprocess
import sys

import pytest

HEAVY = ("avalanche", "timm", "torchvision", "matplotlib", "scipy", "peft")


@pytest.mark.parametrize("what, expected", [("strategies", ["random_mask", "large_mask", "lora", "ewc", "frozen"]),
                                            ("streams", ["fashionmnist_mnist"]),
                                            ("backbones", ["efficientnet_lite0"])])
def test_listing_names_imports_no_training_library(what, expected):
    # a fresh interpreter: this test process has imported them all already
    probe = ("import sys; from clbench.cli import main; code = main(['list', %r]); "
             "print('LOADED', *[m for m in %r if m in sys.modules]); sys.exit(code)" % (what, HEAVY))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    names = {line.split()[0] for line in result.stdout.splitlines() if line and not line.startswith("LOADED")}
    assert set(expected) <= names
    assert result.stdout.splitlines()[-1] == "LOADED"
