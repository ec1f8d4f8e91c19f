"""The cache folder's housekeeping: can it be written, one writer at a time, and what interrupted runs leave.

- :func:`ensure_writable` creates a cache folder and proves it writable, or raises :class:`CacheError` saying why
  (a file in the way, no permission, a read-only or full file system) and which ``LPA_DATA`` would do.
- :func:`lock` is an exclusive lock file under ``<data_dir>/.locks`` (POSIX ``flock``): one builder per prepared
  folder (``<name>-<key>``) and one downloader per raw file (``download-<file name>``), across processes.
- Temporaries: :func:`lpa_utils.io.atomic_path` writes ``.<target>.<8 random>.part`` next to its target,
  ``pip`` / ``apt-get`` download into ``downloads/.pip-<file>-<8 random>`` (``.apt-...``), builders unpack into
  ``.vec-``, ``.dict-``, ``.freedict-``, ``.floret-``, ``.bible-`` folders. A run that is killed leaves them behind.
  :func:`remove_leftovers` removes those of one target (its caller holds the target's lock);
  :func:`sweep` (``fetch`` and ``prune``) removes every temporary whose owner's lock is free, and those whose owner
  is unknown once nothing in them has changed for :data:`STALE_AFTER_S` seconds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from ..config import data_dir
from .errors import CacheError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks; temporaries are removed by age only
    fcntl = None

#: a temporary of unknown owner is removed once nothing in it has changed for this long
STALE_AFTER_S = 3600.0

_ATOMIC = re.compile(r"\.(?P<stem>.+)\.[a-z0-9_]{8}\.part")  # lpa_utils.io.atomic_path
_TOOL = re.compile(r"\.(?:pip|apt)-(?P<stem>.+)-[a-z0-9_]{8}")  # sources: pip / apt-get download
_OTHER = re.compile(r"\.(?:pip|apt|vec|dict|freedict|floret|bible|write-test)-.+")


# ----------------------------------------------------------------------------------------------- writable
def ensure_writable(folder: str | os.PathLike | None = None) -> Path:
    """Create ``folder`` (default: the cache, ``lpa_utils.config.data_dir()``) and check that a file can be written
    in it. Returns the folder; raises :class:`CacheError` naming it, the reason and a writable ``LPA_DATA``."""
    root = data_dir()
    folder = Path(folder) if folder is not None else root
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise CacheError(
            f"the data cache is not writable: {_reason(folder, e)}", folder, hint=_suggestion(root, folder)
        ) from None
    return folder


def _reason(folder: Path, e: OSError) -> str:
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                return f"{p} is a file, not a folder"
            break
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if e.errno == errno.EROFS:
        return "read-only file system"
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "no space left on the device"
    return f"{e.strerror or e}"


def _creatable(p: Path) -> bool:
    for q in (p, *p.parents):
        if q.exists():
            return q.is_dir() and os.access(q, os.W_OK | os.X_OK)
    return False


def _suggestion(root: Path, folder: Path) -> str:
    env = os.environ.get("LPA_DATA")
    where = f"LPA_DATA is {env}" if env else f"the default cache is {root} (LPA_DATA is not set)"
    for cand in (Path.home() / ".cache" / "lpa-data", Path(tempfile.gettempdir()) / "lpa-data"):
        if cand != folder and folder not in cand.parents and _creatable(cand):
            return f"{where}; point LPA_DATA at a writable folder, e.g. `export LPA_DATA={cand}`"
    return f"{where}; point LPA_DATA at a writable folder: `export LPA_DATA=/path/to/a/writable/folder`"


# ----------------------------------------------------------------------------------------------- locks
def _lock_path(name: str) -> Path:
    return data_dir() / ".locks" / f"{name}.lock"


@contextlib.contextmanager
def lock(name: str) -> Iterator[None]:
    """An exclusive lock file ``<data_dir>/.locks/<name>.lock`` (POSIX ``flock``; a no-op where unavailable)."""
    p = _lock_path(name)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a") as fh:
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _try_lock(p: Path) -> Iterator[bool]:
    """Take the lock file ``p`` if nobody holds it: yields True (held for the block) or False."""
    try:
        fh = open(p, "a")
    except OSError:
        yield False
        return
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------------------- temporaries
def _remove(p: Path) -> bool:
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def remove_leftovers(folder: str | os.PathLike, target: str) -> list[Path]:
    """Remove the temporaries of ``folder / target`` that earlier runs left (``.<target>.*.part``,
    ``.pip-<target>-*``, ``.apt-<target>-*``). Call it holding ``target``'s lock. Returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    gone = []
    for p in folder.iterdir():
        m = _ATOMIC.fullmatch(p.name) or _TOOL.fullmatch(p.name)
        if m and m["stem"] == target and _remove(p):
            gone.append(p)
    return gone


def _candidates(root: Path) -> list[Path]:
    """Temporaries in the cache, its folders and their sub-folders (prepared folders, sentence-cache folders)."""
    out, level = [], [root]
    for _ in range(3):
        nxt = []
        for folder in level:
            try:
                entries = list(folder.iterdir())
            except OSError:
                continue
            for p in entries:
                if p.name.startswith("."):
                    if _ATOMIC.fullmatch(p.name) or _TOOL.fullmatch(p.name) or _OTHER.fullmatch(p.name):
                        out.append(p)
                elif p.is_dir() and not p.is_symlink():
                    nxt.append(p)
        level = nxt
    return out


def _owner(root: Path, p: Path) -> str | None:
    """The lock that guards the temporary ``p``: its prepared folder's, or its download's; None if unknown."""
    in_downloads = p.parent == root / "downloads"
    m = _TOOL.fullmatch(p.name)
    if m and in_downloads:
        return f"download-{m['stem']}"
    m = _ATOMIC.fullmatch(p.name)
    if m:
        return f"download-{m['stem']}" if in_downloads else m["stem"]
    return None


def _age(p: Path, now: float) -> float:
    """Seconds since anything under ``p`` last changed (0 if that cannot be told)."""
    try:
        newest = p.lstat().st_mtime
        if p.is_dir() and not p.is_symlink():
            for dirpath, dirnames, filenames in os.walk(p):
                for name in dirnames + filenames:
                    with contextlib.suppress(OSError):
                        newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
    except OSError:
        return 0.0
    return now - newest


def sweep(dry_run: bool = False, max_age: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temporaries that interrupted runs left in the cache; returns them (``dry_run``: only list them).

    A temporary whose owner is known (a prepared folder's or a download's lock file exists) goes when that lock
    is free, i.e. no process is writing it; one of unknown owner goes once nothing in it changed for ``max_age``
    seconds. Errors (a read-only cache) leave a temporary in place, unreported."""
    root = data_dir()
    if not root.is_dir():
        return []
    now, gone = time.time(), []
    for p in _candidates(root):
        owner = _owner(root, p)
        lock_file = _lock_path(owner) if owner is not None else None
        if lock_file is not None and lock_file.exists() and fcntl is not None:
            with _try_lock(lock_file) as free:
                if free and (dry_run or _remove(p)):
                    gone.append(p)
            continue
        if _age(p, now) > max_age and (dry_run or _remove(p)):
            gone.append(p)
    return gone
