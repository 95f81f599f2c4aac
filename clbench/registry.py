"""Name lookup for streams (tasks/), strategies (strategies/) and backbones, with helpful errors."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache

from clbench.backbones import BACKBONES, BackboneSpec
from clbench.errors import UsageError
from clbench.strategy import Strategy
from clbench.streams import StreamSpec


@cache
def streams() -> dict[str, StreamSpec]:
    """Every STREAM defined by a module of tasks/ (installed as the package clbench_tasks)."""
    return _collect("clbench_tasks", "STREAM", StreamSpec)


@cache
def strategies() -> dict[str, Strategy]:
    """Every STRATEGY defined by a module of strategies/ (installed as clbench_strategies)."""
    return _collect("clbench_strategies", "STRATEGY", Strategy)


def backbones() -> dict[str, BackboneSpec]:
    return BACKBONES


def get_stream(name: str) -> StreamSpec:
    return _lookup("stream", "streams", name, streams())


def get_strategy(name: str) -> Strategy:
    return _lookup("strategy", "strategies", name, strategies())


def get_backbone(name: str) -> BackboneSpec:
    return _lookup("backbone", "backbones", name, backbones())


def closest(name: str, choices) -> str:
    """'did you mean X?' for the closest names, else the list of every valid name."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(close) + "?"
    return "valid: " + ", ".join(sorted(choices))


def _lookup(kind: str, plural: str, name: str, table: dict):
    if name not in table:
        raise UsageError(f"unknown {kind} {name!r}; {closest(name, table)} (see: clbench list {plural})")
    return table[name]


def _collect(package_name: str, attribute: str, kind: type) -> dict:
    package = importlib.import_module(package_name)
    found = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package_name}.{module_info.name}")
        item = getattr(module, attribute, None)
        if not isinstance(item, kind):
            raise RuntimeError(f"{module.__file__} must define {attribute} = {kind.__name__}(...)")
        if item.name in found:
            raise RuntimeError(f"two definitions of {item.name!r}: {module.__file__} repeats one")
        found[item.name] = item
    return found
