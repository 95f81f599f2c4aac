"""clbench site: the static site of results/ and docs/, built from a small copy of the repository's
records (its pages, links, commands and refusals; the browser tests are in test_site_browser.py)."""

import json
import re
import shlex
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from clbench.arguments import build_parser
from clbench.run import plan_run, replan

REPO = Path(__file__).parent.parent
RESULTS = REPO / "results"
TEXT_CELL = "sweeps/text/text_cell128.toml"


def _records(folder: Path, keep) -> list[Path]:
    paths = []
    for path in sorted(folder.glob("*__*.json")):
        record = json.loads(path.read_text())
        if "config" in record and keep(record):
            paths.append(path)
    return paths


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """A repository with four of the default stream's records (adamw and nanoadam, seeds 0 and 1,
    BatchNorm statistics frozen), the text cell's sweep file and trials, a benchmark record, a
    results/README.md, a manual page and a README.md with a verdict section."""
    root = tmp_path_factory.mktemp("repository")
    runs = _records(RESULTS / "runs", lambda r: r["stream"] == "fashionmnist_mnist" and r["seed"] in (0, 1)
                    and r["strategy"] in ("adamw", "nanoadam") and r["config"].get("freeze_norm_stats")
                    and not r["config"].get("tuned") and r["config"]["epochs"] == 3)
    assert len(runs) == 4
    trials = _records(RESULTS / "tuning", lambda r: r["stream"] == "bbc_imdb_rt"
                      and r["config"].get("max_tokens") == 128 and r["config"].get("resample_data"))
    assert len({json.loads(p.read_text())["strategy"] for p in trials}) >= 2
    for paths, folder in ((runs, "runs"), (trials, "tuning")):
        (root / "results" / folder).mkdir(parents=True)
        for path in paths:
            shutil.copy(path, root / "results" / folder / path.name)
    (root / "results" / TEXT_CELL).parent.mkdir(parents=True)
    shutil.copy(RESULTS / TEXT_CELL, root / "results" / TEXT_CELL)
    (root / "results" / "benchmarks").mkdir()
    shutil.copy(RESULTS / "benchmarks" / "optimizers-cpu.json", root / "results" / "benchmarks")
    (root / "results" / "README.md").write_text("# Results\n\nThe manual: [runs](../docs/runs.md).\n")
    (root / "docs").mkdir()
    (root / "docs" / "runs.md").write_text("# Runs\n\n## Reproducibility\n\nSee [the results](../results/README.md).\n")
    (root / "README.md").write_text("# clbench\n\nA benchmark.\n\n## Set-up\n\nmake run\n\n"
                                    "## What clbench has found so far\n\nA verdict, see "
                                    "[the runs](docs/runs.md#reproducibility).\n\n## Documentation\n\nmore\n")
    return root


@pytest.fixture(scope="module")
def site(repository, tmp_path_factory) -> Path:
    from clbench.cli import main

    out = tmp_path_factory.mktemp("built") / "site"
    assert main(["site", str(out), "--root", str(repository)]) == 0
    return out


class _Links(HTMLParser):
    """A page's links (a href) and what it loads (script and img src, link href)."""

    def __init__(self):
        super().__init__()
        self.links, self.loads = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif attrs.get("src") or (tag == "link" and attrs.get("href")):
            self.loads.append(attrs.get("src") or attrs["href"])


def _parsed(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text())
    return parser


def test_front_page_holds_readme_opening_verdict_and_where_to_go(site):
    front = (site / "index.html").read_text()
    assert "A benchmark." in front and "A verdict, see" in front
    assert "make run" not in front  # the set-up section is the README's, not the front page's
    for page in ("results/index.html", "leaderboard/index.html", "campaigns/index.html", "costs.html"):
        assert f'href="{page}"' in front and (site / page).is_file()


def test_every_local_link_and_load_of_every_page_resolves_and_nothing_loads_from_the_network(site):
    pages = [page for page in site.rglob("*.html") if page.name != "404.html"]  # 404.html: a server's, by root path
    assert len(pages) >= 8
    for page in pages:
        parsed = _parsed(page)
        assert not [url for url in parsed.loads if urlparse(url).scheme or url.startswith("//")], page
        for target in parsed.links + parsed.loads:
            url = urlparse(target)
            if not url.scheme and url.path:
                assert (page.parent / unquote(url.path)).exists(), f"{page}: {target} resolves to nothing"


def test_leaderboard_rows_link_their_records_and_show_the_command_that_recreates_them(site, repository):
    page = site / "leaderboard" / "fashionmnist_mnist__efficientnet_lite0.html"
    text = page.read_text()
    commands = [shlex.split(unescape(c)) for c in re.findall(r"<code>(clbench run [^<]*)</code>", _plain(text))]
    assert len(commands) == 2  # adamw's and nanoadam's
    linked = {Path(unquote(href)).name for href in _parsed(page).links if href.endswith(".json")}
    planned = set()
    for words in commands:
        args = build_parser().parse_args(words[1:])
        for seed in args.seeds:
            planned.add(plan_run(args.stream, args.strategy, args.backbone, seed, args.assignments,
                                 tuned=args.tuned).record.name)
    assert planned == linked == {p.name for p in (repository / "results" / "runs").glob("*.json")}
    assert "sortable" not in text and "tablesort.min.js" in text


def _plain(html: str) -> str:
    """Code blocks' text without the spans syntax highlighting puts around words."""
    return re.sub(r"</?span[^>]*>", "", html)


def unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_campaign_cell_pages_give_contrasts_and_link_every_trial_of_the_sweep(site, repository):
    folder = site / "campaigns" / "text_cell128"
    cells = [page for page in folder.glob("*.html") if page.name != "index.html"]
    assert cells and all(page.name.startswith("bbc_imdb_rt__all_minilm_l6_v2__norm-none") for page in cells)
    assert any("nanoadam - adamw" in page.read_text() and "At equal learning rate" in page.read_text()
               for page in cells)
    planned = {p.name for p in (repository / "results" / "tuning").glob("*.json")  # frozen: heads at head_lr 0.01
               if json.loads(p.read_text())["config"].get("head_lr") == 0.01}
    linked = [{Path(unquote(h)).name for h in _parsed(page).links if h.endswith(".json")} for page in cells]
    assert set().union(*linked) == planned and sum(map(len, linked)) == len(planned)
    overview = (folder / "index.html").read_text()
    assert "clbench sweep results/sweeps/text/text_cell128.toml" in overview  # the sweep file's notes


def test_cost_page_tables_a_benchmark_record(site):
    text = (site / "costs.html").read_text()
    assert "optimizers-cpu" in text and "AdamW (torch, foreach)" in text and "state MB" in text


def test_a_tuned_record_s_command_names_its_tuned_file_from_the_repository_s_folder():
    from clbench.site.records import _commands

    path = next(p for p in _records(RESULTS / "runs", lambda r: r["config"].get("tuned")))
    record = {**json.loads(path.read_text()), "path": str(path.resolve())}
    (command,) = [line for line in _commands([record], RESULTS.resolve()) if line.startswith("clbench run")]
    assert f"--tuned results/tuned/{record['config']['tuned']}" in command and str(REPO.resolve()) not in command


def test_every_committed_run_record_is_recreated_by_the_command_its_row_shows():
    paths = _records(RESULTS / "runs", lambda r: True)
    assert len(paths) > 100
    for path in paths:
        spec = replan(json.loads(path.read_text()), path, RESULTS / "tuned")
        assert spec is not None and spec.record.name == path.name, path.name


def test_a_link_to_nothing_fails_the_build_naming_it_and_leaves_the_old_site(cli, repository, tmp_path):
    out = tmp_path / "site"
    assert cli("site", out, "--root", repository).returncode == 0
    front = (out / "index.html").read_text()
    broken = repository / "docs" / "broken.md"
    broken.write_text("# Broken\n\n[gone](no-such-page.md)\n")
    try:
        result = cli("site", out, "--root", repository)
    finally:
        broken.unlink()
    assert result.returncode == 2
    assert "no-such-page.md" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (out / "index.html").read_text() == front
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # no staging folder left behind


def test_a_folder_it_did_not_build_is_refused_untouched(cli, repository, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    result = cli("site", tmp_path / "mine", "--root", repository)
    assert result.returncode == 2 and "is not a site clbench built" in result.stderr
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
