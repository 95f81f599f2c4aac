"""User plugin files: streams and strategies defined outside clbench, one .py file each, imported
only from the folders the user names (--plugins, or CLBENCH_PLUGINS separated by os.pathsep)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
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
    from_env = [Path(p) for p in os.environ.get("CLBENCH_PLUGINS", "").split(os.pathsep) if p]
    dirs = [*named, *from_env]
    for folder in dirs:
        if not folder.is_dir():
            raise UsageError(f"plugin folder {folder} does not exist; fix --plugins or CLBENCH_PLUGINS")
    return dirs


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
