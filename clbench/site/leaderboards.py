"""The leaderboard pages: one per stream x backbone x settings group (the optimizers' table, the
continual-learning methods' table, the optimizers compared within each method), each table followed
by its rows' records (linked) and the command that re-creates them; and one page per stream x
backbone of forgetting at matched plasticity, read off the tuning trials' lr curves."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from clbench.reporting.curves import CurveGroup, lr_curves, matched_plasticity
from clbench.reporting.leaderboard import Table, build_tables
from clbench.reporting.leaderboard_format import render
from clbench.reporting.optimizer_swaps import optimizer_swaps
from clbench.site.markdown import link, slug
from clbench.site.records import records_block

FOLDER = "leaderboard"


def leaderboard_pages(results: Path, records: list[dict], trials: list[dict]) -> dict[str, str]:
    """{page: Markdown} of `records` (results/runs) and `trials` (results/tuning), which link to
    their files under the site's results/."""
    tables, notes = build_tables(records) if records else ([], [])
    groups: dict[tuple, list[Table]] = defaultdict(list)
    for table in tables:
        groups[(table.stream, table.backbone, tuple(table.heading.items()))].append(table)
    pages = {}
    for (stream, backbone, heading), group in groups.items():
        page = f"{FOLDER}/{slug(stream, backbone, *(f'{k}={v}' for k, v in heading))}.md"
        title = " · ".join(filter(None, (stream, backbone, ", ".join(f"{k}={v}" for k, v in heading))))
        lines = [f"# {title}", ""]
        for table in group:
            legend_and_table = render([table], [], "md").split("\n", 1)[1]  # its first line, the title, is the page's
            lines += [f"## {'Continual-learning methods' if table.methods else 'Optimizers'}", legend_and_table,
                      *_records_of(table, results, page)]
        swaps = [section for table in group if (section := optimizer_swaps(table)) is not None]
        if swaps:
            lines.append(render([], [], "md", swaps=swaps))
        pages[page] = "\n".join(lines)
    matched = defaultdict(list)
    for curves in lr_curves(trials):
        if (section := matched_plasticity(curves)) is not None:
            matched[(curves.stream, curves.backbone)].append(section)
    for (stream, backbone), sections in matched.items():
        page = f"{FOLDER}/{slug(stream, backbone, 'matched_plasticity')}.md"
        lines = [f"# {stream} · {backbone} · forgetting at matched plasticity", ""]
        for section in sections:
            lines += [render([], [], "md", [section]), *_trials_of(section.group, results, page)]
        pages[page] = "\n".join(lines)
    pages[f"{FOLDER}/index.md"] = _index(pages, notes)
    return pages


def _index(pages: dict[str, str], notes: list[str]) -> str:
    lines = ["# Leaderboard", "",
             "One page per stream, backbone and group of settings, from the run records in results/runs "
             "(`clbench leaderboard` prints the same tables); every table sorts by a column when its header is "
             "clicked, and under it each row's records and the command that re-creates them. The row frozen + OPTIMIZER "
             "(the backbone frozen, heads alone trained: the floor of what fine-tuning adds, with no forgetting) is in "
             "the continual-learning methods' table where its records exist. Forgetting at matched plasticity is read "
             "off the lr curves of the tuning trials in results/tuning.", ""]
    lines += [f"- [{text.splitlines()[0].removeprefix('# ')}]({link(page, FOLDER + '/index.md')})"
              for page, text in sorted(pages.items())]
    if notes:
        lines += ["", "Notes:", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def _trials_of(curves: CurveGroup, results: Path, page: str) -> list[str]:
    """Per strategy, the trials that drew the group's lr curves."""
    return [line for strategy, records in sorted(curves.records.items())
            for line in records_block(f"{strategy}: the lr curves' trials", records, results, page)]


def _records_of(table: Table, results: Path, page: str) -> list[str]:
    return [line for row in table.rows for line in records_block(row.label, row.records + row.unfinished, results, page)]
