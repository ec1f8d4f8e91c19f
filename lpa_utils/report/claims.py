"""The reproduction report: every claim, table and figure of both papers, with our figure and a verdict.

The verdicts are not written here. Each chapter measures its claims and stores them in its results file as a
table named ``claims`` (columns ``claim``, ``paper``, ``ours``, ``holds`` / ``verdict`` and optionally
``artefact`` (e.g. "Fig. 3b", matched against :data:`ARTEFACTS`), ``model`` and ``note``), computed in the run from its own numbers. This module only lays them out: first an overview of the
papers' artefacts (which chapter reproduces each one, on which data, with the chapter's verdicts), then each
chapter's claims table in full.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from lpa_utils.report.tables import md_table

#: (paper, artefact, what the paper reports, chapter that measures it)
ARTEFACTS: list[tuple[str, str, str, str]] = [
    ("LPL", "Fig. 1", "with few pairs, MSE scatters a point's neighbours; MSE + LPL keeps the neighbourhood",
     "01_manifolds"),
    ("LPL", "eqs. 1, 2, 6", "LLE reconstruction weights (rows sum to one), learned in phase 1", "02_lle_weights"),
    ("LPL", "Table 1a", "LPA + MSE (CSLS) P@1 43.33 / 46.07 / 33.50 / 35.13 on EN-IT / DE / FI / ES, above MSE "
     "by SGD (39.67 / 45.47 / 29.42 / 35.3) and close to Artetxe 2018", "03_word_alignment"),
    ("LPL", "Table 1b", "the transformation steps S0-S5 of Artetxe 2018 that the baselines compose",
     "03_word_alignment"),
    ("LPL", "Table 2", "neighbours of 'windows' in the aligned space mix English and Italian words",
     "03_word_alignment"),
    ("LPL", "'fewer pairs'", "LPL reduces the size of the supervised set needed for equal performance",
     "03_word_alignment"),
    ("LPL", "Fig. 3a", "alignment (MSE, MSE + LPL) raises SNLI accuracy over the baseline, by up to 8.9 points "
     "(19.3% relative) with 1,000 samples; gains shrink as data grows", "04_nli_regularisation"),
    ("LPL", "Fig. 3b", "MSE + LPL gives the lowest standard deviation over 3 runs", "04_nli_regularisation"),
    ("LPL", "Table 3", "with alignment, a pair's nearest training pairs share its label (entailment)",
     "04_nli_regularisation"),
    ("LPL", "Figs. 4, 5", "the same gains on MultiNLI matched and mismatched", "04_nli_regularisation"),
    ("AAE", "section 2", "a plain GAN collapses to (near-)constant outputs", "05_adversarial_autoencoder"),
    ("AAE", "section 3, EN-IT", "the AAE's 10-best Italian words of 'computer', 'rain', 'comics', 'anime', "
     "'France' hold translations or related words (places fail)", "05_adversarial_autoencoder"),
    ("AAE", "section 3, EN-DE", "d = 40, T = 4: similar partial semantic similarity", "05_adversarial_autoencoder"),
]


def _claims_table(doc: dict[str, Any]) -> pd.DataFrame:
    rows = doc.get("tables", {}).get("claims", [])
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    if "verdict" not in df and "holds" in df:
        df = df.rename(columns={"holds": "verdict"})
    if "artefact" not in df and "claim" in df:
        df.insert(0, "artefact", df["claim"].map(_infer_artefact))
    keep = [c for c in ["artefact", "claim", "model", "paper", "ours", "verdict", "note"] if c in df]
    return df[keep]


def _infer_artefact(claim: str) -> str:
    """The artefact a chapter's claim refers to, for chapters whose claims table has no ``artefact`` column."""
    c = str(claim).lower()
    for key, artefact in (("fig. 3b", "Fig. 3b"), ("spread", "Fig. 3b"), ("std", "Fig. 3b"), ("purity", "Table 3"),
                          ("table 3", "Table 3"), ("neighbour", "Table 3"), ("mnli", "Figs. 4, 5"),
                          ("multinli", "Figs. 4, 5"), ("gain", "Fig. 3a"), ("beats", "Fig. 3a"), ("accuracy", "Fig. 3a")):
        if key in c:
            return artefact
    return ""


def _data_used(doc: dict[str, Any]) -> str:
    data = sorted({r.get("data", "").split(";")[0] for r in doc.get("records", []) if r.get("data")})
    return "; ".join(d[:70] for d in data[:3]) + (f"; ... ({len(data)} in all)" if len(data) > 3 else "")


def _verdict_summary(df: pd.DataFrame) -> str:
    if df.empty or "verdict" not in df:
        return "see the chapter"
    counts = df["verdict"].astype(str).str.lower().value_counts()
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def claims_markdown(docs: dict[str, dict[str, Any]]) -> str:
    """Markdown of the report from the loaded results documents (``lpa_utils.report.load_all``)."""

    overview = []
    for paper, artefact, says, chapter in ARTEFACTS:
        doc = docs.get(chapter)
        if doc is None:
            status, data = "not run in this build", ""
        else:
            table = _claims_table(doc)
            if "artefact" in table:
                table = table[table["artefact"].astype(str) == artefact]
            status, data = _verdict_summary(table), _data_used(doc)
            if artefact == "Figs. 4, 5" and not doc.get("params", {}).get("mnli"):
                status = ("not runnable here: MultiNLI ships in no registry package; rerun chapter 04 with "
                          "`-p mnli_path <folder>` where it can be downloaded")
        overview.append({"artefact": f"{paper} {artefact}", "the paper reports": says,
                         "verdicts here": status, "chapter": chapter.split("_")[0], "our data": data})
    out = ["## Overview", "",
           "Each row names the chapter that measures the artefact; the verdict counts summarise that chapter's "
           "claims table below (computed in this build).", "", md_table(pd.DataFrame(overview))]
    for chapter in dict.fromkeys(a[3] for a in ARTEFACTS):
        out += ["", f"## {chapter}", ""]
        doc = docs.get(chapter)
        if doc is None:
            out.append("*This chapter has no results file in this build.*")
            continue
        table = _claims_table(doc)
        out.append(f"Profile `{doc.get('profile')}`, finished {doc.get('finished')} (UTC), "
                   f"wall time {doc.get('wall_time_s', 0):.0f} s.")
        out.append("")
        out.append(md_table(table) if not table.empty else "*The chapter wrote no claims table.*")
    return "\n".join(out) + "\n"
