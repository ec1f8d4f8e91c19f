"""The reproduction report: every claim, table and figure of both papers, with our figure and a verdict.

The verdicts are not written here. Each chapter measures its claims and stores them in its results file as a
table named ``claims`` (columns ``artefact``: a key of :data:`lpa_utils.report.papers.ARTEFACTS` such as
``"lpl.fig3b"``; ``claim``, ``paper``, ``ours``, ``verdict``; optionally ``model`` and ``note``), computed in the
run from its own numbers. This module only lays them out: first an overview of the papers' artefacts (which
chapter reproduces each one, on which data, with the chapter's verdicts), then each chapter's claims table.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lpa_utils.report.papers import ARTEFACTS, Artefact
from lpa_utils.report.tables import md_table


def artefact_key(value: str, chapter: str) -> str:
    """The :data:`ARTEFACTS` key a claims row names: the key itself, or (older results files) the label the paper
    prints ("Fig. 3b") among the artefacts of ``chapter``. ``ValueError`` naming the chapter otherwise."""
    if value in ARTEFACTS:
        return value
    for a in ARTEFACTS.values():
        if a.chapter == chapter and a.label == value:
            return a.key
    raise ValueError(
        f"{chapter}: claims row names artefact {value!r}, which is no key of "
        f"lpa_utils.report.papers.ARTEFACTS ({sorted(ARTEFACTS)})"
    )


def _claims_table(doc: dict[str, Any], chapter: str) -> pd.DataFrame:
    rows = doc.get("tables", {}).get("claims", [])
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    if "artefact" not in df:
        raise ValueError(f"{chapter}: the claims table has no 'artefact' column (a key of papers.ARTEFACTS)")
    df = df.assign(artefact=[artefact_key(str(v), chapter) for v in df["artefact"]])
    keep = [c for c in ["artefact", "claim", "model", "paper", "ours", "verdict", "rule", "note"] if c in df]
    return df[keep]


def _data_used(doc: dict[str, Any]) -> str:
    data = sorted({r.get("data", "").split(";")[0] for r in doc.get("records", []) if r.get("data")})
    return "; ".join(d[:70] for d in data[:3]) + (f"; ... ({len(data)} in all)" if len(data) > 3 else "")


def _verdict_summary(df: pd.DataFrame) -> str:
    if df.empty or "verdict" not in df:
        return "see the chapter"
    counts = df["verdict"].astype(str).str.lower().value_counts()
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def _label(art: Artefact) -> str:
    return f"{'LPL' if art.key.startswith('lpl.') else 'AAE'} {art.label}"


def claims_markdown(docs: dict[str, dict[str, Any]]) -> str:
    """Markdown of the report from the loaded results documents (``lpa_utils.report.load_all``)."""

    overview = []
    for art in ARTEFACTS.values():
        chapter = art.chapter
        doc = docs.get(chapter)
        if doc is None:
            status, data = "not run in this build", ""
        else:
            table = _claims_table(doc, chapter)
            if "artefact" in table:
                table = table[table["artefact"] == art.key]
            status, data = _verdict_summary(table), _data_used(doc)
            if art.key == "lpl.fig4_5" and not doc.get("params", {}).get("mnli"):
                status = (
                    "not runnable here: MultiNLI ships in no registry package; rerun chapter 04 with "
                    "`-p mnli_path <folder>` where it can be downloaded"
                )
        overview.append(
            {
                "artefact": _label(art),
                "the paper reports": art.reports,
                "verdicts here": status,
                "chapter": chapter.split("_")[0],
                "our data": data,
            }
        )
    out = [
        "## Overview",
        "",
        "Each row names the chapter that measures the artefact; the verdict counts summarise that chapter's "
        "claims table below (computed in this build).",
        "",
        md_table(pd.DataFrame(overview)),
    ]
    for chapter in dict.fromkeys(a.chapter for a in ARTEFACTS.values()):
        out += ["", f"## {chapter}", ""]
        doc = docs.get(chapter)
        if doc is None:
            out.append("*This chapter has no results file in this build.*")
            continue
        table = _claims_table(doc, chapter)
        if not table.empty:
            table = table.assign(artefact=[_label(ARTEFACTS[k]) for k in table["artefact"]])
        out.append(
            f"Profile `{doc.get('profile')}`, finished {doc.get('finished')} (UTC), "
            f"wall time {doc.get('wall_time_s', 0):.0f} s."
        )
        out.append("")
        out.append(md_table(table) if not table.empty else "*The chapter wrote no claims table.*")
        controls = pd.DataFrame(doc.get("tables", {}).get("controls", []))
        if not controls.empty:
            keep = [c for c in ["claim", "paper", "ours", "verdict"] if c in controls]
            out += [
                "",
                "Controls of this chapter (planted cases where the method must, or must not, make a difference; "
                "'paper' is the effect the design expects, not a figure of the paper):",
                "",
                md_table(controls[keep].rename(columns={"paper": "expected"})),
            ]
    return "\n".join(out) + "\n"
