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
