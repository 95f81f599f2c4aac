"""Streams and strategies from plugin folders the user names."""

import json

import pytest
from test_cli import assert_one_line_error, clbench

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


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("CLBENCH_PLUGINS", raising=False)
    yield tmp_path / "plugins"
    registry.use_plugins([])


def write(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


@pytest.mark.slow
def test_a_plugin_strategy_and_stream_run_and_are_recorded(plugin_dir, tmp_path):
    write(plugin_dir, "adagrad.py", STRATEGY_FILE)
    write(plugin_dir, "digits.py", STREAM_FILE)
    listing = clbench("list", "strategies", "--plugins", str(plugin_dir)).stdout
    assert "adagrad_plugin  Adagrad from a plugin file" in listing
    result = clbench("run", "--smoke", "--no-progress", "--plugins", str(plugin_dir), "--strategy", "adagrad_plugin",
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
    ("", "defines neither STREAM"),
    (STRATEGY_FILE.replace("adagrad_plugin", "adamw"), "defines strategy 'adamw', which exists already"),
])
@pytest.mark.slow
def test_bad_plugin_files_are_named_with_their_line(plugin_dir, text, fragment):
    write(plugin_dir, "broken.py", text)
    registry.use_plugins([plugin_dir])
    with pytest.raises(UsageError, match=fragment):
        registry.strategies()
    assert_one_line_error(clbench("list", "strategies", "--plugins", str(plugin_dir)), fragment)


@pytest.mark.slow
def test_a_missing_plugin_folder_is_named(tmp_path):
    assert_one_line_error(clbench("list", "streams", "--plugins", str(tmp_path / "nowhere")), "nowhere does not exist")
