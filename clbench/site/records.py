"""Records on the site's pages: a collapsed block per table row with the `clbench run` commands that
re-create its records (checked: each plans the record's own name) and a link to every record."""

from __future__ import annotations

import shlex
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from clbench.run import replan
from clbench.site.markdown import collapsed, link


def records_block(title: str, records: list[dict], results: Path, page: str) -> list[str]:
    """The block of `records` (loaded from `results`, each with its "path") on page `page`."""
    return collapsed(f"{title}: {len(records)} record{'s' * (len(records) != 1)}",
                     _commands(records, results) + _links(records, results, page))


def site_path(path: str | Path, results: Path) -> str:
    """Where the file at `path`, inside `results`, is in the site's source folder."""
    return "results/" + Path(path).relative_to(results).as_posix()


def _commands(records: list[dict], results: Path) -> list[str]:
    """The `clbench run` commands that re-create the records: one for each group of seeds that share
    every other word, run from the repository's folder."""
    seeds_of: dict[tuple, list[int]] = defaultdict(list)
    lost = []
    for record in records:
        spec = replan(record, Path(record["path"]), results / "tuned")
        if spec is None:
            lost.append(record["seed"])
            continue
        if spec.tuned is not None:
            spec = replace(spec, tuned=Path(spec.tuned).relative_to(results.parent))
        words = spec.run_args()
        seed_at = words.index("--seeds") + 1
        seeds_of[(tuple(words[:seed_at]), tuple(words[seed_at + 1:]))].append(record["seed"])
    lines = []
    for (before, after), seeds in seeds_of.items():
        lines += ["```bash", shlex.join(["clbench", "run", *before, ",".join(map(str, sorted(seeds))), *after]),
                  "```", ""]
    if lost:
        lines += [f"No command of today's clbench re-creates the records of seed{'s' * (len(lost) > 1)} "
                  f"{', '.join(map(str, sorted(lost)))}: a default or a setting changed since they were made.", ""]
    return lines


def _links(records: list[dict], results: Path, page: str) -> list[str]:
    several_lrs = len({_lr(r) for r in records}) > 1

    def name(record: dict) -> str:
        lr = record["config"].get("lr")
        lr = f"lr {lr[0] if isinstance(lr, list) else lr} " if several_lrs else ""
        status = "" if record["status"] == "completed" else f" ({record['status']})"
        return f"{lr}seed {record['seed']}{status}"

    ordered = sorted(records, key=lambda r: (_lr(r), r["seed"]))
    return [" · ".join(f"[{name(r)}]({link(site_path(r['path'], results), page)})" for r in ordered)]


def _lr(record: dict) -> str:
    return str(record["config"].get("lr"))
