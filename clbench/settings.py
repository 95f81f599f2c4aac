"""A setting declared once: its default (which gives its type), the values it allows and a help line.

    Setting(1e-3, "learning rate", within="(0, inf)")
    Setting("small", "which weights the mask selects", choices=("small", "large", "random"))

`within` is an interval in the usual notation, "[" and "]" closed, "(" and ")" open, "inf" for no
bound. Every run setting, stream setting and strategy setting is one; `resolve_config` checks each
value against its declaration before any data or model loads, and the settings tables of
docs/strategies.md are generated from them (`clbench.settings_docs`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from clbench.errors import UsageError

# Keys whose value may be given per task ("1e-3,2e-3"); they resolve to a list with one entry per task.
PER_TASK_KEYS = ("lr",)

_INTERVAL = re.compile(r"^([\[(])\s*(-?inf|[-+0-9.e]+)\s*,\s*(-?inf|[-+0-9.e]+)\s*([\])])$")


@dataclass(frozen=True)
class Setting:
    default: object
    help: str = ""
    choices: tuple = ()
    within: str = ""  # an interval, e.g. "(0, 1]"

    def __post_init__(self):
        if self.within and not _INTERVAL.match(self.within):
            raise ValueError(f"within={self.within!r} is not an interval like '(0, 1]'")
        if self.choices and self.default not in self.choices:
            raise ValueError(f"the default {self.default!r} is not among the choices {self.choices}")

    @property
    def kind(self) -> type:
        return type(self.default)

    def allowed(self) -> str:
        """What values are allowed, in words for an error or a table ("" when any of its type)."""
        if self.choices:
            return "one of " + ", ".join(str(choice) if choice != "" else '""' for choice in self.choices)
        return self.within

    def check(self, key: str, value) -> None:
        """UsageError naming the key, the value and what is allowed, when the value is not."""
        for one in (value if isinstance(value, list) else [value]):
            if not self._allows(one):
                raise UsageError(f"--set {key}={_text(value)} is not allowed; {key} must be {self._must()}")

    def _allows(self, value) -> bool:
        if self.choices:
            return value in self.choices
        if not self.within:
            return True
        opening, low, high, closing = _INTERVAL.match(self.within).groups()
        low, high = float(low), float(high)
        above = value >= low if opening == "[" else value > low
        below = value <= high if closing == "]" else value < high
        return above and below

    def _must(self) -> str:
        if self.choices:
            return self.allowed()
        opening, low, high, closing = _INTERVAL.match(self.within).groups()
        if math.isinf(float(high)):
            return f"{'at least' if opening == '[' else 'more than'} {low}"
        return f"in {self.within}"


def settings_of(declared: dict) -> dict[str, Setting]:
    """Declarations from a dict whose values are Settings or plain defaults (a plain default: any
    value of its type; a plain "lr", a positive learning rate)."""
    return {key: value if isinstance(value, Setting) else
            learning_rate(value) if key == "lr" else Setting(value) for key, value in declared.items()}


def learning_rate(default: float, help: str = "learning rate") -> Setting:
    return Setting(default, help, within="(0, inf)")


def settings_table(settings: dict[str, Setting]) -> list[str]:
    """A markdown table of settings: name, type, default, allowed values, help."""
    lines = ["| setting | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for key, setting in settings.items():
        kind = setting.kind.__name__ + (", one per task or one for all" if key in PER_TASK_KEYS else "")
        lines.append(f"| `{key}` | {kind} | `{_text(setting.default)}` | {setting.allowed()} | {setting.help} |")
    return lines


def _text(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


@dataclass(frozen=True)
class TaskContext:
    """What a run learns as it goes, for the optimizer of one task: not a setting."""
    index: int  # the task's position in the stream
    steps: int  # the optimizer steps the task will take (for schedules)
    run_seed: int  # the run's seed (for anything random the optimizer draws)


class RunSettings(Mapping):
    """A run's resolved settings, read-only (settings["lr"]), and, for a task's optimizer, the
    task it is built for (settings.task), which travels beside the settings, not among them."""

    def __init__(self, values: Mapping, task: TaskContext | None = None):
        self._values, self._task = dict(values), task

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RunSettings({self._values!r}, task={self._task!r})"

    @property
    def task(self) -> TaskContext:
        if self._task is None:
            raise AttributeError("these settings are the run's, not a task's: there is no task")
        return self._task

    def for_task(self, task: TaskContext) -> RunSettings:
        return RunSettings(self._values, task)

    def replace(self, **changes) -> RunSettings:
        """The same settings with `changes` (a control fixing a setting of the strategy it controls)."""
        return RunSettings({**self._values, **changes}, self._task)
