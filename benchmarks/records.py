"""The record a benchmark writes with --out (its command, the machine, its rows) and --table, which
prints a record's table again."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clbench.atomic import write_text_atomically  # noqa: E402
from clbench.records import environment  # noqa: E402


def add_record_arguments(parser: argparse.ArgumentParser, table: bool = True) -> None:
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    if table:
        parser.add_argument("--table", type=Path, metavar="RECORD",
                            help="only print the table of a record written by --out")


def print_record_table(path: Path, header: str, table_row: Callable[[dict], str]) -> None:
    print(header)
    for row in json.loads(path.read_text())["rows"]:
        print(table_row(row))


def write_record(path: Path | None, device: str, **content) -> None:
    """Write {"command", "env", **content} to `path` atomically (nothing when it is None)."""
    if path is None:
        return
    record = {"command": " ".join(sys.argv), "env": environment(device), **content}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(record, indent=1))
