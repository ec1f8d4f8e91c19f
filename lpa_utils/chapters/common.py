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

import ast
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from myst_nb import glue as _glue
from threadpoolctl import threadpool_limits

from lpa_utils.config import resolve_device, resolve_profile
from lpa_utils.data.dictionaries import SOURCES as DICTIONARY_SOURCES
from lpa_utils.data.registry import get as registered
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
            if isinstance(value, np.generic):  # numpy scalars: myst-nb's format spec needs a Python number
                value = value.item()
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


def setup(
    name: str,
    *,
    profile: str | None = None,
    device: str | None = "cpu",
    threads: int | None = 1,
    params: dict[str, Any] | None = None,
    results_dir: str | None = None,
) -> Chapter:
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
    res = Results(
        name, profile=prof, params={"device": str(dev), "threads": threads, **(params or {})}, directory=results_dir
    )
    return Chapter(name=name, profile=prof, device=dev, threads=threads or torch.get_num_threads(), results=res)


# ------------------------------------------------------------------------------------------- parameters
_UNPARSED = object()


def _parse_literal(text: str) -> Any:
    """``text`` as JSON, else as a Python literal; :data:`_UNPARSED` if it is neither."""
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return _UNPARSED


def list_param(
    name: str, value: Any, *, item: type = str, example: str = '["en-it", "en-fr"]', empty: bool = False
) -> list | None:
    """A chapter parameter that holds a list (``None`` stays ``None``).

    papermill's ``-p`` passes every value as a string, so a string is parsed as JSON, then as a Python literal
    (``'["en-xx"]'``, ``"['en-xx']"``, ``"[0, 1]"``); a tuple becomes a list. Anything else, items that are not
    ``item``, or an empty list unless ``empty``, raises ``ValueError`` naming the parameter, what was given and
    what to write (``example``).
    """
    if value is None:
        return None
    how = (
        f"write {name} = {example} in the parameters cell, or with papermill -p {name} '{example}' "
        f"(or -y '{name}: {example}')"
    )
    if isinstance(value, str):
        parsed = _parse_literal(value.strip())
        if not isinstance(parsed, (list, tuple)):
            raise ValueError(f"parameter {name}: expected a list, got the string {value!r}; {how}")
        value = parsed
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"parameter {name}: expected a list, got {type(value).__name__} {value!r}; {how}")
    bad = [v for v in value if not isinstance(v, item) or isinstance(v, bool)]
    if bad or not (value or empty):
        what = f"items of type {item.__name__}" if bad else "at least one item"
        raise ValueError(f"parameter {name}: expected a list of {what}, got {value!r}; {how}")
    return list(value)


def mapping_param(name: str, value: Any, *, example: str = '{"en-xx": "/path/to/file"}') -> dict[str, str]:
    """A chapter parameter that maps a pair name to a dataset name or a file path (``None`` gives ``{}``).

    A string (papermill's ``-p``) is parsed as JSON, then as a Python literal (``'{"en-xx": "/p/src.vec"}'``).
    Keys must be strings and values strings or paths (``None`` values are dropped: "no override"); anything else
    raises ``ValueError`` naming the parameter, what was given and what to write (``example``).
    """
    if value is None:
        return {}
    how = (
        f"write {name} = {example} in the parameters cell, or with papermill -p {name} '{example}' "
        f"(or -y '{name}: {example}')"
    )
    if isinstance(value, str):
        parsed = _parse_literal(value.strip())
        if not isinstance(parsed, dict):
            raise ValueError(
                f"parameter {name}: expected a mapping from pair to file or dataset name, got the "
                f"string {value!r}; {how}"
            )
        value = parsed
    if not isinstance(value, Mapping):
        raise ValueError(
            f"parameter {name}: expected a mapping from pair to file or dataset name, got "
            f"{type(value).__name__} {value!r}; {how}"
        )
    bad = {
        k: v for k, v in value.items() if not isinstance(k, str) or not (v is None or isinstance(v, (str, os.PathLike)))
    }
    if bad:
        raise ValueError(
            f"parameter {name}: keys must be pair names and values file paths or dataset names, got {bad!r}; {how}"
        )
    return {k: str(v) for k, v in value.items() if v is not None}


def _where(param: str, pair: str | None) -> str:
    return f"parameter {param}" + (f"[{pair!r}]" if pair is not None else "")


def existing_file(param: str, pair: str | None, value: str, accepted: str = "a name the data registry knows") -> Path:
    """``value`` as a path that exists; ``FileNotFoundError`` naming the parameter, the pair (if any), the path (a
    relative path is read from the working directory, which the message gives) and what else is ``accepted``."""
    path = Path(value).expanduser()
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative to the working directory {Path.cwd()})"
        raise FileNotFoundError(
            f"{_where(param, pair)}: no such file {str(path)!r}{where}; give the path of an "
            f"existing file, or {accepted}"
        )
    return path


#: The parameters by which a chapter takes a pair's data, and the ``load_pair`` argument each fills.
DATA_PARAMS = {
    "src_vectors": "src",
    "tgt_vectors": "tgt",
    "dictionaries": "dictionary",
    "test_dictionaries": "test_dictionary",
}
#: What each of :data:`DATA_PARAMS` holds, as the error messages' examples write it.
DATA_EXAMPLES = {
    "src_vectors": "src.vec",
    "tgt_vectors": "tgt.vec",
    "dictionaries": "train.txt",
    "test_dictionaries": "test.txt",
}
#: The data parameters a new pair needs (a test dictionary is optional).
REQUIRED_DATA = ("src_vectors", "tgt_vectors", "dictionaries")


def own_pair_hint(pair: str, params: Sequence[str] = tuple(DATA_PARAMS)) -> str:
    """How to give ``pair``'s own data with ``params`` (the chapter's data parameters), for an error message."""
    need = ", ".join(f'{n}={{"{pair}": "{DATA_EXAMPLES[n]}"}}' for n in params if n in REQUIRED_DATA)
    opt = [f'{n}={{"{pair}": "{DATA_EXAMPLES[n]}"}}' for n in params if n not in REQUIRED_DATA]
    return (
        f"to run your own pair, give its files: {need}"
        + (f" and optionally {', '.join(opt)}" if opt else "")
        + " (word2vec text/binary or fastText .vec vectors, 'source target' dictionaries; see the page "
        "'Run it on your own data')"
    )


def check_source(param: str, pair: str | None, value: str, kind: str | None = None) -> None:
    """A value of data parameter ``param`` for ``pair``: a name the data layer knows (``kind`` "vectors": a registry
    dataset of word vectors; "dictionary": a dictionary source such as ``"merged"``; by default the kind of
    ``param``, see :data:`DATA_PARAMS`), else a file that exists (``FileNotFoundError`` otherwise, see
    :func:`existing_file`)."""
    kind = kind or ("vectors" if param in ("src_vectors", "tgt_vectors") else "dictionary")
    if kind == "vectors":
        try:
            ds = registered(value)
        except KeyError:
            existing_file(
                param,
                pair,
                value,
                "a vectors dataset name such as glove-en-50d (word2vec text or binary "
                "files and fastText .vec files are read, .gz allowed)",
            )
            return
        if ds.kind != "embeddings":
            raise ValueError(
                f"{_where(param, pair)}: {value!r} is a {ds.kind} dataset, not word vectors; "
                "give a word2vec text/binary or .vec file, or a vectors dataset such as glove-en-50d"
            )
    elif value not in DICTIONARY_SOURCES:
        existing_file(
            param,
            pair,
            value,
            f"a dictionary source ({', '.join(DICTIONARY_SOURCES)}); a dictionary "
            "file holds one 'source target' pair per line (MUSE / Dinu / VecMap)",
        )


def check_data_params(pairs: Sequence[str], known: Iterable[str], **params: Any) -> dict[str, dict[str, str]]:
    """Check a chapter's data parameters (keyword arguments named as in :data:`DATA_PARAMS`, e.g.
    ``src_vectors=...``: each ``None``, a mapping from pair to dataset name or file, or the string papermill's
    ``-p`` gives) against ``pairs``; returns, per pair of ``pairs``, the ``load_pair`` arguments they give
    (``{"en-xx": {"src": ..., "tgt": ..., "dictionary": ..., "test_dictionary": ...}}``).

    Raises ``ValueError`` for a string that is not a mapping (:func:`mapping_param`), a key that is not in
    ``pairs``, or a pair that is neither one of ``known`` (the chapter's own pairs) nor given with source and
    target vectors and a dictionary; ``FileNotFoundError`` for a file that does not exist (:func:`check_source`).
    Each message names the parameter and the pair.
    """
    unknown = set(params) - set(DATA_PARAMS)
    if unknown:
        raise TypeError(f"check_data_params: unknown parameters {sorted(unknown)}; known: {list(DATA_PARAMS)}")
    known = list(known)
    maps = {
        name: mapping_param(name, value, example=f'{{"en-xx": "/path/to/{DATA_EXAMPLES[name]}"}}')
        for name, value in params.items()
    }
    for name, m in maps.items():
        extra = [p for p in m if p not in pairs]
        if extra:
            raise ValueError(
                f"parameter {name}: pair {extra[0]!r} is not in pairs {list(pairs)}; add it to pairs "
                f"(e.g. pairs = {json.dumps([*pairs, extra[0]])}) or remove it from {name}"
            )
    for p in pairs:
        missing = [n for n in REQUIRED_DATA if p not in maps.get(n, {})]
        if p not in known and missing:
            raise ValueError(
                f"parameter pairs: {p!r} is not one of the book's pairs ({', '.join(known)}) and "
                f"{', '.join(missing)} {'does' if len(missing) == 1 else 'do'} not give its data; "
                + own_pair_hint(p, list(params))
            )
        for name, m in maps.items():
            if p in m:
                check_source(name, p, m[p])
    return {p: {DATA_PARAMS[name]: m[p] for name, m in maps.items() if p in m} for p in pairs}
