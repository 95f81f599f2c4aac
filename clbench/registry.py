"""Name lookup for streams (tasks/ and plugin files), strategies (strategies/ and plugin files) and
backbones, with helpful errors."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache

from pathlib import Path

from clbench.training.offline_backbones import BACKBONES, BackboneSpec
from clbench.errors import UsageError
from clbench.plugins import PluginFile, load_plugin_files, plugin_dirs
from clbench.strategy import Strategy
from clbench.streams import StreamSpec


_named_plugin_dirs: list[Path] = []


def use_plugins(dirs: list[Path]) -> None:
    """Plugin folders named on the command line (CLBENCH_PLUGINS is read as well)."""
    _named_plugin_dirs[:] = dirs
    for cached in (plugins, streams, strategies):
        cached.cache_clear()


@cache
def plugins() -> list[PluginFile]:
    files = load_plugin_files(plugin_dirs(_named_plugin_dirs))
    for plugin in files:
        if not isinstance(getattr(plugin.module, "STREAM", None), StreamSpec) and not isinstance(
                getattr(plugin.module, "STRATEGY", None), Strategy):
            raise UsageError(f"plugin {plugin.path} defines neither STREAM = StreamSpec(...) nor "
                             "STRATEGY = Strategy(...); add one or remove the file")
    return files


@cache
def streams() -> dict[str, StreamSpec]:
    """Every STREAM defined by a module of tasks/ (installed as the package clbench_tasks) or a plugin file."""
    return _with_plugins(_collect("clbench_tasks", "STREAM", StreamSpec), "STREAM", "stream")


@cache
def strategies() -> dict[str, Strategy]:
    """Every STRATEGY defined by a module of strategies/ (installed as clbench_strategies) or a plugin file."""
    return _with_plugins(_collect("clbench_strategies", "STRATEGY", Strategy), "STRATEGY", "strategy")


def backbones() -> dict[str, BackboneSpec]:
    """The offline backbones; every timm model name works too."""
    return BACKBONES


def plugin_hashes(*items: StreamSpec | Strategy) -> list[str]:
    """The sha256 of the plugin files that define `items` (a run's stream and strategies); none for
    the built-in ones."""
    return sorted({plugin.sha256 for plugin in plugins() for item in items
                   if item is getattr(plugin.module, "STREAM", None) or item is getattr(plugin.module, "STRATEGY", None)})


def get_stream(name: str) -> StreamSpec:
    return _lookup("stream", "streams", name, streams())


def get_strategy(name: str) -> Strategy:
    return _lookup("strategy", "strategies", name, strategies())


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


def _with_plugins(builtin: dict, attribute: str, kind: str) -> dict:
    found = dict(builtin)
    for plugin in plugins():
        item = getattr(plugin.module, attribute, None)
        if item is None:
            continue
        if item.name in found:
            raise UsageError(f"plugin {plugin.path} defines {kind} {item.name!r}, which exists already; rename it")
        found[item.name] = item
    return found


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
