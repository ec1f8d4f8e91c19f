"""One plotting style for the whole book, and the few figure types the chapters share.

Call :func:`set_style` once at the top of a notebook. Colours are fixed per method so that "MSE" is the same
colour in every chapter. All helpers return the matplotlib ``Axes`` (or ``Figure``) and never call ``show``.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

#: fixed colours per method family (seaborn "colorblind" palette)
_PALETTE = sns.color_palette("colorblind", 10)
METHOD_COLORS = {
    "baseline": _PALETTE[7],
    "MSE": _PALETTE[0],
    "MSE+LPL": _PALETTE[1],
    "LPA+MSE": _PALETTE[1],
    "Procrustes": _PALETTE[2],
    "paper": _PALETTE[3],
    "ours": _PALETTE[0],
}


def set_style() -> None:
    """The book's single style: seaborn whitegrid, notebook context, colourblind palette, 110 dpi figures."""
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "figure.figsize": (6.4, 4.0),
            "axes.titleweight": "bold",
            "legend.frameon": False,
        }
    )


def color_for(method: str):
    """Colour of ``method`` (falls back to a stable palette entry chosen from the name)."""
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    return _PALETTE[sum(map(ord, method)) % len(_PALETTE)]


def curves_with_band(
    df: pd.DataFrame,
    x: str,
    y: str,
    hue: str,
    *,
    ax=None,
    logx: bool = False,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    order: Sequence[str] | None = None,
):
    """Mean of ``y`` against ``x`` per ``hue`` with a +-1 standard-deviation band over runs.

    ``df`` is long-form: one row per (x, hue, run). Returns the Axes.
    """
    ax = ax or plt.gca()
    hues = list(order) if order is not None else list(dict.fromkeys(df[hue]))
    for h in hues:
        g = df[df[hue] == h].groupby(x)[y].agg(["mean", "std", "count"]).reset_index().sort_values(x)
        std = g["std"].fillna(0.0).to_numpy()
        c = color_for(str(h))
        ax.plot(g[x], g["mean"], marker="o", ms=4, color=c, label=str(h))
        ax.fill_between(g[x], g["mean"] - std, g["mean"] + std, color=c, alpha=0.2, linewidth=0)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    ax.legend(title=hue)
    return ax


def std_curves(
    df: pd.DataFrame,
    x: str,
    y: str,
    hue: str,
    *,
    ax=None,
    logx: bool = False,
    title=None,
    xlabel=None,
    ylabel=None,
    order: Sequence[str] | None = None,
):
    """Standard deviation of ``y`` over runs against ``x`` per ``hue`` (as the LPL paper's Fig. 3b)."""
    ax = ax or plt.gca()
    hues = list(order) if order is not None else list(dict.fromkeys(df[hue]))
    for h in hues:
        g = df[df[hue] == h].groupby(x)[y].std().reset_index().sort_values(x)
        ax.plot(g[x], g[y], marker="o", ms=4, color=color_for(str(h)), label=str(h))
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or f"std of {y}")
    if title:
        ax.set_title(title)
    ax.legend(title=hue)
    return ax


def heatmap(
    matrix,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    ax=None,
    title=None,
    fmt: str = ".2f",
    cmap: str = "vlag",
    center: float | None = 0.0,
    cbar_label: str | None = None,
):
    """Annotated heatmap of a small matrix (e.g. LLE weights of a word's neighbours)."""
    ax = ax or plt.gca()
    sns.heatmap(
        np.asarray(matrix),
        annot=True,
        fmt=fmt,
        cmap=cmap,
        center=center,
        ax=ax,
        xticklabels=list(col_labels),
        yticklabels=list(row_labels),
        cbar_kws={"label": cbar_label} if cbar_label else None,
    )
    if title:
        ax.set_title(title)
    return ax


def scatter_2d(
    points,
    *,
    labels=None,
    ax=None,
    title=None,
    c=None,
    cmap="viridis",
    s: float = 8.0,
    annotate: Sequence[str] | None = None,
    xlabel: str = "component 1",
    ylabel: str = "component 2",
):
    """2-D scatter (an embedding or a projection); ``annotate`` writes a text label next to each point."""
    ax = ax or plt.gca()
    pts = np.asarray(points)
    ax.scatter(pts[:, 0], pts[:, 1], c=c, cmap=cmap if c is not None else None, s=s, label=labels)
    if annotate is not None:
        for (px, py), text in zip(pts, annotate):
            ax.annotate(str(text), (px, py), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def ours_vs_paper(
    df: pd.DataFrame,
    *,
    category: str,
    ours: str,
    paper: str,
    ours_std: str | None = None,
    ax=None,
    title=None,
    ylabel: str | None = None,
):
    """Grouped bars: our figure (with std error bars) beside the paper's figure, per ``category``."""
    ax = ax or plt.gca()
    cats = list(df[category])
    xs = np.arange(len(cats))
    w = 0.38
    yerr = df[ours_std].to_numpy() if ours_std else None
    ax.bar(xs - w / 2, df[ours], w, yerr=yerr, capsize=3, color=color_for("ours"), label="ours (this run)")
    ax.bar(xs + w / 2, df[paper].astype(float), w, color=color_for("paper"), label="paper (its own data)")
    ax.set_xticks(xs, cats, rotation=30, ha="right")
    ax.set_ylabel(ylabel or ours)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def n_runs(n: int, what: str = "seed") -> str:
    """``n_runs(3) == "3 seeds"``, ``n_runs(1, "draw") == "1 draw"``: the runs part of a caption."""
    return f"{n} {what}{'' if n == 1 else 's'}"
