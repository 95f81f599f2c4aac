"""The leaderboard pages: one per stream x backbone x settings group (the optimizers' table, the
continual-learning methods' table, the optimizers compared within each method), each table followed
by its rows' records (linked) and the command that re-creates them; and one page per stream x
backbone of forgetting at matched plasticity, read off the tuning trials' lr curves."""

from __future__ import annotations

import shlex
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from clbench.records import load_records
from clbench.reporting.curves import lr_curves, matched_plasticity
from clbench.reporting.leaderboard import Row, Table, build_tables
from clbench.reporting.leaderboard_format import render
from clbench.reporting.optimizer_swaps import optimizer_swaps
from clbench.run import replan
from clbench.site.markdown import collapsed, link, slug

FOLDER = "leaderboard"


def leaderboard_pages(results: Path, records: list[dict], trials: list[dict]) -> dict[str, str]:
    """{page: Markdown} of the records of results/runs and the trials of results/tuning; results/ is
    the site's folder results/."""
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
            lines += [render([table], [], "md"), *_records_of(table, results, page)]
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
        pages[page] = f"# {stream} · {backbone} · forgetting at matched plasticity\n\n" + render([], [], "md", sections)
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


def _records_of(table: Table, results: Path, page: str) -> list[str]:
    lines = []
    for row in table.rows:
        records = row.records + row.unfinished
        lines += collapsed(f"{row.label}: {len(records)} record{'s' * (len(records) != 1)}",
                           _commands(records, results) + _links(records, results, page))
    return lines


def _commands(records: list[dict], results: Path) -> list[str]:
    """The `clbench run` commands that re-create the records: one for each group of seeds that share
    every other word."""
    seeds_of: dict[tuple, list[int]] = defaultdict(list)
    lost = []
    for record in records:
        spec = replan(record, Path(record["path"]), results / "tuned")
        if spec is None:
            lost.append(record["seed"])
            continue
        if spec.tuned is not None:  # as a command run from the repository's folder names it
            spec = replace(spec, tuned=Path(spec.tuned).relative_to(results.parent))
        words = spec.run_args()
        seed_at = words.index("--seeds") + 1
        seeds_of[(tuple(words[:seed_at]), tuple(words[seed_at + 1:]))].append(record["seed"])
    lines = []
    for (before, after), seeds in seeds_of.items():
        command = shlex.join(["clbench", "run", *before, ",".join(map(str, sorted(seeds))), *after])
        lines += ["```bash", command, "```", ""]
    if lost:
        lines += [f"No command of today's clbench re-creates the records of seed{'s' * (len(lost) > 1)} "
                  f"{', '.join(map(str, sorted(lost)))}: a default or a setting changed since they were made.", ""]
    return lines


def _links(records: list[dict], results: Path, page: str) -> list[str]:
    return [" · ".join(f"[seed {r['seed']}{'' if r['status'] == 'completed' else ' (' + r['status'] + ')'}]"
                       f"({link(site_path(r['path'], results), page)})" for r in sorted(records, key=lambda r: r["seed"]))]


def site_path(path: str, results: Path) -> str:
    """Where the file at `path`, inside `results`, is in the site's source folder."""
    return "results/" + Path(path).relative_to(results).as_posix()
