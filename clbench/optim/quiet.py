"""Importing optional optimizer packages without their import-time chatter reaching users."""

from __future__ import annotations

import importlib
import logging
import warnings


def import_quietly(module: str, package: str):
    """Import `module`, silencing its warnings and log messages; a missing package becomes a
    ValueError that says what to install."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"{module} is not installed ({exc}); pip install {package}") from None
        finally:
            logging.disable(logging.NOTSET)
