"""The campaign pages. A campaign is a sweep whose analysis results/ holds (a results/*.md that
begins "## Analysis of FILE") or whose file names its contrasts. Each gets a page of its own (the
sweep file's notes with the commands that make its records, the contrasts over every cell and
pooled, the forest plots) and one page per cell (stream x backbone x norm statistics): its lr curves
and both Pareto planes with seed bands (the committed figures), its contrasts with their intervals,
and the trials behind them, linked."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from clbench.errors import UsageError
from clbench.records import strategy_label
from clbench.reporting.campaign import Analysis, Cell, cell_of, cell_of_curves, of_cell
from clbench.reporting.campaign_format import markdown
from clbench.reporting.curves import drawn_curves, figure_stems
from clbench.reporting.leaderboard import differing_keys
from clbench.site.markdown import link, slug
from clbench.site.records import records_block, site_path
from clbench.sweeps.analysis import analyze_sweep
from clbench.sweeps.spec import load_contrasts

FOLDER = "campaigns"
ANALYSIS_LINE = "## Analysis of "


def campaign_files(results: Path) -> list[Path]:
    """The campaigns' sweep files (paths in analyses are read from the folder above results/)."""
    analysed = set()
    for path in results.glob("*.md"):
        first = path.read_text().split("\n", 1)[0]
        if first.startswith(ANALYSIS_LINE):
            analysed.add(results.parent / first.removeprefix(ANALYSIS_LINE).strip())
    declared = {path for path in (results / "sweeps").rglob("*.toml") if load_contrasts(path)}
    return sorted(path for path in analysed | declared if path.is_file())


def campaign_pages(results: Path, all_trials: list[dict]) -> dict[str, str]:
    """{page: Markdown} of the campaigns in `results`; `all_trials`: the records of results/tuning."""
    pages, listed = {}, []
    for file in campaign_files(results):
        try:
            analysis, trials = analyze_sweep(file, results / "runs", results / "tuning", all_trials)
        except UsageError:  # nothing of it has run yet
            continue
        folder = f"{FOLDER}/{file.stem}"
        telling = differing_keys([cell.settings for cell, _ in analysis.drift])  # what tells cells apart
        figures = _cell_figures(results, file.stem, trials)
        cells = {}
        for cell, _ in analysis.drift:
            named = [f"{key}={cell.settings.get(key)}" for key in telling if key != "freeze_norm_stats"]
            page = f"{folder}/{slug(cell.stream, cell.backbone, 'norm-' + cell.norm, *named)}.md"
            cells[page] = cell, " · ".join([cell.stream, cell.backbone, f"norm statistics {cell.norm}", *named])
            pages[page] = _cell_page(file, results, analysis, *cells[page], trials, figures(cell), page)
        pages[f"{folder}/index.md"] = _campaign_page(file, results, analysis, cells, figures)
        listed.append((file, folder, len(cells)))
    lines = ["# Campaigns", "",
             "Each campaign is a sweep run to answer one question; its page gives the contrasts over every cell and "
             "pooled, each cell's page its lr curves, Pareto planes and contrasts (`clbench analyze` makes the same "
             "tables). The verdict they add up to is in [Results](../results/README.md).", "",
             "| campaign | sweep file | cells |", "|---|---|---|"]
    lines += [f"| [{file.stem}]({file.stem}/index.md) | [{file.relative_to(results.parent)}]"
              f"({link(site_path(file, results), FOLDER + '/index.md')}) | {count} |" for file, _, count in listed]
    pages[f"{FOLDER}/index.md"] = "\n".join(lines) + "\n"
    return pages


def _campaign_page(file: Path, results: Path, analysis: Analysis, cells: dict[str, tuple[Cell, str]],
                   figures: Callable[[Cell], list[Path]]) -> str:
    page = f"{FOLDER}/{file.stem}/index.md"
    notes = [line.removeprefix("#").removeprefix(" ") for line in file.read_text().splitlines()
             if line.startswith("#")]
    lines = [f"# Campaign {file.stem}", "",
             f"Sweep file [{file.relative_to(results.parent)}]({link(site_path(file, results), page)}); its notes, "
             "with the commands that make its records:", "", "```text", *notes, "```", "", "## Cells", ""]
    lines += [f"- [{title}]({link(cell_page, page)})" for cell_page, (_, title) in cells.items()]
    cell_figures = {figure for cell, _ in cells.values() for figure in figures(cell)}
    forest = sorted(set((results / "figures").rglob(f"{file.stem}__*.png")) - cell_figures)
    if forest:
        lines += ["", "## Forest plots", ""]
        lines += [f"![{figure.stem}]({link(site_path(figure, results), page)})" for figure in forest]
    return "\n".join(lines + ["", markdown(analysis, f"Analysis of {file.relative_to(results.parent)}")]) + "\n"


def _cell_page(file: Path, results: Path, analysis: Analysis, cell: Cell, title: str, trials: list[dict],
               figures: list[Path], page: str) -> str:
    lines = [f"# {file.stem}: {title}", "",
             f"A cell of campaign [{file.stem}](index.md). Settings: "
             + ", ".join(f"{key}={value}" for key, value in cell.settings.items() if value is not None) + ".", ""]
    for figure in figures:
        lines += [f"![{figure.stem}]({link(site_path(figure, results), page)})", ""]
    lines += [markdown(of_cell(analysis, cell, trials), "Contrasts in this cell"), "", "## Trials behind the curves", ""]
    by_strategy: dict[str, list[dict]] = defaultdict(list)
    for trial in trials:
        if cell_of(trial) == cell:
            by_strategy[strategy_label(trial)].append(trial)
    for strategy, records in sorted(by_strategy.items()):
        lines += records_block(f"{strategy}: trials", records, results, page)
    return "\n".join(lines) + "\n"


def _cell_figures(results: Path, stem: str, trials: list[dict]) -> Callable[[Cell], list[Path]]:
    """Each cell's lr-sensitivity and plasticity-forgetting figures, named as `clbench analyze
    --figures` names them from the campaign's trials."""
    groups = drawn_curves(trials)
    named = figure_stems(f"{stem}__", [(group.stream, group.backbone, group.settings) for group in groups])

    def of(cell: Cell) -> list[Path]:
        return sorted(figure for group, (name, _) in zip(groups, named) if cell_of_curves(group) == cell
                      for figure in (results / "figures").rglob(f"{name}__*.png"))
    return of
