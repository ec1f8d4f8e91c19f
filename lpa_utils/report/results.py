"""Results records: every headline figure a chapter measures, written to ``book/results/<stem>.json``.

One record per measured quantity: what was measured, on which data, by which method, the mean, the standard
deviation over runs, the number of runs, and the paper's figure beside it where the paper gives one. Book pages
(the reproduction report) and tests read these files; nothing copies numbers by hand.

File layout (JSON)::

    {"chapter": "03_word_alignment", "profile": "full", "started": ISO time, "finished": ISO time,
     "wall_time_s": float, "params": {...}, "lpa_utils_version": "...",
     "records": [{"quantity", "data", "method", "mean", "std", "runs", "values", "unit",
                  "paper", "paper_ref", "extra"}, ...],
     "tables": {"name": [{column: value, ...}, ...], ...}}

The full profile writes ``<stem>.json``; the smoke profile writes ``<stem>.smoke.json`` so that CI never
overwrites what the book shows.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from lpa_utils import __version__
from lpa_utils.config import resolve_profile, results_dir
from lpa_utils.io import write_json


@dataclass
class Record:
    """One measured quantity. ``std`` is the sample standard deviation (ddof=1) over ``runs`` runs (0 if one run)."""

    quantity: str
    data: str
    method: str
    mean: float
    std: float = 0.0
    runs: int = 1
    values: list[float] = field(default_factory=list)
    unit: str | None = None
    paper: float | str | None = None
    paper_ref: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def summarize(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof=1; 0.0 for a single value) and count of ``values``."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("summarize() needs at least one value")
    n = len(vals)
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return mean, std, n


def effect_verdict(mean: float, std: float, agree: int, n: int, min_gain: float = 0.0) -> str:
    """The book's verdict on "method A improves on B" from paired runs (see the reproduction report's rule).

    ``mean``, ``std``: mean and standard deviation over the ``n`` runs of the paired gain A - B (positive =
    the paper's direction; ``std`` NaN for one run counts as 0); ``agree``: runs whose gain is positive;
    ``min_gain``: the size a "yes" must also reach (e.g. 10% of B's error).

    "yes": the gain stands out of its spread, every run agrees and it reaches ``min_gain``; "partly": it is
    positive and either stands out of its spread or every run agrees; "no": otherwise (a mean gain inside the
    spread that some run contradicts cannot be told from no gain).
    """
    s = 0.0 if std is None or not math.isfinite(std) else float(std)
    if mean > s and agree == n and mean >= min_gain:
        return "yes"
    if mean > 0 and (mean > s or agree == n):
        return "partly"
    return "no"


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python, tuples -> lists, Paths -> str."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if np is not None and isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if np is not None and isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


class Results:
    """Collects the records of one chapter run and writes them atomically.

    >>> res = Results("03_word_alignment", profile="smoke", params={"pair": "en-fr"})
    >>> res.add("P@1", data="GloVe->fastText EN-FR", method="LPA+MSE CSLS", values=[0.31, 0.33, 0.32],
    ...         paper=43.33, paper_ref="Table 1a")                     # doctest: +SKIP
    >>> res.save()                                                       # doctest: +SKIP
    """

    def __init__(
        self,
        chapter: str,
        profile: str | None = None,
        params: dict[str, Any] | None = None,
        directory: str | Path | None = None,
    ):
        self.chapter = chapter
        self.directory = directory
        self.profile = resolve_profile(profile)
        self.params = dict(params or {})
        self.records: list[Record] = []
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self._t0 = time.perf_counter()
        self.started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    def add(
        self,
        quantity: str,
        *,
        data: str,
        method: str,
        values: Sequence[float] | None = None,
        mean: float | None = None,
        std: float | None = None,
        runs: int | None = None,
        unit: str | None = None,
        paper: float | str | None = None,
        paper_ref: str | None = None,
        **extra: Any,
    ) -> Record:
        """Add a record from per-run ``values`` (mean/std/runs computed) or from a given ``mean`` (one run)."""
        if values is not None:
            vals = [float(v) for v in values]
            m, s, n = summarize(vals)
        elif mean is not None:
            vals, m, s, n = [float(mean)], float(mean), float(std or 0.0), int(runs or 1)
        else:
            raise ValueError(f"record {quantity!r}/{method!r}: give values=[...] or mean=...")
        rec = Record(quantity, data, method, m, s, n, vals, unit, paper, paper_ref, _clean(extra))
        self.records.append(rec)
        return rec

    def add_table(self, name: str, table: Any) -> None:
        """Store a table (a pandas DataFrame or a list of dicts), e.g. neighbour lists or 10-best lists."""
        if hasattr(table, "to_dict"):
            frame = table.reset_index() if _has_named_index(table) else table
            rows = frame.to_dict(orient="records")
        else:
            rows = list(table)
        self.tables[name] = _clean(rows)

    def to_frame(self):
        """The records as a pandas DataFrame (one row per record)."""
        import pandas as pd

        return pd.DataFrame([asdict(r) for r in self.records])

    def path(self) -> Path:
        """``<directory>/<chapter>[.<profile>].json``; the directory is the one given, else
        :func:`lpa_utils.config.results_dir`."""
        suffix = ".json" if self.profile == "full" else f".{self.profile}.json"
        return Path(self.directory or results_dir()) / f"{self.chapter}{suffix}"

    def save(self, path: str | Path | None = None) -> Path:
        """Write the JSON file atomically (see module docstring); returns its path."""
        out = Path(path) if path is not None else self.path()
        doc = {
            "chapter": self.chapter,
            "profile": self.profile,
            "started": self.started,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - self._t0, 3),
            "lpa_utils_version": __version__,
            "params": _clean(self.params),
            "records": [_clean(asdict(r)) for r in self.records],
            "tables": self.tables,
        }
        return write_json(out, doc)


def _has_named_index(df: Any) -> bool:
    names = getattr(getattr(df, "index", None), "names", [None])
    return any(n is not None for n in names)


def load(chapter: str, profile: str = "full", directory: str | Path | None = None) -> dict[str, Any]:
    """Read ``<chapter>.json`` (or ``<chapter>.<profile>.json``); raises FileNotFoundError naming the file."""
    d = Path(directory) if directory is not None else results_dir()
    p = d / (f"{chapter}.json" if profile == "full" else f"{chapter}.{profile}.json")
    if not p.exists():
        raise FileNotFoundError(f"{p}: no results for chapter {chapter!r} (profile {profile}); run the notebook first")
    return json.loads(p.read_text(encoding="utf-8"))


def records_frame(doc: dict[str, Any]):
    """The ``records`` of a loaded results document as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(doc.get("records", []))


def load_all(profile: str = "full", directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """All results documents of ``profile`` found in ``directory`` (default ``book/results``), by chapter."""
    d = Path(directory) if directory is not None else results_dir()
    suffix = ".json" if profile == "full" else f".{profile}.json"
    docs = {}
    for p in sorted(d.glob(f"*{suffix}")):
        stem = p.name[: -len(suffix)]
        if profile == "full" and "." in stem:
            continue  # a <stem>.smoke.json seen from the full profile
        docs[stem] = json.loads(p.read_text(encoding="utf-8"))
    return docs
