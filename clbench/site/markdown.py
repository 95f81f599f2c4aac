"""Markdown pieces the site's pages share: sections cut out of a source file, links between pages,
and collapsed blocks listing records."""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

from clbench.records import file_stem


def section(text: str, heading: str) -> str:
    """The section of `text` under the heading line `heading` (e.g. "## What clbench has found so far"),
    up to the next heading of the same or a higher level, without its heading line; "" if absent."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    if heading not in lines:
        return ""
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines))
                if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start:end]).strip() + "\n"


def link(target: str, page: str) -> str:
    """The relative link from page `page` to `target`, both paths in the site's source folder."""
    return PurePosixPath(os.path.relpath(target, PurePosixPath(page).parent)).as_posix()


def collapsed(title: str, body: list[str]) -> list[str]:
    """A block a reader opens with a click (pymdownx.details)."""
    return [f'??? note "{title}"', *("    " + line if line else "" for line in body), ""]


def slug(*parts: str) -> str:
    """A page's file name made of the parts."""
    return file_stem(*parts).strip("-")
