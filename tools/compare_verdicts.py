"""Compare the verdicts of two builds (e.g. two base seeds): which claims kept their verdict, which changed.

``python -m tools.compare_verdicts DIR_A DIR_B [--profile full] [--markdown OUT]`` reads every chapter's ``claims``
table in two results folders (``book/results`` of two builds), matches the claims by chapter and text, and prints
one row per claim with both verdicts and both effects. A change between "reproduced" and "not reproduced" is a
*flip*; a change to or from "inconclusive" is a *shift*. Exits 1 if any verdict flipped. The report page shows
the table when the build was asked to check its verdicts (``make stability``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from lpa_utils.report.results import load_all
from lpa_utils.report.tables import md_table
from lpa_utils.report.verdicts import NOT_REPRODUCED, REPRODUCED

FLIP = {frozenset((REPRODUCED, NOT_REPRODUCED))}


def claims_of(directory: Path, profile: str) -> pd.DataFrame:
    """Every chapter's claims rows in ``directory``: chapter, claim, verdict, effect, low, high."""
    rows = []
    for chapter, doc in load_all(profile, Path(directory)).items():
        for r in doc.get("tables", {}).get("claims", []):
            rows.append({"chapter": chapter, **{k: r.get(k) for k in ("claim", "verdict", "effect", "low", "high")}})
    return pd.DataFrame(rows, columns=["chapter", "claim", "verdict", "effect", "low", "high"])


def compare(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """One row per claim found in both builds: the verdicts and effects of each, and ``change`` ("", "shift" or
    "flip")."""
    m = a.merge(b, on=["chapter", "claim"], suffixes=(" A", " B"))

    def change(va, vb):
        if va == vb:
            return ""
        return "flip" if frozenset((va, vb)) in FLIP else "shift"

    m["change"] = [change(x, y) for x, y in zip(m["verdict A"], m["verdict B"])]
    return m


def summary(m: pd.DataFrame) -> str:
    """One sentence: how many claims were compared, how many kept their verdict, shifted and flipped."""
    n, flips, shifts = len(m), int((m["change"] == "flip").sum()), int((m["change"] == "shift").sum())
    return (
        f"{n} claims in both builds: {n - flips - shifts} kept their verdict, {shifts} moved to or from "
        f"inconclusive, {flips} flipped between reproduced and not reproduced."
    )


def markdown(m: pd.DataFrame, label_a: str, label_b: str) -> str:
    def eff(row, s):
        e, lo, hi = row[f"effect {s}"], row[f"low {s}"], row[f"high {s}"]
        return "" if e is None or pd.isna(e) else f"{e:+.1f} [{lo:+.1f}, {hi:+.1f}]"

    view = pd.DataFrame(
        {
            "chapter": m["chapter"],
            "claim": m["claim"],
            f"{label_a}": [f"{r['verdict A']} {eff(r, 'A')}" for _, r in m.iterrows()],
            f"{label_b}": [f"{r['verdict B']} {eff(r, 'B')}" for _, r in m.iterrows()],
            "change": m["change"],
        }
    )
    return summary(m) + "\n\n" + md_table(view)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--profile", default="full")
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = ap.parse_args(argv)
    m = compare(claims_of(args.a, args.profile), claims_of(args.b, args.profile))
    text = markdown(m, args.a.name, args.b.name)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 1 if (m["change"] == "flip").any() else 0


if __name__ == "__main__":
    sys.exit(main())
