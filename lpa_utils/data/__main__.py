"""``python -m lpa_utils.data info`` | ``fetch [NAME ...] [--force]`` | ``prune [--dry-run]``.

Every failure ends in one line on stderr, ``error: ...``, and a non-zero exit status: 2 for bad data, a missing
network or an unwritable cache (what the message says how to fix), 1 for anything unexpected (set
``LPA_DEBUG=1`` for the traceback), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

from lpa_utils.data import sources as S
from lpa_utils.data.fetch import fetch, info_table, prune

from .errors import DataError, DataUnavailableError


def _info() -> int:
    t = info_table()
    t["MB"] = t["MB"].map(lambda x: "" if pd.isna(x) else f"{x:.1f}")
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 60, "display.width", 250):
        print(t.to_string(index=False))
    dl = S.dir_size(S.downloads_dir())
    print(
        f"\ncache: {S.data_dir()}  total {S.dir_size(S.data_dir()) / 1e6:.0f} MB "
        f"(downloads {dl / 1e6:.0f} MB); `fetch` prepares the rows with status 'not fetched'; "
        "'built on first use' rows are trained when first loaded (or by `fetch NAME`)"
    )
    return 0


def _prune(dry_run: bool) -> int:
    gone = prune(dry_run=dry_run)
    for p in gone:
        print(("would remove " if dry_run else "removed ") + str(p))
    print(f"{len(gone)} stale folder(s) or temporaries")
    return 0


def _one_line(e: BaseException) -> str:
    if isinstance(e, KeyError):
        text = str(e.args[0]) if e.args else "KeyError"
    elif isinstance(e, (DataError, DataUnavailableError)):
        text = str(e)
    elif isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename else ""
        text = f"{where}{e.strerror or e} ({type(e).__name__}); check the disk and the cache folder ({S.data_dir()})"
    elif isinstance(e, MemoryError):
        text = "out of memory (MemoryError); close other programs, or fetch one dataset at a time"
    else:
        text = f"unexpected {type(e).__name__}: {e} (set LPA_DEBUG=1 for the traceback, and please report it)"
    return " ".join(text.split())  # one line, whatever the message held


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m lpa_utils.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info", help="table of all datasets (name, source, licence, rows/dims, cached or not)")
    f = sub.add_parser("fetch", help="fetch and prepare datasets (all offline defaults when no name is given)")
    f.add_argument("names", nargs="*", help="dataset names (see `info`)")
    f.add_argument("--force", action="store_true", help="rebuild even if cached")
    pr = sub.add_parser(
        "prune", help="remove prepared folders of older versions (stale keys) and the temporaries of interrupted runs"
    )
    pr.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "info":
            return _info()
        if args.cmd == "prune":
            return _prune(args.dry_run)
        fetch(args.names, force=args.force)
        return 0
    except KeyboardInterrupt:
        print(
            "error: interrupted (what was being prepared is left unfinished and is removed by the next fetch)",
            file=sys.stderr,
        )
        return 130
    except Exception as e:  # noqa: BLE001 - the command line shows one line, never a traceback
        if os.environ.get("LPA_DEBUG"):
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        expected = isinstance(e, (DataError, DataUnavailableError, KeyError, OSError))
        return 2 if expected else 1


if __name__ == "__main__":
    sys.exit(main())
