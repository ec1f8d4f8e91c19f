"""``python -m lpa_utils.data info`` | ``fetch [NAME ...] [--force]`` | ``prune [--dry-run]``."""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from lpa_utils.data import sources as S
from lpa_utils.data.fetch import fetch, info_table, prune

from .errors import DataError, DataUnavailableError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lpa_utils.data", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info", help="table of all datasets (name, source, licence, rows/dims, cached or not)")
    f = sub.add_parser("fetch", help="fetch and prepare datasets (all offline defaults when no name is given)")
    f.add_argument("names", nargs="*", help="dataset names (see `info`)")
    f.add_argument("--force", action="store_true", help="rebuild even if cached")
    pr = sub.add_parser("prune", help="remove prepared folders of older versions (stale keys)")
    pr.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)



    if args.cmd == "info":
        t = info_table()
        t["MB"] = t["MB"].map(lambda x: "" if pd.isna(x) else f"{x:.1f}")
        with pd.option_context("display.max_rows", None, "display.max_colwidth", 60, "display.width", 250):
            print(t.to_string(index=False))
        dl = S.dir_size(S.downloads_dir())
        print(f"\ncache: {S.data_dir()}  total {S.dir_size(S.data_dir()) / 1e6:.0f} MB "
              f"(downloads {dl / 1e6:.0f} MB); `fetch` prepares the rows with status 'not fetched'; "
              "'built on first use' rows are trained when first loaded (or by `fetch NAME`)")
        return 0
    if args.cmd == "prune":
        gone = prune(dry_run=args.dry_run)
        for p in gone:
            print(("would remove " if args.dry_run else "removed ") + str(p))
        print(f"{len(gone)} stale folder(s)")
        return 0
    try:
        fetch(args.names, force=args.force)
    except (DataError, DataUnavailableError, KeyError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
