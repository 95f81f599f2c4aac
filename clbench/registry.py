"""Name lookup for streams (tasks/), strategies (strategies/), data sets and backbones, with helpful
errors. Plugins add streams, strategies and data sets: files in the folders of --plugins and
CLBENCH_PLUGINS, and installed packages through the entry points clbench.streams, clbench.strategies
and clbench.datasets."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from clbench.training.offline_backbones import BACKBONES, BackboneSpec
from clbench.errors import UsageError
from clbench.data.datasets import DatasetSpec, TextDatasetSpec
from clbench.plugins import PluginFile, load_plugin_files, module_plugin, plugin_dirs
from clbench.strategy import Strategy
from clbench.streams import DATASETS, StreamSpec


_named_plugin_dirs: list[Path] = []

# kind: (what a plugin file defines, its type, the entry-point group of installed packages). A file
# defines one (STREAM = StreamSpec(...)) or several (STREAMS = [StreamSpec(...), ...]).
_KINDS = {"stream": ("STREAM", StreamSpec, "clbench.streams"),
          "strategy": ("STRATEGY", Strategy, "clbench.strategies"),
          # DATASETS = {name: DatasetSpec(...) or TextDatasetSpec(...)}
          "dataset": ("DATASETS", (DatasetSpec, TextDatasetSpec), "clbench.datasets")}
_PLURALS = {"STREAM": "STREAMS", "STRATEGY": "STRATEGIES"}


@dataclass(frozen=True)
class _Provided:
    plugin: PluginFile  # the file that defines it: a plugin file, or an installed package's module
    kind: str
    name: str
    item: StreamSpec | Strategy | DatasetSpec


def use_plugins(dirs: list[Path]) -> None:
    """Plugin folders named on the command line (CLBENCH_PLUGINS is read as well)."""
    _named_plugin_dirs[:] = dirs
    for cached in (_provided, streams, strategies, datasets):
        cached.cache_clear()


def plugins() -> list[PluginFile]:
    """The plugin files in use: those of the plugin folders, and the modules that installed packages'
    entry points name."""
    return list({p.plugin.path: p.plugin for p in _provided()}.values())


@cache
def _provided() -> list[_Provided]:
    found = []
    for plugin in load_plugin_files(plugin_dirs(_named_plugin_dirs)):
        items = _defined_in(plugin)
        if not items:
            raise UsageError(f"plugin {plugin.path} defines none of STREAM = StreamSpec(...), STRATEGY = "
                             "Strategy(...) (or lists of them: STREAMS = [...], STRATEGIES = [...]), "
                             "DATASETS = {name: DatasetSpec(...)}; add one or remove the file")
        found += items
    for kind, (_, kind_type, group) in _KINDS.items():
        for entry in sorted(entry_points(group=group), key=lambda e: e.name):
            where = f"entry point {entry.name} = {entry.value} ({group}) of package {entry.dist.name}"
            try:
                loaded = entry.load()
            except Exception as exc:  # whatever the package raises while it is imported
                raise UsageError(f"{where}: {type(exc).__name__}: {exc}; fix or uninstall the package") from None
            items = loaded if isinstance(loaded, list) and kind != "dataset" else [loaded]
            for item in items:
                if not isinstance(item, kind_type):
                    raise UsageError(f"{where} is a {type(item).__name__}, not a {_type_names(kind_type)} "
                                     "(or a list of them); fix the package")
                name = entry.name if kind == "dataset" else item.name
                found.append(_Provided(module_plugin(entry.module), kind, name, item))
    return found


def _defined_in(plugin: PluginFile) -> list[_Provided]:
    items = []
    for kind, (attribute, kind_type, _) in _KINDS.items():
        value = getattr(plugin.module, attribute, None)
        if kind == "dataset" and value is not None:
            if not isinstance(value, dict) or not all(isinstance(v, kind_type) for v in value.values()):
                raise UsageError(f"plugin {plugin.path}: DATASETS must be a dict of name: DatasetSpec(...) "
                                 "or TextDatasetSpec(...)")
            items += [_Provided(plugin, kind, name, spec) for name, spec in value.items()]
        elif kind != "dataset":
            items += [_Provided(plugin, kind, item.name, item) for item in _defined(plugin.module, attribute, kind_type)]
    return items


def _defined(module, attribute: str, kind: type) -> list:
    """What a module registers: `attribute` (STRATEGY) and its list (STRATEGIES)."""
    plural = _PLURALS[attribute]
    one, several = getattr(module, attribute, None), getattr(module, plural, [])
    if (one is not None and not isinstance(one, kind)) or not isinstance(several, list) or \
            not all(isinstance(item, kind) for item in several):
        raise UsageError(f"{module.__file__}: {attribute} must be a {kind.__name__}(...) and {plural} a list of them")
    return [*([one] if one is not None else []), *several]


@cache
def streams() -> dict[str, StreamSpec]:
    """Every STREAM (and STREAMS) defined by a module of tasks/ (installed as the package clbench_tasks) or a plugin,
    each naming data sets that exist."""
    found = _with_plugins(_collect("clbench_tasks", "STREAM", StreamSpec), "stream")
    known = datasets()
    for stream in found.values():
        if unknown := sorted({t.dataset for t in stream.tasks} - set(known)):
            where = next((f"plugin {p.plugin.path}: " for p in _provided() if p.item is stream), "")
            raise UsageError(f"{where}stream {stream.name!r} names unknown data set {unknown[0]!r}; "
                             f"{closest(unknown[0], known)} (see: clbench list datasets)")
        if other := [t.dataset for t in stream.tasks if isinstance(known[t.dataset], TextDatasetSpec) != stream.is_text]:
            raise UsageError(f"stream {stream.name!r} is a stream of {'texts' if stream.is_text else 'images'} but its "
                             f"data set {other[0]!r} is not; a stream of texts sets max_tokens, one of images does not")
    return found


@cache
def strategies() -> dict[str, Strategy]:
    """Every STRATEGY (and STRATEGIES) defined by a module of strategies/ (installed as clbench_strategies) or a plugin."""
    return _with_plugins(_collect("clbench_strategies", "STRATEGY", Strategy), "strategy")


@cache
def datasets() -> dict[str, DatasetSpec | TextDatasetSpec]:
    """The built-in data sets and those plugins add."""
    return _with_plugins(dict(DATASETS), "dataset")


def backbones() -> dict[str, BackboneSpec]:
    """The offline backbones; every timm model name works too."""
    return BACKBONES


def plugin_hashes(*items: StreamSpec | Strategy) -> list[str]:
    """The sha256 of the plugin files that define `items` (a run's stream and strategies) and the data
    sets of its stream; none for the built-in ones."""
    used = {id(item) for item in items}
    used |= {id(spec) for item in items if isinstance(item, StreamSpec) for t in item.tasks
             if (spec := datasets().get(t.dataset)) is not None}
    return sorted({p.plugin.sha256 for p in _provided() if id(p.item) in used})


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


def _type_names(kind_type) -> str:
    return " or ".join(t.__name__ for t in kind_type) if isinstance(kind_type, tuple) else kind_type.__name__


def _with_plugins(builtin: dict, kind: str) -> dict:
    found = dict(builtin)
    for provided in _provided():
        if provided.kind != kind:
            continue
        if provided.name in found:
            raise UsageError(f"plugin {provided.plugin.path} defines {kind} {provided.name!r}, which exists already; "
                             "rename it")
        found[provided.name] = provided.item
    return found


def _collect(package_name: str, attribute: str, kind: type) -> dict:
    package = importlib.import_module(package_name)
    found = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package_name}.{module_info.name}")
        items = _defined(module, attribute, kind)
        if not items:
            raise RuntimeError(f"{module.__file__} must define {attribute} = {kind.__name__}(...) or {attribute}S = [...]")
        for item in items:
            if item.name in found:
                raise RuntimeError(f"two definitions of {item.name!r}: {module.__file__} repeats one")
            found[item.name] = item
    return found
