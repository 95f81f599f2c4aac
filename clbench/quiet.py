"""Keeping third-party chatter (warnings, log lines) away from users."""

from __future__ import annotations

import importlib
import logging
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


def import_quietly(module: str, package: str):
    """Import `module` silenced; a missing package becomes a ValueError that says what to install."""
    with silenced():
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"{module} is not installed ({exc}); pip install {package}") from None
