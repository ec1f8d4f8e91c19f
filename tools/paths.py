"""Where the book build keeps its results: ``$LPA_RESULTS_DIR`` if set (tests), else ``book/results``."""

from __future__ import annotations

import os
from pathlib import Path

from lpa_utils.config import BOOK_RESULTS


def results_dir() -> Path:
    """The book build's results folder (chapters, benchmark and scaling write there; the pages read it)."""
    return Path(os.environ.get("LPA_RESULTS_DIR") or BOOK_RESULTS)
