"""Every relative link and image of the repository's Markdown documents names a file that exists (the
site's strict build finds the same, in the slow tier)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "results").glob("*.md")), *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_of_the_document_names_a_file_that_exists(document):
    targets = {match.split("#", 1)[0] for match in LINK.findall(document.read_text())
               if not re.match(r"[a-z]+:", match) and not match.startswith("#")}
    missing = sorted(target for target in targets if target and not (document.parent / target).exists())
    assert missing == []
