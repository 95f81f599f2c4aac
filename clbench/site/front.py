"""The front page: what clbench measures (README.md's opening) and what it has found (README.md's
verdict section, with its figure), then where to go next. Both are read from README.md when the
site is built, so the verdict has one source."""

from __future__ import annotations

from clbench.site.markdown import section

VERDICT = "## What clbench has found so far"


def front_page(readme: str, sections: list[tuple[str, str, str]]) -> str:
    """index.md; `sections` are (title, page, what a reader finds there) for "Where to go next"."""
    opening = readme.split("\n## ", 1)[0].split("\n", 1)[1].strip()
    lines = ["# clbench", "", opening, "", VERDICT, "", section(readme, VERDICT), "## Where to go next", "",
             "| page | what it holds |", "|---|---|"]
    lines += [f"| [{title}]({page}) | {what} |" for title, page, what in sections]
    return "\n".join(lines) + "\n"
