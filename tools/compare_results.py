"""Compare the measured values of two results files of one chapter (records and tables), ignoring timings.

``python -m tools.compare_results OLD.json NEW.json`` prints every difference and exits 1 if there is one. Used to
show that a refactoring left a chapter's numbers unchanged (e.g. the smoke profile before and after).

Ignored: the run's parameters, start/finish stamps and wall times, any record or table field whose name says it
is a time (``seconds``, ``time``, ``_s``), and the spelling of a claim's artefact (a key of
:data:`lpa_utils.report.papers.ARTEFACTS` and the label the paper prints are the same artefact).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from lpa_utils.report.claims import artefact_key

TIME_FIELD = re.compile(r"(^|_)(seconds|time|wall|elapsed|s|sec|started|finished)($|_)|_s$|seconds")


def _is_time(key: str) -> bool:
    return bool(TIME_FIELD.search(str(key).lower()))


def _same(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            fa, fb = float(a), float(b)
        except (TypeError, ValueError):
            return a == b
        if math.isnan(fa) and math.isnan(fb):
            return True
        return math.isclose(fa, fb, rel_tol=rel, abs_tol=rel)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return _diff_dicts(a, b, rel, "") == []
    return a == b


def _diff_dicts(a: dict, b: dict, rel: float, where: str) -> list[str]:
    out = []
    for k in sorted(set(a) | set(b), key=str):
        if _is_time(k):
            continue
        if k not in a or k not in b:
            out.append(f"{where}{k}: only in {'new' if k not in a else 'old'}")
        elif not _same(a[k], b[k], rel):
            out.append(f"{where}{k}: {a[k]!r} != {b[k]!r}")
    return out


def _normalise(doc: dict) -> dict:
    chapter = doc.get("chapter", "")
    claims = doc.get("tables", {}).get("claims")
    if claims:
        for row in claims:
            if "artefact" in row:
                row["artefact"] = artefact_key(str(row["artefact"]), chapter)
    return doc


def compare(old: dict, new: dict, rel: float = 0.0) -> list[str]:
    """Differences between two results documents (records by position, tables by name and row)."""
    old, new = _normalise(old), _normalise(new)
    diffs = []
    ro, rn = old.get("records", []), new.get("records", [])
    if len(ro) != len(rn):
        diffs.append(f"records: {len(ro)} old, {len(rn)} new")
    for i, (a, b) in enumerate(zip(ro, rn)):
        diffs += _diff_dicts(a, b, rel, f"record {i} ({a.get('quantity')}, {a.get('method')}): ")
    to, tn = old.get("tables", {}), new.get("tables", {})
    for name in sorted(set(to) | set(tn)):
        if name not in to or name not in tn:
            diffs.append(f"table {name}: only in {'new' if name not in to else 'old'}")
            continue
        if len(to[name]) != len(tn[name]):
            diffs.append(f"table {name}: {len(to[name])} rows old, {len(tn[name])} new")
        for j, (a, b) in enumerate(zip(to[name], tn[name])):
            diffs += _diff_dicts(a, b, rel, f"table {name} row {j}: ")
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tools.compare_results",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--rel", type=float, default=0.0, help="relative tolerance for floats (default: exact)")
    args = ap.parse_args(argv)
    diffs = compare(json.loads(args.old.read_text()), json.loads(args.new.read_text()), args.rel)
    for d in diffs:
        print(d)
    print(f"{len(diffs)} differences between {args.old} and {args.new}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
