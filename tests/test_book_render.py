"""The rendered book, in a real browser: builds the book in the smoke profile (every chapter executed by
papermill, rendered by Jupyter Book with -W), then walks every page in headless Chromium.

Marked ``browser``; `make test` runs it last (after `make browser-deps` has installed Debian's chromium).
"""

from __future__ import annotations

import datetime as dt
import json

import nbformat
import pytest
import yaml

from lpa_utils import config
from tools import book, browser
from tools import pages as report

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def html():
    """Build the smoke book once for this module (reusing a build from the same commit is not attempted:
    the point is to check what the current code renders)."""
    return book.build("smoke")


@pytest.fixture(scope="module")
def pages(html):
    return {r.page: r for r in browser.walk(html)}


def test_every_page_opens_clean(pages):
    assert "index.html" in pages and "book/intro.html" in pages
    bad = {
        p: (r.console_errors, r.failed_requests, r.broken_images, r.raw_math, r.styled)
        for p, r in pages.items()
        if not r.ok
    }
    assert not bad, f"pages with problems (console errors, failed requests, broken images, raw math, styled): {bad}"


def test_math_is_typeset_and_images_load(pages):
    intro = pages["book/intro.html"]
    assert intro.math_elements > 0 and intro.raw_math == 0
    chapters = [r for p, r in pages.items() if p.startswith("notebooks/")]
    assert len(chapters) == len(book.chapters())
    assert sum(r.images for r in chapters) > 0, "the chapters show no figure at all"


def test_prev_next_follow_the_table_of_contents(pages):
    toc = yaml.safe_load((config.REPO_ROOT / "_toc.yml").read_text())
    order = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for here, there in zip(order, order[1:]):
        nxt = pages[f"{here}.html"].next
        assert nxt is not None, f"{here} has no 'next' link"
        assert nxt.split("/")[-1] == f"{there.split('/')[-1]}.html", f"{here} -> {nxt}, expected {there}"


def test_search_page_finds_chapters(html):
    assert browser.search_works(html, "manifold") > 0


def test_no_cdn_and_results_are_fresh(html):
    book.check_no_cdn(html)
    executed = config.REPO_ROOT / "_build" / "smoke" / "src" / "notebooks"
    for stem in report.CHAPTERS:
        res = book.results_dir() / f"{stem}.smoke.json"
        assert res.exists(), f"{res} missing: the chapter did not write its results"
        nb = nbformat.read(executed / f"{stem}.ipynb", as_version=4)
        started = dt.datetime.fromisoformat(nb.metadata["papermill"]["start_time"])
        finished = dt.datetime.fromisoformat(json.loads(res.read_text())["finished"])
        if started.tzinfo is None:
            started = started.replace(tzinfo=dt.timezone.utc)
        assert finished >= started.replace(microsecond=0), f"{res} is older than this execution of {stem}"
