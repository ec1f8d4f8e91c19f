"""Atomic file writes: every cache file is written under a temporary name and renamed into place,
so an interrupted run never leaves a half-written file that a later run would trust."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``, on error removed.

    Use for writers that want a file name (``np.save``, ``model.save``, ``tarfile.extractall`` into a
    directory): ``with atomic_path(p) as tmp: np.save(tmp, a)``. Works for directories too.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # let the writer create it (file or directory)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"the writer did not create {tmp} (for {path})")
        if path.is_dir() and tmp.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[Any]:
    """``open`` that writes to a temporary file and renames it to ``path`` only if the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON, atomically. Returns the path."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False, allow_nan=False, default=_jsonable)
        fh.write("\n")
    return Path(path)


def append_json_log(path: str | os.PathLike, entry: dict) -> list[dict]:
    """Append ``entry`` to the JSON list in ``path`` (created if missing; an unreadable file starts a new list),
    rewriting the file atomically. Returns the whole log."""
    log = read_json_log(path)
    log.append(entry)
    write_json(path, log)
    return log


def read_json_log(path: str | os.PathLike) -> list[dict]:
    """The entries of a log written by :func:`append_json_log` (oldest first); empty if there is none."""
    path = Path(path)
    try:
        log = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    except (OSError, json.JSONDecodeError):
        return []
    return log if isinstance(log, list) else []


def _jsonable(obj: Any) -> Any:

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
