"""A setting declared once: its default (which gives its type), the values it allows and a help line.

    Setting(1e-3, "learning rate", within="(0, inf)")
    Setting("small", "which weights the mask selects", choices=("small", "large", "random"))

`within` is an interval in the usual notation, "[" and "]" closed, "(" and ")" open, "inf" for no
bound. Every run setting, stream setting and strategy setting is one; `resolve_config` checks each
value against its declaration before any data or model loads, and the settings tables of
docs/strategies.md are generated from them (`settings_markdown`).
"""

from __future__ import annotations

import math
import re
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
            return "one of " + ", ".join(str(choice) for choice in self.choices)
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
