"""The cost page: every benchmark record in results/benchmarks (optimizer step time and state bytes,
peak training memory, throughput, ...) as a sortable table, with the command that made it and the
machine it ran on."""

from __future__ import annotations

import json
import math
from pathlib import Path

from clbench.site.markdown import link
from clbench.site.records import site_path

PAGE = "costs.md"
MB = 2**20


def cost_page(results: Path) -> str:
    folder = results / "benchmarks"
    lines = ["# Costs", "",
             "The benchmark records of results/benchmarks, one table each: ratios are against the baseline the same "
             "run measured (its first row, or the column's name says which). Byte counts are shown in MB (2^20 bytes).",
             ""]
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or not data["rows"]:
            continue
        env = data.get("env", {})
        machine = env.get("gpu") or env.get("cpu") or "machine not recorded"
        lines += [f"## {path.stem}", "",
                  f"Record [{path.name}]({link(site_path(path, results), PAGE)}) · {machine}, "
                  f"{env.get('torch_threads', '?')} threads · commit {str(env.get('git_commit', '?'))[:7]}", "",
                  "```bash", f"python {data.get('command', '(command not recorded)')}", "```", "",
                  *_table(data["rows"]), ""]
    others = sorted(path for path in folder.glob("*") if path.suffix in (".md", ".xml")) if folder.is_dir() else []
    if others:
        lines += ["## Other benchmark files", ""]
        lines += [f"- [{path.name}]({link(site_path(path, results), PAGE)})" for path in others]
    return "\n".join(lines) + "\n"


def _table(rows: list[dict]) -> list[str]:
    keys = [key for key in dict.fromkeys(k for row in rows for k in row)
            if all(not isinstance(row.get(key), (list, dict)) for row in rows)]
    header = [key.removesuffix("_bytes") + " MB" if key.endswith("_bytes") else key for key in keys]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(keys),
            *("| " + " | ".join(_cell(key, row.get(key)) for key in keys) + " |" for row in rows)]


def _cell(key: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if key.endswith("_bytes") and isinstance(value, (int, float)):
        return f"{value / MB:.2f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")
