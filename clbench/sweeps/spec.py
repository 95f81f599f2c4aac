"""Sweep files: a TOML grid of runs, validated whole before anything runs.

    stream = "fashionmnist_mnist"              # a name, or a list of names: lists expand to their product
    strategy = ["adamw", "nanoadam"]
    backbone = "efficientnet_lite0"           # default: each stream's own (clbench list streams)
    seeds = [0, 1, 2, 3, 4]
    smoke = false                              # clbench run --smoke
    tuned = true                               # clbench run --tuned: the choice of clbench tune in
                                               # results/tuned (or a folder or file named here)
    contrasts = ["nanoadam - adamw"]           # what clbench analyze compares: "treated - control"

    [set]                                      # --set keys shared by every run; a list is a grid axis
    epochs = 3
    freeze_norm_stats = [false, true]

    [strategies.nanoadam]                      # --set keys for one strategy's runs only
    lr = [1e-3, 3e-3]                          # [[1e-3, 2e-3]]: one grid point with an lr per task

Without [[grid]] tables the file is one grid. With them, each [[grid]] is a grid of its own: the
top-level keys with its own keys in their place ([set] and [strategies] merged key by key); the
sweep is their union. Runs are ordered seed by seed, so a sweep cut short leaves every
configuration with the same seeds.
"""

from __future__ import annotations

import itertools
import re
import sys
from dataclasses import replace
from pathlib import Path

from clbench.errors import UsageError
from clbench.records import one_value
from clbench.run import DEFAULT_STRATEGY, DEFAULT_STREAM, RunSpec, plan_run
from clbench.registry import closest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

GRID_KEYS = ("stream", "strategy", "backbone", "seeds", "smoke", "tuned", "set", "strategies")
TOP_KEYS = (*GRID_KEYS, "grid", "contrasts")
_DEFAULTS = {"stream": DEFAULT_STREAM, "strategy": DEFAULT_STRATEGY, "backbone": "",  # as clbench run's ("": the stream's)
             "seeds": [0], "smoke": False, "tuned": False, "set": {}, "strategies": {}}


def matches(run: RunSpec, key: str, values: list[str]) -> bool:
    """Whether the run's stream, strategy, backbone, seed or setting `key` is one of `values` (--only)."""
    if key in ("stream", "strategy", "backbone", "seed"):
        return str(getattr(run, key)) in values
    if key not in run.config:
        return False
    return _set_text(one_value(run.config[key]), (key,), None) in values


def load_sweep(path: Path, results: Path, resolve_tuned: bool = True) -> list[RunSpec]:
    """Every run the sweep file declares, in order, without duplicates, each validated as
    `clbench run` would validate it. Any problem is a UsageError naming the file, key and line.
    resolve_tuned=False: runs of `tuned` grids without the tuned choice (not made yet), for clbench tune."""
    data, where = _read_sweep(path)
    _check_keys(data, TOP_KEYS, (), where)
    _contrasts(data, where)
    data.pop("contrasts", None)
    grids = data.pop("grid", None)
    if grids is None:
        grids, prefixes = [{}], [()]
    elif not isinstance(grids, list) or not grids:
        raise UsageError(f"{where(('grid',))}: grid must be [[grid]] tables, one per grid")
    else:
        prefixes = [("grid", i) for i in range(len(grids))]
    _check_tables(data, (), where)
    runs: dict[Path, RunSpec] = {}
    for grid, prefix in zip(grids, prefixes):
        _check_keys(grid, GRID_KEYS, prefix, where)
        _check_tables(grid, prefix, where)
        for run in _expand(_merged(data, grid), grid.get("strategies", {}), prefix, where, results, resolve_tuned):
            runs.setdefault(run.record, run)
    for name in data.get("strategies", {}):
        if not any(run.strategy == name for run in runs.values()):
            raise UsageError(f"{where(('strategies', name))}: strategies.{name} names a strategy no grid runs; "
                             "add it to strategy = [...] or remove the table")
    return list(runs.values())


def load_contrasts(path: Path) -> list[str] | None:
    """The sweep file's `contrasts` ("treated - control" texts for clbench analyze), None if it names none."""
    data, where = _read_sweep(path)
    return _contrasts(data, where)


def _contrasts(data: dict, where: _Locator) -> list[str] | None:
    value = data.get("contrasts")
    if value is not None and (not isinstance(value, list) or not value
                              or not all(isinstance(item, str) for item in value)):
        raise UsageError(f"{where(('contrasts',))}: contrasts must be a list of \"treated - control\" texts, "
                         'e.g. contrasts = ["nanoadam - adamw", "nanoadam - random_mask"]')
    return value


def _read_sweep(path: Path) -> tuple[dict, _Locator]:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read sweep file {path}: {getattr(exc, 'strerror', None) or exc}; "
                         "give the path of a .toml file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = re.search(r" \(at line (\d+), column \d+\)", str(exc))
        at = f"{path}:{position[1]}" if position else str(path)
        raise UsageError(f"{at}: not valid TOML: {str(exc).replace(position[0], '') if position else exc}") from None
    return data, _Locator(path, text)


def _merged(top: dict, grid: dict) -> dict:
    merged = {**_DEFAULTS, **top, **grid}
    merged["set"] = {**top.get("set", {}), **grid.get("set", {})}
    merged["strategies"] = {name: {**top.get("strategies", {}).get(name, {}), **grid.get("strategies", {}).get(name, {})}
                            for name in {*top.get("strategies", {}), *grid.get("strategies", {})}}
    return merged


def _expand(grid: dict, own_strategies: dict, prefix: tuple, where: _Locator, results: Path,
            resolve_tuned: bool) -> list[RunSpec]:
    """The runs of one grid (its keys merged with the top level's); own_strategies: the
    [strategies] tables written in the grid itself, which must name strategies it runs."""
    from clbench.registry import get_strategy, get_stream
    from clbench.training.backbones import check_backbone_name
    from clbench.tuned_files import DEFAULT_TUNED_DIR

    def key_path(*keys):  # where a merged key was written: in this grid, else at the top
        own = (*prefix, *keys)
        return own if where.line(own, exact=True) else keys

    names = {key: _names(grid[key], key_path(key), where) for key in ("stream", "strategy", "backbone")}
    seeds = _seeds(grid["seeds"], key_path("seeds"), where)
    if not isinstance(grid["smoke"], bool):
        raise UsageError(f"{where(key_path('smoke'))}: smoke must be true or false")
    tuned = grid["tuned"]
    if not isinstance(tuned, (bool, str)):
        raise UsageError(f"{where(key_path('tuned'))}: tuned must be true, false or the path of a folder or file")
    tuned = (DEFAULT_TUNED_DIR if tuned is True else Path(tuned)) if tuned else None
    for name in own_strategies:
        if name not in names["strategy"]:
            raise UsageError(f"{where((*prefix, 'strategies', name))}: strategies.{name} names a strategy this grid "
                             f"does not run; add it to strategy = [...] or remove the table")
    for key in ("stream", "strategy", "backbone"):
        lookup = {"stream": get_stream, "strategy": get_strategy, "backbone": check_backbone_name}[key]
        for name in names[key]:
            try:
                if name:
                    lookup(name)
            except UsageError as exc:
                raise UsageError(f"{where(key_path(key))}: {exc}") from None

    shared = _axes(grid["set"], ("set",), key_path, where)
    configurations = []
    for stream, backbone, strategy in itertools.product(names["stream"], names["backbone"], names["strategy"]):
        backbone = backbone or get_stream(stream).backbone
        own = _axes(grid["strategies"].get(strategy, {}), ("strategies", strategy), key_path, where)
        axes = {**shared, **own}
        for values in itertools.product(*(choices for choices, _ in axes.values())):
            assignments = {key: (text, origin) for (key, (_, origin)), text in zip(axes.items(), values)}
            configurations.append((stream, backbone, strategy, assignments))
    runs = [_planned(stream, backbone, strategy, seed, assignments, grid["smoke"], tuned if resolve_tuned else None,
                     where, key_path, results)
            for seed in seeds for stream, backbone, strategy, assignments in configurations]
    return runs if resolve_tuned else [replace(run, tuned=tuned) for run in runs]


def _planned(stream, backbone, strategy, seed, assignments, smoke, tuned, where, key_path, results) -> RunSpec:
    texts = [f"{key}={text}" for key, (text, _) in assignments.items()]
    try:
        return plan_run(stream, strategy, backbone, seed, texts, smoke, results, tuned)
    except UsageError as exc:
        culprits = [origin for key, (text, origin) in assignments.items()
                    if _rejects(stream, strategy, backbone, smoke, f"{key}={text}")]
        culprit = culprits[0] if culprits else key_path("tuned") if tuned else ()
        hint = f"; clbench tune --sweep {where.path} tunes them all" if tuned and not culprits else ""
        raise UsageError(f"{where(culprit)}: {exc} (in the runs of {stream} x {strategy} x {backbone}){hint}") from None


def _rejects(stream, strategy, backbone, smoke, assignment) -> bool:
    from clbench.config import resolve_config
    from clbench.registry import get_strategy, get_stream

    try:
        resolve_config(get_stream(stream), get_strategy(strategy), [assignment], smoke=smoke, backbone=backbone)
    except UsageError:
        return True
    return False


def _axes(table: dict, table_path: tuple, key_path, where) -> dict:
    """key -> (the --set texts it takes, where it was written)."""
    axes = {}
    for key, value in table.items():
        origin = key_path(*table_path, key)
        choices = value if isinstance(value, list) else [value]  # an element that is a list: one lr per task
        if not choices:
            raise UsageError(f"{where(origin)}: {'.'.join(table_path)}.{key} is an empty list; give at least one value")
        axes[key] = ([_set_text(choice, origin, where) for choice in choices], origin)
    return axes


def _set_text(value, origin, where) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 for v in value):
        return ",".join(str(v) for v in value)  # one value per task
    raise UsageError(f"{where(origin)}: {origin[-1]} = {value!r} is not a value --set takes (a number, string, "
                     "true/false, or a list of numbers: one per task)")


def _names(value, origin, where) -> list[str]:
    names = value if isinstance(value, list) else [value]
    if not names or not all(isinstance(name, str) for name in names):
        raise UsageError(f"{where(origin)}: {origin[-1]} must be a name or a list of names, got {value!r}")
    return names


def _seeds(value, origin, where) -> list[int]:
    seeds = value if isinstance(value, list) else [value]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise UsageError(f"{where(origin)}: seeds must be an integer or a list of integers, got {value!r}")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"{where(origin)}: seeds {seeds} repeats a seed")
    return seeds


def _check_tables(grid: dict, prefix: tuple, where: _Locator) -> None:
    """[set] is a table of --set keys; [strategies] a table of such tables, one per strategy."""
    tables = [("set",)] if "set" in grid else []
    if "strategies" in grid:
        if not isinstance(grid["strategies"], dict):
            raise UsageError(f"{where((*prefix, 'strategies'))}: strategies must be [strategies.NAME] tables")
        tables += [("strategies", name) for name in grid["strategies"]]
    for keys in tables:
        value = grid[keys[0]] if len(keys) == 1 else grid[keys[0]][keys[1]]
        if not isinstance(value, dict):
            raise UsageError(f"{where((*prefix, *keys))}: {'.'.join(keys)} must be a table of --set keys, "
                             f"e.g. [{'.'.join(keys)}] with epochs = 2 below it")


def _check_keys(table: dict, allowed: tuple, prefix: tuple, where: _Locator) -> None:
    if not isinstance(table, dict):
        raise UsageError(f"{where(prefix)}: {'.'.join(map(str, prefix))} must be a table")
    for key in table:
        if key not in allowed:
            hint = closest(key, allowed)
            if not hint.startswith("did you mean"):
                hint += "; --set keys go under [set] or [strategies.NAME]"
            raise UsageError(f"{where((*prefix, key))}: unknown key {key!r}; {hint}")


class _Locator:
    """file:line of a key, found by reading the file's table headers and key assignments."""

    _ARRAY_HEADER = re.compile(r"\[\[\s*([^\]]+?)\s*\]\]")
    _HEADER = re.compile(r"\[\s*([^\]]+?)\s*\]")
    _ASSIGNMENT = re.compile(r"""((?:[\w\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[\w\-]+|"[^"]*"|'[^']*'))*)\s*=""")

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines: dict[tuple, int] = {}
        table: tuple = ()
        arrays: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if match := self._ARRAY_HEADER.match(stripped):
                name = _key_parts(match[1])
                arrays[name[0]] = arrays.get(name[0], -1) + 1
                table = (name[0], arrays[name[0]], *name[1:])
            elif match := self._HEADER.match(stripped):
                name = _key_parts(match[1])
                table = (name[0], arrays[name[0]], *name[1:]) if name[0] in arrays else name
            elif match := self._ASSIGNMENT.match(stripped):
                self.lines.setdefault((*table, *_key_parts(match[1])), number)
                continue
            else:
                continue
            self.lines.setdefault(table, number)

    def line(self, keys: tuple, exact: bool = False) -> int | None:
        if exact:
            return self.lines.get(tuple(keys))
        for end in range(len(keys), 0, -1):
            if tuple(keys[:end]) in self.lines:
                return self.lines[tuple(keys[:end])]
        return None

    def __call__(self, keys: tuple) -> str:
        number = self.line(keys)
        return f"{self.path}:{number}" if number else str(self.path)


def _key_parts(key: str) -> tuple:
    return tuple(part.strip().strip("\"'") for part in re.split(r"\.(?=(?:[^\"']*[\"'][^\"']*[\"'])*[^\"']*$)", key))
