"""Writing leaderboard tables as Markdown, CSV, HTML or JSON."""

from __future__ import annotations

import csv
import html
import io
import json

from clbench.reporting.curves import MatchedPlasticity
from clbench.reporting.leaderboard import COMPARED, Row, Table, differing_keys
from clbench.reporting.optimizer_swaps import SwapSection
from clbench.reporting.stats import CONFIDENCE, Estimate, PairedComparison


def render(tables: list[Table], notes: list[str], fmt: str, matched: list[MatchedPlasticity] = (),
           swaps: list[SwapSection] = ()) -> str:
    """The tables, the optimizers compared within each method where tables hold methods, then
    forgetting at matched plasticity where lr curves exist (neither in CSV, which holds the tables'
    rows only)."""
    if fmt == "csv":
        return _csv(tables, notes)
    return {"md": _markdown, "html": _html, "json": _json}[fmt](tables, notes, list(matched), list(swaps))


def _swaps_title(section: SwapSection) -> str:
    return f"Optimizers within each method · {section.table.title()}"


def _swaps_legend(section: SwapSection) -> str:
    pct = round(CONFIDENCE * 100)
    tested = sum(c is not None and c.p_holm is not None for swap in section.swaps for c in swap.versus.values())
    return (f"Each method trained with the optimizer named against the same method with {section.baseline}, on "
            f"the seeds both have: mean difference [{pct}% interval] and the two-sided p-value of a paired t-test, "
            f"Holm-corrected over this table's {tested} comparisons. Method none: the optimizers alone.")


def _swaps_rows(section: SwapSection) -> list[list[str]]:
    return [[swap.method, swap.optimizer, str(len(swap.versus["acc"].seeds) if swap.versus["acc"] else 0),
             _difference(swap.versus["acc"], False), holm_p_text(swap.versus["acc"]),
             _difference(swap.versus["forgetting"], False), holm_p_text(swap.versus["forgetting"])]
            for swap in section.swaps]


_SWAPS_HEADER = ["method", "optimizer", "seeds", "Δ acc", "p", "Δ forgetting", "p"]


def _matched_title(section: MatchedPlasticity, matched: list[MatchedPlasticity]) -> str:
    """Names freeze_norm_stats, device, and every setting that tells this group from the stream's others."""
    others = [m.group.settings for m in matched if (m.group.stream, m.group.backbone) ==
              (section.group.stream, section.group.backbone)]
    keys = dict.fromkeys(["freeze_norm_stats", "device", *differing_keys(others)])
    settings = ", ".join(f"{k}={section.group.settings[k]}" for k in keys if k in section.group.settings)
    return f"Forgetting at matched plasticity · {section.group.title()} · {settings}"


def _matched_legend(section: MatchedPlasticity) -> str:
    pct = round(CONFIDENCE * 100)
    return (f"Each strategy's learning-rate curve (one per seed), its forgetting interpolated where its plasticity "
            f"first reaches {section.level:.2f}%, the highest level every curve reaches. Mean ± half-width of the "
            f"{pct}% t-interval over seeds; Δ vs {section.baseline}: paired over shared seeds [{pct}% interval], "
            "p Holm-corrected over this table's comparisons.")


def _matched_rows(section: MatchedPlasticity) -> list[list[str]]:
    return [[row.strategy, str(row.forgetting.n if row.forgetting else 0), _estimate(row.forgetting),
             _difference(row.versus_baseline, row.strategy == section.baseline), holm_p_text(row.versus_baseline)]
            for row in section.rows]


_MATCHED_HEADER = ["strategy", "seeds", "forgetting at matched plasticity", "Δ forgetting", "p"]


def _legend(table: Table) -> str:
    pct = round(CONFIDENCE * 100)
    text = (f"Mean ± half-width of the {pct}% t-interval over seeds; best mean per column in bold "
            "(forgetting, drift and state: lowest).")
    if table.baseline is not None:
        text += (f" Δ vs {table.baseline.label}: mean difference over matched seeds [{pct}% interval], "
                 f"and the two-sided p-value of a paired t-test, Holm-corrected over the table's "
                 f"{table.comparisons} comparisons.")
    if table.methods:
        text += (" The optimizers alone are the rows of their own table, repeated here to compare with; the "
                 "comparisons and their correction there are the optimizers' own.")
    if any(row.unfinished for row in table.rows):
        text += " Seeds: completed runs; runs that diverged or failed are counted beside them, not in the means."
    return text


def _header(table: Table) -> list[str]:
    header = ["strategy", "seeds", *(c.label for c in table.columns)]
    if table.baseline is not None:
        for key in COMPARED:
            header += [f"Δ {key}", "p"]
    return header


def _cells(table: Table, row: Row) -> list[tuple[str, bool]]:
    """(text, is best) for each column of a row."""
    cells = [(row.label, False), (_seeds(row), False)]
    cells += [(_estimate(row.estimates[c.key]), c.key in row.best) for c in table.columns]
    if table.baseline is not None:
        for key in COMPARED:
            comparison = row.versus_baseline.get(key)
            cells += [(_difference(comparison, row is table.baseline), False), (holm_p_text(comparison), False)]
    return cells


def _seeds(row: Row) -> str:
    unfinished = ", ".join(f"{count} {status}" for status, count in row.unfinished_counts().items())
    return f"{len(row.records)} ({unfinished})" if unfinished else str(len(row.records))


def _estimate(estimate: Estimate | None) -> str:
    if estimate is None:
        return "n/a"
    if estimate.half_width is None:
        return f"{estimate.mean:.2f}"
    return f"{estimate.mean:.2f} ± {estimate.half_width:.2f}"


def _difference(comparison: PairedComparison | None, is_baseline: bool) -> str:
    if is_baseline:
        return "baseline"
    if comparison is None:
        return "no common seeds"
    d = comparison.difference
    if d.low is None:
        return f"{d.mean:+.2f} (1 seed)"
    return f"{d.mean:+.2f} [{d.low:+.2f}, {d.high:+.2f}]"


def holm_p_text(comparison: PairedComparison | None) -> str:
    """The Holm-corrected p-value."""
    if comparison is None or comparison.p_holm is None:
        return ""
    return p_text(comparison.p_holm)


def p_text(p: float) -> str:
    """A p-value in three decimals, or in scientific notation below 0.001."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _markdown(tables: list[Table], notes: list[str], matched: list[MatchedPlasticity],
              swaps: list[SwapSection]) -> str:
    out = []
    for table in tables:
        out += _markdown_table(f"### {table.title()}", _legend(table), _header(table),
                               [[f"**{text}**" if best else text for text, best in _cells(table, row)]
                                for row in table.rows])
    for section in swaps:
        out += _markdown_table(f"### {_swaps_title(section)}", _swaps_legend(section), _SWAPS_HEADER,
                               _swaps_rows(section))
    for section in matched:
        out += _markdown_table(f"### {_matched_title(section, matched)}", _matched_legend(section), _MATCHED_HEADER,
                               _matched_rows(section))
    out += _note_lines(notes, "- ")
    return "\n".join(out).rstrip() + "\n"


def _markdown_table(title: str, legend: str, header: list[str], rows: list[list[str]]) -> list[str]:
    return [title, "", legend, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(cells) + " |" for cells in rows), ""]


def _html(tables: list[Table], notes: list[str], matched: list[MatchedPlasticity],
          swaps: list[SwapSection]) -> str:
    out = ['<!DOCTYPE html>', '<html><head><meta charset="utf-8"><title>clbench leaderboard</title>',
           "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;"
           "text-align:right}td:first-child{text-align:left}</style></head><body>"]
    for table in tables:
        out += _html_table(table.title(), _legend(table), _header(table),
                           [[f"<b>{html.escape(text)}</b>" if best else html.escape(text)
                             for text, best in _cells(table, row)] for row in table.rows])
    for section in swaps:
        out += _html_table(_swaps_title(section), _swaps_legend(section), _SWAPS_HEADER,
                           [[html.escape(cell) for cell in cells] for cells in _swaps_rows(section)])
    for section in matched:
        out += _html_table(_matched_title(section, matched), _matched_legend(section), _MATCHED_HEADER,
                           [[html.escape(cell) for cell in cells] for cells in _matched_rows(section)])
    if notes:
        out.append("<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in notes) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_table(title: str, legend: str, header: list[str], rows: list[list[str]]) -> list[str]:
    return [f"<h3>{html.escape(title)}</h3><p>{html.escape(legend)}</p><table>",
            "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>",
            *("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>" for cells in rows), "</table>"]


def _row_data(table: Table, row: Row) -> dict:
    data = {
        "stream": table.stream,
        "backbone": table.backbone,
        "settings": table.settings,
        "table": "methods" if table.methods else "optimizers",
        "strategy": row.strategy,
        "label": row.label,
        "config": row.config,
        "seeds": row.seeds,
        "records": [r["path"] for r in row.records],
        "unfinished": [{"seed": r["seed"], "status": r["status"], "path": r["path"]} for r in row.unfinished],
        "best": sorted(row.best),
    }
    for column in table.columns:
        data[column.key] = estimate_data(row.estimates[column.key])
    if table.baseline is not None:
        data["baseline"] = table.baseline.label
        for key in COMPARED:
            data[f"{key}_vs_baseline"] = comparison_data(row.versus_baseline.get(key))
    return data


def estimate_data(estimate: Estimate | None) -> dict | None:
    return None if estimate is None else {"mean": estimate.mean, "low": estimate.low, "high": estimate.high,
                                          "n": estimate.n}


def comparison_data(comparison: PairedComparison | None) -> dict | None:
    return None if comparison is None else {
        "difference": comparison.difference.mean, "low": comparison.difference.low,
        "high": comparison.difference.high, "p_value": comparison.p_value, "p_holm": comparison.p_holm,
        "p_permutation": comparison.p_permutation, "seeds": list(comparison.seeds)}


def _json(tables: list[Table], notes: list[str], matched: list[MatchedPlasticity],
          swaps: list[SwapSection]) -> str:
    rows = [_row_data(table, row) for table in tables for row in table.rows]
    within_methods = [{"stream": s.table.stream, "backbone": s.table.backbone, "settings": s.table.settings,
                       "baseline": s.baseline,
                       "rows": [{"method": swap.method, "optimizer": swap.optimizer,
                                 **{f"{key}_vs_baseline": comparison_data(c) for key, c in swap.versus.items()}}
                                for swap in s.swaps]}
                      for s in swaps]
    sections = [{"stream": m.group.stream, "backbone": m.group.backbone, "settings": m.group.settings,
                 "plasticity_level": m.level, "baseline": m.baseline,
                 "rows": [{"strategy": row.strategy, "forgetting": estimate_data(row.forgetting),
                           "forgetting_vs_baseline": comparison_data(row.versus_baseline)} for row in m.rows]}
                for m in matched]
    return json.dumps({"confidence": CONFIDENCE, "rows": rows, "optimizers_within_methods": within_methods,
                       "matched_plasticity": sections, "notes": notes}, indent=2) + "\n"


def _csv(tables: list[Table], notes: list[str]) -> str:
    flat_rows = []
    for table in tables:
        for row in table.rows:
            data = _row_data(table, row)
            flat = {"stream": data["stream"], "backbone": data["backbone"], "settings": json.dumps(table.heading),
                    "table": data["table"], "strategy": data["strategy"], "label": data["label"],
                    "seeds": " ".join(map(str, data["seeds"]))}
            for column in table.columns:
                estimate = data[column.key] or {}
                for part in ("mean", "low", "high"):
                    flat[f"{column.key}_{part}"] = estimate.get(part)
                flat[f"{column.key}_best"] = column.key in row.best
            for key in COMPARED:
                comparison = data.get(f"{key}_vs_baseline") or {}
                for part in ("difference", "low", "high", "p_value", "p_holm", "p_permutation"):
                    flat[f"{key}_vs_baseline_{part}"] = comparison.get(part)
            flat_rows.append(flat)
    buffer = io.StringIO()
    fieldnames = list(dict.fromkeys(key for flat in flat_rows for key in flat))
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat_rows)
    return buffer.getvalue()


def _note_lines(notes: list[str], bullet: str) -> list[str]:
    return ["Notes:", *(bullet + note for note in notes)] if notes else []
