"""``fetch`` (download + prepare) and the ``info`` table of the registry."""

from __future__ import annotations

import os
import shutil
import time
from typing import Iterable

import pandas as pd
from tqdm.auto import tqdm

from lpa_utils.io import append_json_log, read_json_log

from . import sources as S
from .cachedir import ensure_writable, sweep
from .registry import DATASETS, get


def default_names() -> list[str]:
    """The offline defaults that ``fetch`` prepares when no name is given."""
    return [n for n, d in DATASETS.items() if d.default]


def fetch(names: Iterable[str] | None = None, force: bool = False, quiet: bool = False) -> dict[str, str]:
    """Download and prepare datasets (all offline defaults when ``names`` is empty); idempotent.

    Returns ``{name: "prepared" | "cached"}``. Raises on the first dataset that cannot be had, after
    preparing the ones before it. Temporaries that interrupted runs left in the cache are removed first
    (:func:`lpa_utils.data.cachedir.sweep`); an unwritable cache is a :class:`CacheError` before any work.
    """
    names = list(names) if names else default_names()
    for n in names:
        get(n)  # unknown names fail before any work
    todo = [n for n in names if force or not get(n).is_cached()]
    if todo:
        ensure_writable()
    sweep()
    status = {n: "cached" for n in names if n not in todo}
    if not quiet:
        for n in names:
            if n not in todo:
                print(f"{n}: already prepared ({get(n).path()})")
    if not todo:
        if not quiet:
            print(f"nothing to do: all {len(names)} dataset(s) are prepared in the cache")
        return status
    t0 = time.perf_counter()
    for n in tqdm(todo, desc="fetch", unit="dataset", disable=quiet or len(todo) < 2):
        get(n).prepare(force=force, quiet=quiet)
        status[n] = "prepared"
    seconds = time.perf_counter() - t0
    disk_mb = S.dir_size(S.data_dir()) / 1e6
    _log_fetch(todo, seconds, disk_mb, first=len(todo) == len(names) and not force)
    if not quiet:
        print(f"prepared {len(todo)} dataset(s) in {seconds:.0f} s; cache: {S.data_dir()} ({disk_mb:.0f} MB)")
    return status


def _log_fetch(prepared: list[str], seconds: float, disk_mb: float, first: bool) -> None:
    """Append this fetch to ``<cache>/fetch-log.json`` (read by the book's Performance page)."""

    append_json_log(
        S.data_dir() / "fetch-log.json",
        {
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(seconds, 1),
            "prepared": prepared,
            "first_fetch": first,
            "disk_mb": round(disk_mb, 1),
            "cpus": os.cpu_count(),
        },
    )


def fetch_log() -> list[dict]:
    """The fetches recorded in ``<cache>/fetch-log.json`` (oldest first); empty if none."""

    return read_json_log(S.data_dir() / "fetch-log.json")


def _rows(d, meta: dict) -> str:
    if not meta:
        return d.rows
    if "rows" in meta and "dim" in meta:
        return f"{meta['rows']:,} x {meta['dim']}"
    if "splits" in meta:
        return ", ".join(f"{k} {v['rows']:,}" for k, v in meta["splits"].items())
    if "pairs" in meta and isinstance(meta["pairs"], dict):
        return ", ".join(f"{k.upper()} {v['pairs']:,}" for k, v in meta["pairs"].items()) + " pairs"
    if "dictionaries" in meta:
        return ", ".join(f"{k} {v['pairs']:,}" for k, v in meta["dictionaries"].items())
    if "rows" in meta:
        return f"{meta['rows']:,} rows"
    if "dim" in meta:
        return f"{meta['dim']}d model"
    return d.rows


def info_table() -> pd.DataFrame:
    """One row per dataset: name, kind, source, licence, chapters, rows/dims, status, MB on disk."""
    recs = []
    for n, d in DATASETS.items():
        meta = d.meta()
        if meta:
            status = "cached"
        elif not d.offline:
            status = "needs network"
        elif d.lazy:
            status = "built on first use"
        else:
            status = "not fetched"
        src = [s.describe() for s in d.sources] or [f"from {', '.join(d.depends)}"]
        recs.append(
            {
                "name": n,
                "kind": d.kind,
                "rows / dims": _rows(d, meta),
                "status": status,
                "MB": round(S.dir_size(d.path()) / 1e6, 1) if meta else None,
                "source": src[0] + (f" (+{len(src) - 1} more)" if len(src) > 1 else ""),
                "licence": d.licence,
                "chapters": d.chapters,
            }
        )
    t = pd.DataFrame(recs)
    t["MB"] = t["MB"].astype(object).where(t["MB"].notna(), None)  # so that .fillna("") works on every column
    return t


def prune(dry_run: bool = False) -> list:
    """Remove prepared folders that no registry entry uses any more (older keys), and the temporaries that
    interrupted builds and downloads left behind (see :func:`lpa_utils.data.cachedir.sweep`). Returns them."""
    stale = [p for d in DATASETS.values() for p in d.stale()]
    for p in stale:
        if not dry_run:
            shutil.rmtree(p)
    return stale + sweep(dry_run=dry_run)
