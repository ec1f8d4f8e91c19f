"""What every chapter does first and last: one setup call, then numbers, tables and figures glued into the prose.

A chapter notebook opens with its parameters cell and one call::

    ch = setup("03_word_alignment", profile=profile, device=device, threads=threads, params={...})

which resolves the profile (``"full"`` / ``"smoke"``), applies the book's plotting style, limits torch and BLAS to
``threads`` threads, resolves the device and starts the chapter's :class:`~lpa_utils.report.results.Results`
(its wall-time clock). Numbers reach the Markdown through myst-nb's ``glue``: ``ch.glue(name=value, ...)`` in a
code cell and ``{glue:text}`name``` in the prose; figures through ``ch.figure(name, fig)`` and a
``{glue:figure}`` directive with a ``:name:`` that ``{numref}`` refers to. Nothing in the prose is typed by hand.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch
from myst_nb import glue as _glue
from threadpoolctl import threadpool_limits

from lpa_utils.config import resolve_device, resolve_profile
from lpa_utils.report import plotting
from lpa_utils.report.results import Results


@dataclass
class Chapter:
    """A running chapter: ``name``, ``profile`` ("full" | "smoke"), ``device``, ``threads``, ``results``."""

    name: str
    profile: str
    device: torch.device
    threads: int
    results: Results
    started: float = field(default_factory=time.perf_counter)

    @property
    def full(self) -> bool:
        """True in the full profile (what the book shows), False in the smoke profile (CI)."""
        return self.profile == "full"

    def pick(self, full: Any, smoke: Any) -> Any:
        """``full`` in the full profile, ``smoke`` in the smoke profile."""
        return full if self.full else smoke

    def glue(self, **values: Any) -> None:
        """Glue each value under its name for ``{glue:text}`name``` / ``{glue:}`name``` in the prose.

        Floats are glued as they are (format them in the role: ``{glue:text}`gain:.1f```); strings, ints,
        DataFrames and figures as they are. Nothing is displayed in the code cell.
        """
        for name, value in values.items():
            _glue(name, value, display=False)

    def figure(self, name: str, fig: plt.Figure) -> None:
        """Glue ``fig`` under ``name`` for a ``{glue:figure}`` directive and close it (so it shows only there)."""
        _glue(name, fig, display=False)
        plt.close(fig)

    def table(self, name: str, df: pd.DataFrame, *, save: bool = True) -> pd.DataFrame:
        """Store ``df`` in the chapter's results file as table ``name`` (if ``save``) and return it for display."""
        if save:
            self.results.add_table(name, df)
        return df

    def finish(self) -> Results:
        """Save the results file (records, tables, claims, wall time) and return it."""
        self.results.save()
        return self.results


def setup(name: str, *, profile: str | None = None, device: str | None = "cpu", threads: int | None = 1,
          params: dict[str, Any] | None = None, results_dir: str | None = None) -> Chapter:
    """Start chapter ``name`` (e.g. ``"03_word_alignment"``): profile, plotting style, threads, device, results.

    ``threads=None`` leaves torch and BLAS as they are. ``params`` are stored in the results file beside the
    profile, device and threads. The results file goes to ``results_dir`` if given, else to
    :func:`lpa_utils.config.results_dir` (``lpa_results/`` beside the run; ``make book`` sets ``book/results``).
    """
    prof = resolve_profile(profile)
    plotting.set_style()
    if threads is not None:
        torch.set_num_threads(int(threads))
        threadpool_limits(int(threads))
    dev = resolve_device(device)
    pd.set_option("display.max_colwidth", 120)
    res = Results(name, profile=prof, params={"device": str(dev), "threads": threads, **(params or {})},
                  directory=results_dir)
    return Chapter(name=name, profile=prof, device=dev, threads=threads or torch.get_num_threads(), results=res)
