"""User plugin files: streams, strategies and data sets defined outside clbench, one .py file each,
imported only from the folders the user names (--plugins, or CLBENCH_PLUGINS separated by
os.pathsep); and the modules of installed packages that entry points name, hashed the same way."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from clbench.errors import UsageError


@dataclass(frozen=True)
class PluginFile:
    path: Path
    sha256: str
    module: ModuleType


def plugin_dirs(named: list[Path]) -> list[Path]:
    """The folders of --plugins, then CLBENCH_PLUGINS's, each once."""
    from_env = [Path(p) for p in os.environ.get("CLBENCH_PLUGINS", "").split(os.pathsep) if p]
    dirs = {}
    for folder in [*named, *from_env]:
        if not folder.is_dir():
            raise UsageError(f"plugin folder {folder} does not exist; fix --plugins or CLBENCH_PLUGINS")
        dirs.setdefault(folder.resolve(), folder)
    return list(dirs.values())


def module_plugin(name: str) -> PluginFile:
    """The imported module `name` of an installed package, as a plugin file."""
    module = sys.modules[name] if name in sys.modules else importlib.import_module(name)
    path = Path(module.__file__)
    return PluginFile(path, hashlib.sha256(path.read_bytes()).hexdigest(), module)


def load_plugin_files(dirs: list[Path]) -> list[PluginFile]:
    """Import every .py file of `dirs` (in name order); an error names the file and line."""
    return [_import(path) for folder in dirs for path in sorted(folder.glob("*.py"))]


def _import(path: Path) -> PluginFile:
    source = path.read_bytes()
    spec = importlib.util.spec_from_file_location(f"clbench_plugin_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise UsageError(f"plugin {path}:{exc.lineno}: syntax error: {exc.msg}; fix the file or remove it") from None
    except Exception as exc:  # whatever a user's file raises while it is imported
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
        line = f":{frames[-1].lineno}" if frames else ""
        raise UsageError(f"plugin {path}{line}: {type(exc).__name__}: {exc}; fix the file or remove it") from None
    return PluginFile(path, hashlib.sha256(source).hexdigest(), module)
