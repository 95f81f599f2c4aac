"""Building the site: the pages are written as Markdown into a staging folder beside copies of
results/ and docs/ (in the repository's layout, so every link between them holds), and Material for
MkDocs builds them with its offline plugin: HTML that opens from disk, with no server, and nothing
fetched from the network when it is viewed (no web fonts; the table-sorting script is vendored).
The build is strict: a link or anchor that resolves to nothing, or a page left out of the
navigation, fails it with the problem named. OUT is replaced only once the new site is complete."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from clbench.errors import UsageError
from clbench.records import load_records
from clbench.site.campaigns import campaign_pages
from clbench.site.costs import PAGE as COSTS, cost_page
from clbench.site.front import front_page
from clbench.site.leaderboards import leaderboard_pages

# what of results/ the site shows: records, analyses, figures, sweep files (not checkpoints or logs)
SHOWN = {".json", ".md", ".png", ".toml", ".sh", ".py", ".xml", ".csv"}
HIDDEN_FOLDERS = {"checkpoints", "logs"}
MARKER = ".clbench-site"  # in a folder this command built, which it may replace


@dataclass(frozen=True)
class Site:
    out: Path
    pages: int
    seconds: float


def build_site(out: Path, root: Path = Path(".")) -> Site:
    """The site of `root`'s results/, docs/ and README.md, built into `out`."""
    started = time.perf_counter()
    out, root = Path(out).resolve(), Path(root).resolve()  # MkDocs reads paths from its config file's folder
    results, docs = root / "results", root / "docs"
    _check_out(out)
    if not results.is_dir():
        raise UsageError(f"no results folder {results}; run clbench site from the repository's folder or pass --root")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".clbench-site-", dir=out.parent) as tmp:  # beside out: one rename
        staged = Path(tmp) / "pages"
        _copy(results, staged / "results", SHOWN)
        if docs.is_dir():
            _copy(docs, staged / "docs")
        shutil.copytree(files("clbench.site") / "assets", staged / "assets")
        pages = _pages(root, results)
        for page, text in pages.items():
            (staged / page).parent.mkdir(parents=True, exist_ok=True)
            (staged / page).write_text(text)
        built = Path(tmp) / "site"
        _mkdocs(Path(tmp) / "mkdocs.yml", staged, built, _nav(staged, pages))
        (built / MARKER).write_text("built by clbench site\n")
        _replace(out, built, Path(tmp) / "old")
    pages = sum(1 for page in out.rglob("*.html") if page.name != "404.html")
    return Site(out, pages, time.perf_counter() - started)


def _check_out(out: Path) -> None:
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / MARKER).exists())):
        raise UsageError(f"{out} exists and is not a site clbench built; give a new folder (or an empty one)")


def _copy(source: Path, target: Path, suffixes: set[str] | None = None) -> None:
    """The files of `source` (of these suffixes, if given) into `target`, but hidden ones, checkpoints and logs."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if (path.is_file() and (suffixes is None or path.suffix in suffixes)
                and not HIDDEN_FOLDERS & set(relative.parts[:-1]) and not relative.name.startswith(".")):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)


def _pages(root: Path, results: Path) -> dict[str, str]:
    records = load_records(results / "runs")[0] if (results / "runs").is_dir() else []
    trials = load_records(results / "tuning")[0] if (results / "tuning").is_dir() else []
    pages = {**leaderboard_pages(results, records, trials), **campaign_pages(results, trials), COSTS: cost_page(results)}
    readme = (root / "README.md").read_text() if (root / "README.md").is_file() else "# clbench\n"
    pages["index.md"] = front_page(readme, [
        ("Results", "results/README.md", "every result with the command that re-creates it, and the verdict in full"),
        ("Leaderboard", "leaderboard/index.md", "the strategies' tables per stream, backbone and settings, sortable, "
                                                "each row's records and command"),
        ("Campaigns", "campaigns/index.md", "per campaign and cell: lr curves, Pareto planes, contrasts with intervals"),
        ("Costs", COSTS, "optimizer step time, state and peak memory, throughput"),
        ("Manual", "docs/runs.md", "how to run, sweep, tune, add a strategy or a stream"),
    ])
    return pages


def _nav(staged: Path, pages: dict[str, str]) -> list:
    def under(folder: str) -> list[str]:
        index = f"{folder}/index.md"
        return [index, *sorted(page for page in pages if page.startswith(folder + "/") and page != index
                               and page.count("/") == index.count("/"))]

    campaigns = [{page.split("/")[1]: under(page.rsplit("/", 1)[0])} for page in sorted(pages)
                 if page.startswith("campaigns/") and page.endswith("/index.md") and page.count("/") == 2]
    analyses = sorted(f"results/{p.relative_to(staged / 'results').as_posix()}"
                      for p in (staged / "results").rglob("*.md") if p.name != "README.md")
    nav = [{"Home": "index.md"}, {"Results": ["results/README.md", *analyses]}, {"Leaderboard": under("leaderboard")},
           {"Campaigns": ["campaigns/index.md", *campaigns]}, {"Costs": COSTS}]
    manual = sorted(f"docs/{p.relative_to(staged / 'docs').as_posix()}" for p in (staged / "docs").rglob("*.md"))
    return nav + ([{"Manual": manual}] if manual else [])


def _mkdocs(file: Path, staged: Path, built: Path, nav: list) -> None:
    try:
        import material  # noqa: F401  (the theme and its offline plugin)
        import yaml
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import Abort, ConfigurationError
    except ImportError:
        raise UsageError("clbench site needs Material for MkDocs: pip install mkdocs-material") from None

    config = {
        "site_name": "clbench", "docs_dir": str(staged), "site_dir": str(built), "use_directory_urls": False,
        "strict": True, "nav": nav,
        "theme": {"name": "material", "font": False,
                  "features": ["navigation.tabs", "navigation.sections", "navigation.indexes", "navigation.top", "content.code.copy"]},
        "plugins": ["search", "offline"],
        "markdown_extensions": ["tables", "admonition", "pymdownx.details", "pymdownx.superfences", "attr_list",
                                {"toc": {"permalink": True}}],
        "extra_css": ["assets/tablesort.css", "assets/site.css"],
        "extra_javascript": ["assets/tablesort.min.js", "assets/tables.js"],
        # search from disk runs its worker through iframe-worker's shim: this vendored copy, where the
        # offline plugin would otherwise load it from unpkg.com
        "extra": {"polyfills": ["assets/iframe-worker-shim.js"]},
        "validation": {"omitted_files": "warn", "not_found": "warn", "absolute_links": "warn",
                       "unrecognized_links": "warn", "anchors": "warn"},
    }
    problems = _Problems()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(problems)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        file.write_text(yaml.safe_dump(config, sort_keys=False))
        build(load_config(config_file=str(file)))
    except (Abort, ConfigurationError) as exc:
        found = problems.messages or [str(exc)]
        raise UsageError(f"the site did not build: {found[0]}" + (f" (and {len(found) - 1} more problems)"
                                                                  if len(found) > 1 else "")) from None
    finally:
        logger.removeHandler(problems)
        logger.setLevel(level)
        logger.propagate = propagate


class _Problems(logging.Handler):
    """The warnings MkDocs logs (in strict mode each fails the build)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(" ".join(record.getMessage().split()))


def _replace(out: Path, built: Path, old: Path) -> None:
    if out.exists():
        out.rename(old)
    shutil.move(str(built), str(out))
