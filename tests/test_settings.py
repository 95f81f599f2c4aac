"""Settings declared once: their checks, `clbench list strategies NAME`, and the generated docs."""

from pathlib import Path

import pytest

from clbench.config import RUN_SETTINGS
from clbench.errors import UsageError
from clbench.registry import get_stream, strategies
from clbench.settings_docs import settings_markdown, with_settings_section
from clbench.settings import Setting, settings_of

DOCS = Path(__file__).parent.parent / "docs" / "strategies.md"


@pytest.mark.parametrize("setting, allowed, refused", [
    (Setting(0.5, within="(0, 1]"), [1e-9, 1.0, [0.2, 1.0]], [0.0, 1.5, [0.2, 0.0]]),
    (Setting(0, within="[0, inf)"), [0, 10**9], [-1]),
    (Setting(0.9, within="[0, 1)"), [0.0, 0.999], [1.0, -0.1]),
    (Setting("a", choices=("a", "b")), ["b"], ["c", "A"]),
    (Setting("free"), ["anything", ""], []),
])
def test_a_setting_allows_exactly_its_interval_or_choices(setting, allowed, refused):
    for value in allowed:
        setting.check("key", value)
    for value in refused:
        with pytest.raises(UsageError, match=r"^--set key=.* is not allowed; key must be "):
            setting.check("key", value)


def test_a_declaration_that_contradicts_itself_is_refused():
    with pytest.raises(ValueError, match="not an interval"):
        Setting(1, within="0..1")
    with pytest.raises(ValueError, match="not among the choices"):
        Setting("c", choices=("a", "b"))


def test_plain_defaults_become_settings_and_a_plain_lr_must_be_positive():
    declared = settings_of({"lr": 1e-3, "momentum": 0.9})
    assert declared["momentum"] == Setting(0.9)
    with pytest.raises(UsageError, match="lr must be more than 0"):
        declared["lr"].check("lr", 0.0)


def test_every_declared_default_passes_its_own_check_and_has_a_help_line():
    streams = [get_stream("fashionmnist_mnist"), get_stream("bbc_imdb_rt")]
    declared = {**RUN_SETTINGS, **{k: s for stream in streams for k, s in stream.settings().items()}}
    declared.update({f"{name}.{key}": setting for name, strategy in strategies().items()
                     for key, setting in strategy.settings.items()})
    for key, setting in declared.items():
        setting.check(key, setting.default)
        assert setting.help, f"{key} has no help line"


def test_list_strategies_name_prints_typed_settings(cli):
    out = cli("list", "strategies", "nanoadam").stdout
    density = next(line for line in out.splitlines() if line.startswith("density "))
    assert density.split()[:4] == ["density", "float", "0.01", "(0,"] and "share k" in density
    assert "criterion" in out and "one of small, large, random, large_gradient" in out
    assert "--set optimizer=NAME" in cli("list", "strategies", "ewc").stdout
    bad = cli("list", "streams", "fashionmnist_mnist")
    assert bad.returncode == 2 and "takes no name" in bad.stderr


def test_the_docs_settings_tables_are_the_declarations():
    text = DOCS.read_text()
    assert with_settings_section(text) == text, ("docs/strategies.md's settings tables differ from the declarations; "
                                                 "run python -m clbench.settings_docs docs/strategies.md")
    assert "| `density` | float | `0.01` | (0, 1] |" in settings_markdown()


def test_run_settings_are_read_only_and_the_task_travels_beside_them():
    from clbench.settings import RunSettings, TaskContext

    settings = RunSettings({"lr": [1e-3], "density": 0.01})
    with pytest.raises(TypeError):
        settings["lr"] = 1.0  # a Mapping, not a dict: no item assignment
    with pytest.raises(AttributeError, match="no task"):
        settings.task
    for_task = settings.for_task(TaskContext(index=1, steps=40, run_seed=7))
    assert for_task.task.steps == 40 and "task" not in for_task and dict(for_task) == dict(settings)
    changed = for_task.replace(density=0.1)
    assert changed["density"] == 0.1 and settings["density"] == 0.01 and changed.task.index == 1
