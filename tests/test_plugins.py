"""Streams, strategies and data sets from plugin folders the user names, and from installed packages'
entry points."""

import json
import re

import pytest
from test_cli import assert_one_line_error

from clbench import registry
from clbench.errors import UsageError

STRATEGY_FILE = '''
from torch.optim import Adagrad
from clbench.strategy import Strategy, trainable_parameters

STRATEGY = Strategy(
    name="adagrad_plugin",
    description="Adagrad from a plugin file",
    defaults={"lr": 1e-2},
    make_optimizer=lambda backbone, head, lr, config: Adagrad(trainable_parameters(backbone, head), lr=lr),
)
'''

STREAM_FILE = '''
from clbench.streams import StreamSpec, TaskSpec

STREAM = StreamSpec(name="digits_twice", description="two tasks of digits", image_size=32,
                    tasks=(TaskSpec("digits_sklearn", classes=(0, 1, 2, 3, 4), name="low"),
                           TaskSpec("digits_sklearn", classes=(5, 6, 7, 8, 9), name="high")))
'''


DATASET_FILE = '''
import torch
from clbench.data.datasets import DatasetSpec, ImageSplits


def stripes(source, size):
    """Class c: images whose row c is bright; a little noise."""
    generator = torch.Generator().manual_seed(0)
    def images(n):
        y = torch.arange(n) % 4
        x = torch.randint(0, 60, (n, 8, 8), generator=generator, dtype=torch.uint8)
        x[torch.arange(n), y] = 250
        return x, y
    train_x, train_y = images(160)
    test_x, test_y = images(40)
    return ImageSplits(train_x, train_y, test_x, test_y, num_classes=4)


DATASETS = {"stripes": DatasetSpec("8x8 images of 4 bright rows", stripes)}
'''

STRIPES_STREAM_FILE = '''
from clbench.streams import StreamSpec, TaskSpec

STREAM = StreamSpec(name="stripes_two", description="stripes, then stripes again", image_size=32,
                    tasks=(TaskSpec("stripes", classes=(0, 1), name="top"), TaskSpec("stripes", classes=(2, 3), name="bottom")))
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("CLBENCH_PLUGINS", raising=False)
    yield tmp_path / "plugins"
    registry.use_plugins([])


def write(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_a_plugin_strategy_and_stream_run_and_are_recorded(plugin_dir, tmp_path, cli):
    write(plugin_dir, "adagrad.py", STRATEGY_FILE)
    write(plugin_dir, "digits.py", STREAM_FILE)
    listing = cli("list", "strategies", "--plugins", str(plugin_dir)).stdout
    assert "adagrad_plugin  Adagrad from a plugin file" in listing
    result = cli("run", "--smoke", "--no-progress", "--plugins", str(plugin_dir), "--strategy", "adagrad_plugin",
                     "--stream", "digits_twice", "--results", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert record["tasks"] == ["low", "high"] and record["strategy"] == "adagrad_plugin"
    assert sorted(p["path"].rsplit("/", 1)[-1] for p in record["plugins"]) == ["adagrad.py", "digits.py"]


def test_plugins_folder_from_the_environment(plugin_dir, monkeypatch):
    write(plugin_dir, "digits.py", STREAM_FILE)
    monkeypatch.setenv("CLBENCH_PLUGINS", str(plugin_dir))
    registry.use_plugins([])
    assert "digits_twice" in registry.streams()


def test_editing_a_plugin_file_changes_the_record_name_and_builtin_names_stay(plugin_dir):
    from clbench.config import resolve_config
    from clbench.records import record_path

    def name(strategy: str) -> str:
        registry.use_plugins([plugin_dir])
        stream, chosen = registry.get_stream("digits_twice"), registry.get_strategy(strategy)
        config = resolve_config(stream, chosen, [])
        return record_path(plugin_dir, {"stream": stream.name, "strategy": chosen.name, "backbone": "b", "seed": 0,
                                        "config": config}).name

    write(plugin_dir, "adagrad_plugin.py", STRATEGY_FILE)
    write(plugin_dir, "digits_twice.py", STREAM_FILE)
    before, adamw_before = name("adagrad_plugin"), name("adamw")
    write(plugin_dir, "adagrad_plugin.py", STRATEGY_FILE + "# an edit\n")
    assert name("adagrad_plugin") != before
    assert name("adamw") == adamw_before  # the stream's file did not change
    write(plugin_dir, "digits_twice.py", STREAM_FILE + "# an edit\n")
    assert name("adamw") != adamw_before
    registry.use_plugins([])
    builtin = resolve_config(registry.get_stream("fashionmnist_mnist"), registry.get_strategy("adamw"), [])
    assert "plugin_sha256" not in builtin  # built-in runs keep their names


SEVERAL_FILE = '''
from torch.optim import Adagrad
from clbench.streams import StreamSpec, TaskSpec
from clbench.strategy import Strategy, trainable_parameters


def adagrad(backbone, head, lr, config):
    return Adagrad(trainable_parameters(backbone, head), lr=lr)


STRATEGIES = [Strategy(name="adagrad_fast", description="fast", defaults={"lr": 1e-2}, make_optimizer=adagrad),
              Strategy(name="adagrad_slow", description="slow", defaults={"lr": 1e-3}, make_optimizer=adagrad)]
STREAMS = [StreamSpec(name="digits_once", description="one task", tasks=(TaskSpec("digits_sklearn"),)),
           StreamSpec(name="digits_low", description="one task", tasks=(TaskSpec("digits_sklearn", classes=(0, 1)),))]
'''


def test_one_file_registers_several_strategies_and_streams(plugin_dir):
    write(plugin_dir, "several.py", SEVERAL_FILE)
    registry.use_plugins([plugin_dir])
    assert {"adagrad_fast", "adagrad_slow"} <= set(registry.strategies())
    assert {"digits_once", "digits_low"} <= set(registry.streams())
    assert registry.get_strategy("adagrad_slow").defaults["lr"] == 1e-3


def test_a_builtin_file_registers_nanoadam_beside_its_controls():
    from clbench_strategies import nanoadam

    assert [s.name for s in nanoadam.STRATEGIES] == ["nanoadam", "random_mask", "large_mask", "random_fixed",
                                                     "dense_only"]
    assert all(registry.get_strategy(s.name) is s for s in nanoadam.STRATEGIES)


def test_list_names_each_plugin_file_with_its_sha256(plugin_dir, capsys):
    import hashlib

    from clbench.cli import main

    path = write(plugin_dir, "adagrad_plugin.py", STRATEGY_FILE)
    assert main(["list", "strategies", "--plugins", str(plugin_dir)]) == 0
    out = capsys.readouterr().out
    assert "adagrad_plugin" in out
    assert f"plugin {path}  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}" in out


@pytest.mark.parametrize("text, fragment", [
    ("x = 1\ndef broken(:\n", "broken.py:2: syntax error"),
    ("import os\nraise RuntimeError('no GPU here')\n", "broken.py:2: RuntimeError: no GPU here"),
    ("", "defines none of STREAM"),
    ("STRATEGIES = [1, 2]\n", "STRATEGIES a list of them"),
    (STRATEGY_FILE.replace("adagrad_plugin", "adamw"), "defines strategy 'adamw', which exists already"),
])
def test_bad_plugin_files_are_named_with_their_line(plugin_dir, text, fragment, cli):
    write(plugin_dir, "broken.py", text)
    registry.use_plugins([plugin_dir])
    with pytest.raises(UsageError, match=fragment):
        registry.strategies()
    assert_one_line_error(cli("list", "strategies", "--plugins", str(plugin_dir)), fragment)


def test_a_missing_plugin_folder_is_named(tmp_path, cli):
    assert_one_line_error(cli("list", "streams", "--plugins", str(tmp_path / "nowhere")), "nowhere does not exist")


def test_a_plugin_adds_a_data_set_that_a_plugin_stream_trains_on(plugin_dir, tmp_path, capsys):
    from method_runs import BACKBONE, tiny_weights

    from clbench.cli import main
    from clbench.run import RunOptions, execute, plan_run

    dataset = write(plugin_dir, "stripes.py", DATASET_FILE)
    write(plugin_dir, "stripes_two.py", STRIPES_STREAM_FILE)
    assert main(["list", "datasets", "--plugins", str(plugin_dir)]) == 0
    assert re.search(r"^stripes +8x8 images of 4 bright rows$", capsys.readouterr().out, re.MULTILINE)
    registry.use_plugins([plugin_dir])
    spec = plan_run("stripes_two", "adamw", BACKBONE, 0, ["epochs=1", f"weights={tiny_weights(tmp_path)}"],
                    results=tmp_path / "runs")
    record = execute(spec, RunOptions(progress=False)).record
    assert record["status"] == "completed" and record["tasks"] == ["top", "bottom"]
    assert len(record["accuracy_matrix"][0]) == 2
    write(plugin_dir, "stripes.py", DATASET_FILE + "# an edit\n")  # the data set's file is part of the name
    registry.use_plugins([plugin_dir])
    assert plan_run("stripes_two", "adamw", BACKBONE, 0, ["epochs=1"], results=tmp_path / "runs").record != spec.record
    dataset.unlink()
    registry.use_plugins([plugin_dir])
    with pytest.raises(UsageError, match="stream 'stripes_two' names unknown data set 'stripes'"):
        registry.streams()


PACKAGE_MODULE = STRATEGY_FILE.replace("adagrad_plugin", "adagrad_package") + DATASET_FILE + \
    STRIPES_STREAM_FILE.replace("stripes_two", "stripes_package")

PACKAGE_PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "clbench-stripes"
version = "0.1"

[tool.setuptools]
py-modules = ["clbench_stripes"]

[project.entry-points."clbench.strategies"]
adagrad_package = "clbench_stripes:STRATEGY"

[project.entry-points."clbench.streams"]
stripes_package = "clbench_stripes:STREAM"

[project.entry-points."clbench.datasets"]
stripes = "clbench_stripes:STRIPES"
'''


@pytest.fixture(scope="module")
def installed_package(tmp_path_factory):
    """The plugin package clbench-stripes, installed with pip into a folder of its own."""
    import subprocess
    import sys

    source, site = tmp_path_factory.mktemp("package"), tmp_path_factory.mktemp("site")
    (source / "pyproject.toml").write_text(PACKAGE_PYPROJECT)
    (source / "clbench_stripes.py").write_text(PACKAGE_MODULE + "\nSTRIPES = DATASETS['stripes']\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(source)], check=True, capture_output=True)
    return site


@pytest.fixture
def with_package(installed_package, plugin_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_package))
    registry.use_plugins([])
    yield installed_package
    monkeypatch.undo()
    registry.use_plugins([])


def test_an_installed_package_registers_a_strategy_stream_and_data_set_through_entry_points(with_package, capsys):
    from clbench.cli import main

    for what, name in (("strategies", "adagrad_package"), ("streams", "stripes_package"), ("datasets", "stripes")):
        assert main(["list", what]) == 0
        out = capsys.readouterr().out
        assert name in out, what
        assert f"plugin {with_package / 'clbench_stripes.py'}  sha256" in out
    config = registry.get_strategy("adagrad_package").defaults
    assert config == {"lr": 1e-2}


def test_an_installed_plugin_package_runs_and_its_file_names_the_record(with_package, tmp_path):
    from method_runs import BACKBONE, tiny_weights

    from clbench.run import RunOptions, execute, plan_run

    spec = plan_run("stripes_package", "adagrad_package", BACKBONE, 0, ["epochs=1", f"weights={tiny_weights(tmp_path)}"],
                    results=tmp_path / "runs")
    assert len(spec.config["plugin_sha256"]) == 1  # one file defines the stream, the strategy and the data set
    record = execute(spec, RunOptions(progress=False)).record
    assert record["status"] == "completed" and record["tasks"] == ["top", "bottom"]
    assert [p["path"] for p in record["plugins"]] == [str(with_package / "clbench_stripes.py")]
