"""Keeping third-party chatter (warnings, log lines) and imports nothing uses away from users."""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from contextlib import contextmanager


@contextmanager
def silenced():
    """No warnings and no log records below ERROR while the block runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


@contextmanager
def importing_avalanche():
    """Avalanche's import, silenced and without the JAX-based solvers that qpsolvers (an Avalanche
    dependency, for GEM) tries to import when it is imported: they take 1.3 s of every run's start-up,
    and no clbench method solves a QP with them. qpsolvers skips solvers whose import fails."""
    unused = [name for name in ("jax", "jaxopt", "qpax") if name not in sys.modules]
    sys.modules.update(dict.fromkeys(unused))  # None in sys.modules: importing it raises ImportError
    try:
        with silenced():
            yield
    finally:
        for name in unused:
            if sys.modules.get(name, "imported") is None:
                del sys.modules[name]


def import_quietly(module: str, package: str):
    """Import `module` silenced; a missing package becomes a ValueError that says what to install."""
    with silenced():
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"{module} is not installed ({exc}); pip install {package}") from None
