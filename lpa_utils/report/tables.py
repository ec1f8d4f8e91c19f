"""Tables for the book's pages: pandas frames to Markdown."""

from __future__ import annotations

from typing import Any

import pandas as pd


def md_table(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A Markdown (pipe) table of ``df`` (index dropped), numbers formatted with ``floatfmt``."""
    if df.empty:
        return "*(no rows)*\n"

    def fmt(v: Any) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return ""
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v).replace("|", "\\|").replace("\n", " ")

    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
