"""Chapter 04: alignment as a regulariser for NLI -- the experiments of Figs. 3-5 and Table 3 over the model of
:mod:`lpa_utils.models.nli`, and the chapter's plumbing.

The protocol (:func:`run_experiment`): at every training size, every model gets the same dev search budget (the
same number of grid points, :data:`FULL_GRIDS`: gamma for MSE, gamma x beta for MSE + LPL, dropout x weight decay
for the baseline), tried on draw 0 of that size; the point with the best dev accuracy is kept, and draws 1 .. R-1
train it on fresh subsets. Within a draw all models share the training subset (paired runs). Every cell's runs are
trained together as one batched model (:func:`lpa_utils.models.nli.fit_batched`). Every seed derives from one
``base_seed`` (:func:`draw_subset`, :func:`run_seed`).

The claims (:func:`paper_claims`, :func:`purity_claims`) are verdicts of :mod:`lpa_utils.report.verdicts`: an
effect in percentage points, a 95 % hierarchical bootstrap interval over runs and test pairs, the paper's effect
(or its direction, where it prints no figure), a margin per claim and reproduced / not reproduced / inconclusive.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from lpa_utils.chapters.common import Chapter, list_param
from lpa_utils.data import DATASETS, DataUnavailableError, load_mnli, load_snli
from lpa_utils.maths.neighbors import knn
from lpa_utils.models.nli import (
    LABELS,
    MODELS,
    FitResult,
    NLIConfig,
    NLIData,
    RunSpec,
    _t,
    carve_dev,
    find_pair,
    fit_batched,
    predict,
    prepare_nli,
    subsample_frames,
)
from lpa_utils.report import plotting
from lpa_utils.report.papers import ARTEFACTS, NLI_GAIN, NLI_TABLE3_PAIR
from lpa_utils.report.results import Results
from lpa_utils.report.verdicts import VERDICTS, assess, claim_row, verdict

# --------------------------------------------------------------------------------------------------------------
# seeds: one base seed, independent streams for the data and the models
# --------------------------------------------------------------------------------------------------------------
#: stream ids: the training subsets (data) and the runs' generators (initialisation, batch order, dropout)
DATA_STREAM, MODEL_STREAM = 0, 1


def draw_subset(n_total: int, size: int, base_seed: int, draw: int) -> np.ndarray:
    """Rows (sorted) of draw ``draw`` of a random training subset of ``size`` pairs out of ``n_total``: the data
    stream of ``base_seed``. Every model of a draw trains on it (paired runs); another draw is another subset."""
    if size >= n_total:
        return np.arange(n_total, dtype=np.int64)
    rng = np.random.default_rng([int(base_seed), DATA_STREAM, int(size), int(draw)])
    return np.sort(rng.choice(n_total, size=int(size), replace=False)).astype(np.int64)


def run_seed(base_seed: int, size: int, draw: int) -> int:
    """The model seed of draw ``draw`` at ``size`` pairs (the model stream of ``base_seed``): the models of a
    draw share it, so they also share their initialisation, batch order and dropout masks."""
    return int(np.random.SeedSequence([int(base_seed), MODEL_STREAM, int(size), int(draw)]).generate_state(1)[0])


def neighbours_outside_fraction(data: NLIData, rows: np.ndarray) -> float:
    """Share of the LPL neighbour premises of the subset ``rows`` that are not premises of the subset itself
    (the extra, unlabelled information LPL brings; section 4.3 says it shrinks as the training set grows)."""
    if data.pool is None or data.premise_row is None:
        return float("nan")
    prow = data.premise_row[np.asarray(rows)]
    inside = np.zeros(len(data.pool.emb), dtype=bool)
    inside[prow] = True
    nb = data.pool.idx[prow]
    return float((~inside[nb]).mean())


# --------------------------------------------------------------------------------------------------------------
# training runs on an NLIData
# --------------------------------------------------------------------------------------------------------------
def train_runs(
    data: NLIData,
    specs: Sequence[RunSpec],
    *,
    eval_splits: Sequence[str] = ("test",),
    device=None,
    progress: bool = True,
    desc: str = "NLI runs",
) -> list[FitResult]:
    """:func:`~lpa_utils.models.nli.fit_batched` on the training split of ``data`` (rows of ``specs`` index it),
    early stopping on its dev split, LPL neighbours and weights from ``data.pool``; each run is scored pair by pair
    on ``eval_splits`` (``FitResult.hits``)."""
    kw: dict[str, Any] = {}
    if any(s.method == "MSE+LPL" for s in specs):
        if data.pool is None or data.premise_row is None:
            raise ValueError("train_runs: data has no LPL pool; call build_lpl_pool(data) first")
        prow = data.premise_row
        kw = dict(nbr_rows=data.pool.idx[prow], pool_emb=data.pool.emb, pool_weights=data.pool.weights[prow])
    return fit_batched(
        data.premise["train"],
        data.hypothesis["train"],
        data.labels["train"],
        data.premise["dev"],
        data.hypothesis["dev"],
        data.labels["dev"],
        specs,
        eval_sets={s: (data.premise[s], data.hypothesis[s], data.labels[s]) for s in eval_splits},
        device=device,
        progress=progress,
        desc=desc,
        **kw,
    )


def fit_on_subset(
    data: NLIData, rows: np.ndarray, method: str, *, config: NLIConfig | None = None, seed: int = 0, device=None
) -> FitResult:
    """One run (:func:`train_runs` with one :class:`~lpa_utils.models.nli.RunSpec`) on the training pairs
    ``rows`` of ``data``."""
    spec = RunSpec(np.asarray(rows, dtype=np.int64), method, config or NLIConfig(), int(seed))
    return train_runs(data, [spec], eval_splits=(), device=device, progress=False)[0]


def grid_points(grid: Mapping[str, Sequence]) -> list[dict[str, Any]]:
    """Every combination of a grid ``{field: values}`` of :class:`NLIConfig` fields, in order (the last field
    varies fastest); ``{}`` is one point, the configuration as it is."""
    bad = [k for k in grid if k not in NLIConfig.__dataclass_fields__]
    if bad:
        raise ValueError(f"grid: {bad} are not NLIConfig fields")
    if any(len(v) == 0 for v in grid.values()):
        raise ValueError(f"grid: every field needs at least one value, got {dict(grid)}")
    names = list(grid)
    return [dict(zip(names, vals)) for vals in itertools.product(*(grid[k] for k in names))]


#: the dev grids of the full profile: four trials per model at every size (the same search budget)
FULL_GRIDS: dict[str, dict[str, list]] = {
    "baseline": {"dropout": [0.1, 0.3], "weight_decay": [0.0, 1e-4]},
    "MSE": {"gamma": [0.1, 0.3, 1.0, 3.0]},
    "MSE+LPL": {"gamma": [0.3, 1.0], "beta": [0.5, 1.0]},
}
#: the smoke profile's grids: two trials per model
SMOKE_GRIDS: dict[str, dict[str, list]] = {
    "baseline": {"dropout": [0.1, 0.3]},
    "MSE": {"gamma": [0.1, 1.0]},
    "MSE+LPL": {"gamma": [0.1, 1.0]},
}
#: hyperparameter columns of the runs and tuning tables
HYPER = ("dropout", "weight_decay", "gamma", "beta")


def check_grids(grids: Mapping[str, Mapping[str, Sequence]], models: Sequence[str]) -> int:
    """The number of trials per model; ``ValueError`` unless every model of ``models`` has a grid and all grids
    have the same number of points (the same dev search budget for the baseline and the aligned models)."""
    missing = [m for m in models if m not in grids]
    if missing:
        raise ValueError(f"grids: no grid for models {missing}")
    sizes = {m: len(grid_points(grids[m])) for m in models}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"grids: every model needs the same number of trials (same search budget), got {sizes}")
    return next(iter(sizes.values()))


def grid_text(grids: Mapping[str, Mapping[str, Sequence]]) -> str:
    """The grids in words, e.g. ``baseline: dropout {0.1, 0.3} x weight_decay {0, 0.0001}; MSE: gamma {...}``."""
    fmt = lambda v: "{" + ", ".join(f"{x:g}" for x in v) + "}"  # noqa: E731
    return "; ".join(f"{m}: " + " x ".join(f"{k} {fmt(v)}" for k, v in g.items()) for m, g in grids.items())


@dataclass
class Experiment:
    """The runs of Figs. 3a/3b (or 4/5) on one encoded dataset.

    Attributes:
        runs: one row per reported run: size, draw, model, the run's hyperparameters (dropout, weight_decay, gamma,
            beta), dev_acc, ``<split>_acc`` per evaluation split, best_round, rounds, steps, capped (stopped by
            ``max_rounds`` while still improving), nbr_outside (share of LPL neighbours outside the subset).
        hits: ``{split: (len(runs), n_split) bool}``: row i is run i's correctness on each pair of the split.
        tuning: one row per dev trial (draw 0 of each size): size, model, point, the grid's fields, dev_acc, chosen.
        kept: ``{(size, draw, model): (rows, FitResult)}`` for the sizes asked to keep (Table 3).
        train_s: wall seconds of all the training.
        encoder, grids: the sentence encoder and the dev grids.
    """

    runs: pd.DataFrame
    hits: dict[str, np.ndarray]
    tuning: pd.DataFrame
    kept: dict
    train_s: float
    encoder: str
    grids: dict = field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return sorted(int(s) for s in set(self.runs["size"]))

    @property
    def draws(self) -> int:
        return int(self.runs["draw"].nunique())

    def hits_of(self, size: int, model: str, split: str = "test") -> np.ndarray:
        """(R, n_split) 0/1 correctness of the R runs of ``model`` at ``size`` pairs, in draw order."""
        sel = self.runs[(self.runs["size"] == size) & (self.runs["model"] == model)].sort_values("draw")
        if sel.empty:
            raise KeyError(f"no runs of {model!r} at {size} pairs")
        return self.hits[split][sel.index.to_numpy()].astype(np.int8)


def run_experiment(
    data: NLIData,
    sizes: Sequence[int | str],
    *,
    draws: int = 5,
    grids: Mapping[str, Mapping[str, Sequence]] | None = None,
    models: Sequence[str] = MODELS,
    config: NLIConfig | Mapping[str, NLIConfig] | None = None,
    base_seed: int = 0,
    eval_splits: Sequence[str] = ("test",),
    keep_sizes: Iterable[int] = (),
    device=None,
    progress: bool = True,
) -> Experiment:
    """Figures 3a/3b (and 4/5): every size x ``draws`` random training subsets x ``models``, tuned on dev.

    With ``grids`` (``{model: {field: values}}``, the same number of points per model, :func:`check_grids`):
    on draw 0 of every size each model is trained at every grid point; the point with the best dev accuracy is
    kept (ties: the first point) and trained on draws 1 .. ``draws`` - 1. Draw 0's run at the chosen point is
    the first reported run (its dev accuracy chose it; the test split is never looked at). Without ``grids``
    every model trains its ``config`` (one :class:`NLIConfig`, or one per model) on every draw.

    Within one (size, draw) all models see the same subset and the same run seed (initialisation, batch order,
    dropout masks) and differ only in their loss and hyperparameters. All runs of a phase (the trials; then the
    remaining draws) train together as one batched model. ``sizes``: "all" (or any size >= the training split)
    means the whole training split. Models are kept (``Experiment.kept``) for sizes in ``keep_sizes``.
    """
    if draws < 1:
        raise ValueError(f"run_experiment: draws must be >= 1, got {draws}")
    n_total = len(data.labels["train"])
    sizes_n = list(dict.fromkeys(n_total if s == "all" else min(int(s), n_total) for s in sizes))
    keep = set(int(s) for s in keep_sizes)
    base = _config_map(config, models)
    if grids is not None:
        check_grids(grids, models)
    points = {m: grid_points(grids[m]) if grids is not None else [{}] for m in models}
    t0 = time.perf_counter()

    def spec(size: int, draw: int, m: str, point: dict) -> RunSpec:
        rows = draw_subset(n_total, size, base_seed, draw)
        return RunSpec(rows, m, replace(base[m], **point), run_seed(base_seed, size, draw), keep_model=size in keep)

    trials = [(size, m, i) for size in sizes_n for m in models for i in range(len(points[m]))]
    fits0 = train_runs(
        data,
        [spec(size, 0, m, points[m][i]) for size, m, i in trials],
        eval_splits=eval_splits,
        device=device,
        progress=progress,
        desc=f"draw 0, {sum(len(p) for p in points.values())} trials per size ({data.encoder})",
    )
    tuning = pd.DataFrame(
        [
            {"size": size, "model": m, "point": i, **points[m][i], "dev_acc": f.dev_acc}
            for (size, m, i), f in zip(trials, fits0)
        ]
    )
    best = tuning.sort_values(["dev_acc", "point"], ascending=[False, True]).groupby(["size", "model"])["point"].first()
    tuning["chosen"] = [best[(s, m)] == i for s, m, i in zip(tuning["size"], tuning["model"], tuning["point"])]
    cells = [(size, d, m) for size in sizes_n for d in range(1, draws) for m in models]
    fits1 = (
        train_runs(
            data,
            [spec(size, d, m, points[m][best[(size, m)]]) for size, d, m in cells],
            eval_splits=eval_splits,
            device=device,
            progress=progress,
            desc=f"draws 1-{draws - 1} ({data.encoder})",
        )
        if cells
        else []
    )
    fits = {(s, 0, m): f for (s, m, i), f in zip(trials, fits0) if best[(s, m)] == i}
    fits.update({c: f for c, f in zip(cells, fits1)})
    recs, hits, kept = [], {s: [] for s in eval_splits}, {}
    for size in sizes_n:
        outside = {}
        for d in range(draws):
            rows = draw_subset(n_total, size, base_seed, d)
            outside[d] = neighbours_outside_fraction(data, rows)
            for m in models:
                f = fits[(size, d, m)]
                rec = {"size": size, "draw": d, "model": m, "point": int(best[(size, m)])}
                rec.update({h: float(getattr(f.config, h)) for h in HYPER})
                rec["dev_acc"] = f.dev_acc
                for s in eval_splits:
                    rec[f"{s}_acc"] = float(f.hits[s].mean())
                    hits[s].append(f.hits[s])
                rec.update(
                    best_round=f.best_round,
                    rounds=f.rounds,
                    steps=f.steps,
                    capped=bool(f.capped),
                    nbr_outside=outside[d],
                    encoder=data.encoder,
                )
                recs.append(rec)
                if size in keep:
                    kept[(size, d, m)] = (rows, f)
    return Experiment(
        runs=pd.DataFrame(recs),
        hits={s: np.stack(v) for s, v in hits.items()},
        tuning=tuning,
        kept=kept,
        train_s=time.perf_counter() - t0,
        encoder=data.encoder,
        grids={m: dict(grids[m]) for m in models} if grids is not None else {},
    )


def _config_map(config, models) -> dict[str, NLIConfig]:
    if config is None or isinstance(config, NLIConfig):
        c = config or NLIConfig()
        return {m: c for m in models}
    missing = [m for m in models if m not in config]
    if missing:
        raise ValueError(f"run_experiment: config mapping has no entry for models {missing}")
    return {m: config[m] for m in models}


def chosen_table(exp: Experiment) -> pd.DataFrame:
    """The hyperparameters chosen on dev per training size (rows) and model: the grid's fields of each model
    (columns ``(model, field)``) and the dev accuracy (%) of the chosen point on draw 0."""
    ch = exp.tuning[exp.tuning["chosen"]]
    cols = {}
    for m in [x for x in MODELS if x in set(ch["model"])]:
        sub = ch[ch["model"] == m].set_index("size")
        for f in exp.grids.get(m, {}):
            cols[(m, f)] = sub[f]
        cols[(m, "dev %")] = (100 * sub["dev_acc"]).round(2)
    return pd.DataFrame(cols).rename_axis("training pairs")


def summarize_runs(df: pd.DataFrame, value: str = "test_acc") -> pd.DataFrame:
    """Mean and standard deviation (ddof=1, over draws) of ``value`` per size and model, plus the gain of each
    model over the baseline (percentage points and relative %), as a wide table indexed by size."""
    g = df.groupby(["size", "model"])[value].agg(["mean", "std", "count"]).reset_index()
    wide = g.pivot(index="size", columns="model", values=["mean", "std"])
    models = [m for m in MODELS if m in set(df["model"])]
    res = pd.DataFrame(index=wide.index)
    for m in models:
        res[f"{m} mean"] = 100 * wide[("mean", m)]
        res[f"{m} std"] = 100 * wide[("std", m)]
    if "baseline" in models:
        for m in models:
            if m == "baseline":
                continue
            res[f"{m} gain (pp)"] = res[f"{m} mean"] - res["baseline mean"]
            res[f"{m} gain (rel %)"] = 100 * res[f"{m} gain (pp)"] / res["baseline mean"]
    return res


def paired_gains(df: pd.DataFrame, value: str = "test_acc") -> pd.DataFrame:
    """Gain of each alignment model over the baseline trained on the same subset (same size and draw), in
    percentage points: one row per (size, draw, model); columns size, draw, model, gain_pp, gain_rel_pct."""
    base = df[df["model"] == "baseline"].set_index(["size", "draw"])[value]
    other = df[df["model"] != "baseline"].copy()
    b = base.reindex(pd.MultiIndex.from_frame(other[["size", "draw"]])).to_numpy()
    other["gain_pp"] = 100 * (other[value].to_numpy() - b)
    other["gain_rel_pct"] = 100 * (other[value].to_numpy() - b) / b
    return other[["size", "draw", "model", "gain_pp", "gain_rel_pct"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------
# the claims: verdicts of lpa_utils.report.verdicts
# --------------------------------------------------------------------------------------------------------------
#: equivalence margins (the largest effect that counts as none), per kind of claim, in percentage points
MARGINS: dict[str, float] = {"accuracy": 0.5, "spread": 0.1, "purity": 0.5, "example": 5.0}
#: the paper's Table 3 pair: both nearest training pairs predicted entailment with MSE / MSE + LPL, at most one
#: of the two with the baseline ("a combination of all 3"): +50 pp in the share predicted entailment
TABLE3_EFFECT_PP = 50.0


def verdict_row(
    artefact: str,
    claim: str,
    ours,
    base,
    *,
    paper: float | None,
    margin: float,
    model: str,
    seed: int = 0,
    item_label: str = "test pairs",
    higher_is_better: bool = True,
    direction: str = "higher",
    note: str | None = None,
) -> dict:
    """One claims row (:func:`lpa_utils.report.verdicts.claim_row`) for "``ours`` beats ``base``".

    ``ours``, ``base``: (R, n) per-item results (hierarchical bootstrap over runs and items) or (R,) per-run values,
    on a 0-1 scale (the effect is in percentage points). ``paper``: the paper's effect in points; None when the
    paper states only the direction: the claim is then read as "an effect beyond the margin in the paper's
    direction" and decided by :func:`lpa_utils.report.verdicts.verdict` with a paper effect just above the margin
    (reproduced: the interval lies above 0 and reaches past the margin; not reproduced: it excludes every
    effect beyond the margin; inconclusive: it holds both 0 and such effects); its ``paper`` cell says
    ``direction`` instead of a number. ``seed``: the bootstrap's (from the chapter's base seed).
    """
    v = assess(
        ours,
        base,
        paper_effect=paper,
        margin=margin,
        seed=seed,
        item_label=item_label,
        higher_is_better=higher_is_better,
    )
    if paper is None:
        v = dataclasses.replace(v, verdict=verdict((v.low, v.high), margin * (1 + 1e-9), margin))
    row = claim_row(artefact, claim, v, model=model, note=note or "")
    if paper is None:
        row["paper"] = f"{direction} (direction only, no figure)"
    return row


def paper_claims(
    exp: Experiment,
    *,
    split: str = "test",
    label: str = "",
    artefacts: tuple[str, str] = ("lpl.fig3a", "lpl.fig3b"),
    base_seed: int = 0,
    margins: Mapping[str, float] = MARGINS,
) -> pd.DataFrame:
    """The claims of sections 1 and 4.1 about Figures 3a/3b (or 4/5), each a verdict row (:func:`verdict_row`).

    1. "an alignment loss consistently boosts accuracy", "up to 8.9% (19.3% relative) improvement ... with just
       1000 samples": per size and alignment model, the paired gain over the baseline (per test pair, R runs);
       the paper's +8.9 pp (``NLI_GAIN``) for MSE + LPL at 1,000 pairs, its direction elsewhere.
    2. "the difference in accuracy ... reduces as the training set becomes larger": the gain at the smallest
       size minus the gain at the largest (per test pair; run r of one size paired with run r of the other).
    3. "LPL, when combined with MSE, is able to provide higher gains as compared to ... MSE alone": MSE + LPL
       against MSE over every (size, draw) run.
    4. (Fig. 3b, ``artefacts[1]``) "LPL yields more consistently optimal systems": per (size, draw), each model's
       absolute deviation from its mean accuracy at that size (pp); MSE + LPL against the baseline and against
       MSE (lower is better), a bootstrap over the runs.

    Margins: ``margins["accuracy"]`` for 1-3, ``margins["spread"]`` for 4. Columns as
    :func:`~lpa_utils.report.verdicts.claim_row` (artefact, claim, paper, ours, verdict, effect, low, high,
    level, runs, items, margin, rule, model, note) plus ``size`` (the training pairs of claim 1, else None).
    """
    pre = f"{label}: " if label else ""
    acc_art, std_art = artefacts
    sizes, aligned = exp.sizes, [m for m in MODELS[1:] if m in set(exp.runs["model"])]
    m_acc, m_std = margins["accuracy"], margins["spread"]
    kw = dict(seed=base_seed)
    rows = []
    for m in aligned:
        for s in sizes:
            headline = m == "MSE+LPL" and s == NLI_GAIN["at_size"]
            r = verdict_row(
                acc_art,
                f"{pre}gain over the baseline at {s:,} pairs",
                exp.hits_of(s, m, split),
                exp.hits_of(s, "baseline", split),
                paper=NLI_GAIN["gain_pct_points"] if headline else None,
                margin=m_acc,
                model=m,
                direction="a gain",
                note=f"paper: {_paper_gain_text()}" if headline else None,
                **kw,
            )
            rows.append({**r, "size": s})
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for m in aligned:
            gain = lambda s: exp.hits_of(s, m, split) - exp.hits_of(s, "baseline", split)  # noqa: B023, E731
            rows.append(
                verdict_row(
                    acc_art,
                    f"{pre}the gain shrinks from {small:,} to {large:,} pairs",
                    gain(small),
                    gain(large),
                    paper=None,
                    margin=m_acc,
                    model=m,
                    direction="a smaller gain with more data",
                    note="effect: gain at the smallest size minus gain at the largest",
                    **kw,
                )
            )
    if {"MSE", "MSE+LPL"} <= set(aligned):
        stack = lambda m: np.concatenate([exp.hits_of(s, m, split) for s in sizes])  # noqa: E731
        rows.append(
            verdict_row(
                acc_art,
                f"{pre}MSE+LPL above MSE alone (all sizes)",
                stack("MSE+LPL"),
                stack("MSE"),
                paper=None,
                margin=m_acc,
                model="MSE+LPL",
                direction="higher",
                note="runs: every (size, draw)",
                **kw,
            )
        )
    if "MSE+LPL" in aligned and exp.draws > 1:
        dev = _abs_deviation(exp.runs, f"{split}_acc")
        for other in [x for x in ("baseline", "MSE") if x in dev]:
            rows.append(
                verdict_row(
                    std_art,
                    f"{pre}MSE+LPL spreads less over runs than {other}",
                    dev["MSE+LPL"],
                    dev[other],
                    paper=None,
                    margin=m_std,
                    model="MSE+LPL",
                    higher_is_better=False,
                    item_label="runs",
                    direction="a smaller spread",
                    note="per (size, draw): absolute deviation from the mean accuracy at that size",
                    **kw,
                )
            )
    return pd.DataFrame(rows)


def _abs_deviation(runs: pd.DataFrame, value: str) -> dict[str, np.ndarray]:
    """Per model, (S * R,) absolute deviations of each run's ``value`` from the mean of its size, in (size, draw)
    order (paired across models)."""
    out = {}
    for m, g in runs.groupby("model"):
        g = g.sort_values(["size", "draw"])
        out[m] = (g[value] - g.groupby("size")[value].transform("mean")).abs().to_numpy()
    return out


def _paper_gain_text() -> str:
    """The paper's headline gain: "+8.9 pp (+19.3% relative) at 1000"."""
    g = NLI_GAIN
    return f"+{g['gain_pct_points']} pp (+{g['gain_relative_pct']}% relative) at {g['at_size']}"


def claims_view(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims table as the chapter shows it: claim, model, paper, ours (effect [95 % interval] over runs x
    items; the paper's effect; the margin), verdict."""
    return claims[["artefact", "claim", "model", "paper", "ours", "verdict"]].reset_index(drop=True)


def verdict_counts(claims: pd.DataFrame) -> pd.DataFrame:
    """How many claims of each artefact got each verdict (rows: artefact; columns: the verdicts that occur)."""
    order = [v for v in (*VERDICTS, "not run") if v in set(claims["verdict"])]
    return pd.crosstab(claims["artefact"], claims["verdict"]).reindex(columns=order, fill_value=0)


# --------------------------------------------------------------------------------------------------------------
# Table 3 and the clustering claim (section 4.3)
# --------------------------------------------------------------------------------------------------------------
def nearest_training_pairs(
    fits: Mapping[str, FitResult],
    data: NLIData,
    rows: np.ndarray,
    test_index: int,
    k: int = 2,
    split: str = "test",
    device=None,
) -> pd.DataFrame:
    """Table 3: the ``k`` nearest training pairs of one test pair in each model's penultimate space.

    Args:
        fits: model name -> :class:`FitResult` trained on the training pairs ``rows``.
        test_index: row of the pair in ``data.frames[split]``.

    Returns a DataFrame (one row per model and neighbour, plus a first row per model for the query pair):
    model, rank (0 = the query itself), premise, hypothesis, gold, predicted, distance.
    """

    rows = np.asarray(rows, dtype=np.int64)
    trn = data.frames["train"].iloc[rows].reset_index(drop=True)
    q = data.frames[split].iloc[int(test_index)]
    out = []
    for name, fit in fits.items():
        pred_tr, z_tr = predict(
            fit.model, data.premise["train"][rows], data.hypothesis["train"][rows], device=device, return_features=True
        )
        pred_q, z_q = predict(
            fit.model,
            data.premise[split][[test_index]],
            data.hypothesis[split][[test_index]],
            device=device,
            return_features=True,
        )
        dist, idx = knn(z_tr, k, queries=z_q, exclude_self=False, device="cpu")
        out.append(
            {
                "model": name,
                "rank": 0,
                "premise": q["premise"],
                "hypothesis": q["hypothesis"],
                "gold": LABELS[int(q["label_id"])],
                "predicted": LABELS[int(pred_q[0])],
                "distance": 0.0,
            }
        )
        for r, (j, dd) in enumerate(zip(idx[0].tolist(), dist[0].tolist()), start=1):
            out.append(
                {
                    "model": name,
                    "rank": r,
                    "premise": trn.at[j, "premise"],
                    "hypothesis": trn.at[j, "hypothesis"],
                    "gold": LABELS[int(trn.at[j, "label_id"])],
                    "predicted": LABELS[int(pred_tr[j])],
                    "distance": float(dd),
                }
            )
    return pd.DataFrame(out)


def label_purity(
    fit: FitResult,
    data: NLIData,
    rows: np.ndarray,
    k: int = 10,
    split: str = "test",
    device=None,
    per_item: bool = False,
) -> dict:
    """How label-pure the ``k`` nearest training pairs of each ``split`` pair are in the penultimate space.

    Returns the means over the split (or, with ``per_item``, the (n_split,) arrays) of:
      * ``pred_purity``: share of the k neighbours whose predicted label is the neighbours' most common
        predicted label (the paper's "predicted labels of the NNs are clustered");
      * ``gold_purity``: the same with the neighbours' gold labels;
      * ``gold_agree``: share of the k neighbours whose gold label equals the query pair's gold label;
      * ``knn_acc``: accuracy of a k-NN majority vote of the neighbours' gold labels (ties: lowest label id).
    """

    rows = np.asarray(rows, dtype=np.int64)
    pred_tr, z_tr = predict(
        fit.model, data.premise["train"][rows], data.hypothesis["train"][rows], device=device, return_features=True
    )
    _, z_q = predict(fit.model, data.premise[split], data.hypothesis[split], device=device, return_features=True)
    _, idx = knn(z_tr, k, queries=z_q, exclude_self=False, device="cpu")
    gold_tr = torch.as_tensor(data.labels["train"][rows])
    gq = _t(data.labels[split], "cpu", torch.int64)
    nb_pred = pred_tr.cpu()[idx]  # (q, k)
    nb_gold = gold_tr[idx]  # (q, k)
    cnt_pred = nn.functional.one_hot(nb_pred, len(LABELS)).sum(1)  # (q, 3)
    cnt_gold = nn.functional.one_hot(nb_gold, len(LABELS)).sum(1)
    vote = cnt_gold.argmax(1)
    items = {
        "pred_purity": cnt_pred.max(1).values.double() / k,
        "gold_purity": cnt_gold.max(1).values.double() / k,
        "gold_agree": (nb_gold == gq[:, None]).double().mean(1),
        "knn_acc": (vote == gq).double(),
    }
    if per_item:
        return {key: v.numpy() for key, v in items.items()}
    return {key: float(v.mean()) for key, v in items.items()}


PURITY_MEASURES = ("pred_purity", "gold_purity", "gold_agree", "knn_acc")


@dataclass
class Purity:
    """Label purity at one training size: ``table`` (one row per model and draw, the means of
    :func:`label_purity`) and ``items`` (``{(model, measure): (R, n_test)}`` per test pair, draws in order)."""

    table: pd.DataFrame
    items: dict
    size: int
    k: int


def purity_table(exp_or_kept, data: NLIData, size: int, k: int = 10, split: str = "test", device=None) -> Purity:
    """:func:`label_purity` of every model kept at training size ``size`` (all its draws) of an
    :class:`Experiment` (or its ``kept`` dict)."""
    kept = exp_or_kept.kept if isinstance(exp_or_kept, Experiment) else exp_or_kept
    keys = sorted((key for key in kept if key[0] == size), key=lambda key: (MODELS.index(key[2]), key[1]))
    if not keys:
        raise ValueError(f"purity_table: no kept models at size {size}; pass keep_sizes=[{size}]")
    rows, items = [], {}
    for sz, d, m in keys:
        sub, fit = kept[(sz, d, m)]
        per = label_purity(fit, data, sub, k=k, split=split, device=device, per_item=True)
        rows.append({"model": m, "draw": d, **{key: float(v.mean()) for key, v in per.items()}})
        for key, v in per.items():
            items.setdefault((m, key), []).append(v)
    return Purity(pd.DataFrame(rows), {key: np.stack(v) for key, v in items.items()}, int(size), int(k))


def purity_summary(purity: Purity) -> pd.DataFrame:
    """Mean and std over draws (%, 2 decimals) of each :func:`label_purity` measure, one row per model."""
    t = purity.table
    return (100 * t.groupby("model")[list(PURITY_MEASURES)].agg(["mean", "std"]).reindex(MODELS)).round(2)


def purity_claims(purity: Purity, *, base_seed: int = 0, margin: float = MARGINS["purity"]) -> pd.DataFrame:
    """Section 4.3 / Table 3 as verdicts (artefact ``"lpl.table3"``): do MSE and MSE + LPL make the ``k``
    nearest training pairs in the penultimate layer more label-pure than the baseline's? Per alignment model:
    ``pred_purity`` (the paper's "the predicted labels of the NNs are clustered into entailment only") and
    ``gold_agree`` (the neighbours share the test pair's gold label), per test pair over the R draws; the paper
    states the direction (its Table 3 is one pair), the margin is ``margin`` pp."""
    pre = f"{purity.k} nearest training pairs in the penultimate layer ({purity.size:,} pairs): "
    rows = []
    for crit, what in (
        ("pred_purity", "predicted labels cluster more than the baseline's"),
        ("gold_agree", "neighbours share the test pair's gold label more often"),
    ):
        for m in ("MSE", "MSE+LPL"):
            if (m, crit) not in purity.items:
                continue
            rows.append(
                verdict_row(
                    "lpl.table3",
                    pre + what,
                    purity.items[(m, crit)],
                    purity.items[("baseline", crit)],
                    paper=None,
                    margin=margin,
                    model=m,
                    seed=base_seed,
                    direction="more than the baseline",
                )
            )
    return pd.DataFrame(rows)


def table3_pair(data: NLIData) -> tuple[int, bool]:
    """Row of the paper's Table 3 pair in the test split and whether it is the paper's (else the first
    entailment pair)."""
    q = find_pair(data.frames["test"], *NLI_TABLE3_PAIR)
    row = data.frames["test"].iloc[q]
    return q, (row["premise"], row["hypothesis"]) == NLI_TABLE3_PAIR


def table3_neighbours(kept: Mapping[tuple, tuple], data: NLIData, size: int, k: int = 2) -> pd.DataFrame:
    """Table 3: the ``k`` nearest training pairs of the paper's test pair (``NLI_TABLE3_PAIR``, or the first
    entailment pair when the test subset lacks it) for the models of the first draw kept at ``size`` pairs
    (:func:`nearest_training_pairs`)."""
    q, _ = table3_pair(data)
    rows = kept[(size, 0, "baseline")][0]
    return nearest_training_pairs({m: kept[(size, 0, m)][1] for m in MODELS}, data, rows, q, k=k)


def table3_claims(kept: Mapping[tuple, tuple], data: NLIData, size: int, *, base_seed: int = 0) -> pd.DataFrame:
    """The paper's Table 3 example as verdicts: in each draw, the share of the 2 nearest training pairs of the
    paper's pair that the model predicts "entailment" (the pair's gold label), MSE / MSE + LPL against the
    baseline (one value per draw, a bootstrap over draws); the paper: 2 of 2 against at most 1 of 2, i.e.
    +50 pp (:data:`TABLE3_EFFECT_PP`), margin ``MARGINS["example"]``."""
    q, own = table3_pair(data)
    draws = sorted({d for (s, d, _) in kept if s == size})
    share = {}
    for m in MODELS:
        vals = []
        for d in draws:
            rows, fit = kept[(size, d, m)]
            t = nearest_training_pairs({m: fit}, data, rows, q, k=2)
            vals.append(float((t[t["rank"] > 0]["predicted"] == "entailment").mean()))
        share[m] = np.array(vals)
    which = "the paper's pair" if own else "the first entailment test pair (the paper's is not in this subset)"
    return pd.DataFrame(
        [
            verdict_row(
                "lpl.table3",
                f"{which}: its 2 nearest training pairs predicted entailment ({size:,} pairs)",
                share[m],
                share["baseline"],
                paper=TABLE3_EFFECT_PP,
                margin=MARGINS["example"],
                model=m,
                seed=base_seed,
                item_label="runs",
                note="paper: both neighbours entailment with MSE and MSE + LPL, mixed labels with the baseline",
            )
            for m in ("MSE", "MSE+LPL")
        ]
    )


# --------------------------------------------------------------------------------------------------------------
# The chapter's plumbing: what each profile runs, the data, the figures, the records and the glued findings
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """What one profile runs (from :func:`settings`).

    Attributes:
        sizes: training sizes of Figs. 3a/3b (ints; "all" = the whole training split).
        limits: SNLI pairs kept per split (``{}``: whole splits).
        config: the classifier (Figure 2), the constants of eq. 8 and the training schedule.
        grids: the dev grids per model (the same number of trials each, :func:`check_grids`).
        draws: runs per cell (size x model), each on its own random training subset.
        table3_size: training pairs behind Table 3 and the label purity (one of ``sizes``).
        contrast_sizes: training sizes of the run with the contrast encoder.
        mnli_dev: MultiNLI training pairs carved out as its early-stopping dev split.
        mnli_limits: MultiNLI pairs kept per split, beside the ``mnli_max_train`` training pairs.
    """

    sizes: list
    limits: dict
    config: NLIConfig
    grids: dict
    draws: int
    table3_size: int | str
    contrast_sizes: list
    mnli_dev: int
    mnli_limits: dict

    def pairs(self, size: int | str, n_train: int) -> int:
        """Training pairs behind ``size`` ("all" or a size over ``n_train`` means the whole split)."""
        return n_train if size == "all" else min(int(size), n_train)


def settings(
    ch: Chapter,
    *,
    sizes: Sequence[int | str] | None = None,
    draws: int | None = None,
    n_layers: int = 2,
    k: int = 10,
    table3_size: int | str = 2000,
) -> Settings:
    """The sizes of chapter ``ch``'s profile. Full: 500 to 5,000 training pairs, 5 runs per cell, four dev trials
    per model and size (:data:`FULL_GRIDS`); a run trains in rounds of one pass over its subset (at least 25, at
    most 50 mini-batches of 128), stops after 2 rounds without a better dev accuracy and after 12 rounds at most
    (600 mini-batches: 15 passes over 5,000 pairs). Larger sizes (``sizes=[..., 20000, "all"]``) run with the
    same cap, which stops them long before convergence (0.8 passes over all 94,888 pairs): with five runs and
    four trials per model at every size they do not fit the chapter's time budget. Smoke (CI): a few thousand
    sentences, a 64-unit MLP, short training, 3 runs and two trials per model.

    ``sizes`` and ``draws`` override the profile's; ``table3_size`` (the paper: 2,000) applies to the full
    profile and must be one of the sizes (``ValueError`` otherwise).
    """
    sizes = list_param("sizes", sizes, item=object, example='[500, 1000, "all"]')
    bad = [v for v in sizes or [] if not (v == "all" or (isinstance(v, int) and not isinstance(v, bool) and v > 0))]
    if bad:
        raise ValueError(f'parameter sizes: expected positive ints or "all", got {bad}')
    if ch.full:
        s = Settings(
            sizes=list(sizes or [500, 1000, 2000, 5000]),
            limits={},
            config=NLIConfig(n_layers=n_layers, k=k, min_round_steps=25, max_round_steps=50, max_rounds=12, patience=2),
            grids=FULL_GRIDS,
            draws=int(draws or 5),
            table3_size=table3_size,
            contrast_sizes=[500, 1000, 2000],
            mnli_dev=5000,
            mnli_limits={},
        )
    else:
        limits = {"train": 1200, "dev": 300, "test": 600}
        s = Settings(
            sizes=list(sizes or [150, 600]),
            limits=limits,
            config=NLIConfig(
                n_layers=n_layers,
                k=k,
                hidden=64,
                batch_size=32,
                min_round_steps=10,
                max_round_steps=20,
                max_rounds=3,
                patience=2,
            ),
            grids=SMOKE_GRIDS,
            draws=int(draws or 3),
            table3_size=600,
            contrast_sizes=[150, 600],
            mnli_dev=300,
            mnli_limits={**limits, "dev_matched": 600, "dev_mismatched": 600},
        )
    if s.draws < 1:
        raise ValueError(f"draws must be >= 1, got {s.draws}")
    if s.table3_size not in s.sizes:
        raise ValueError(f"table3_size={s.table3_size} must be one of the sizes {s.sizes}")
    check_grids(s.grids, MODELS)
    return s


def setting_facts(cfg: Settings) -> dict[str, Any]:
    """What the prose says about the run's settings, to glue: ``mlp_layers``, ``mlp_hidden``, ``mlp_dropout``
    (the classifier of Figure 2), ``draws`` (runs per cell), ``trials`` (dev trials per model and size),
    ``grids`` (the grids in words), the schedule (``round_min``, ``round_max``: mini-batches per round;
    ``patience``, ``max_rounds``, ``max_steps``: the step cap of one run; ``batch``: mini-batch size),
    ``margin_acc``, ``margin_spread``, ``margin_purity`` (pp), and from :data:`~lpa_utils.report.papers.NLI_GAIN`
    ``paper_gain_pp``, ``paper_gain_rel`` and ``paper_gain_size``."""
    c = cfg.config
    return {
        "mlp_layers": int(c.n_layers),
        "mlp_hidden": int(c.hidden),
        "mlp_dropout": float(c.dropout),
        "draws": int(cfg.draws),
        "trials": int(check_grids(cfg.grids, MODELS)),
        "grids": grid_text(cfg.grids),
        "max_steps": int(c.max_rounds * c.max_round_steps),
        "max_rounds": int(c.max_rounds),
        "round_min": int(c.min_round_steps),
        "round_max": int(c.max_round_steps),
        "patience": int(c.patience),
        "batch": int(c.batch_size),
        "margin_acc": float(MARGINS["accuracy"]),
        "margin_spread": float(MARGINS["spread"]),
        "margin_purity": float(MARGINS["purity"]),
        "paper_gain_pp": float(NLI_GAIN["gain_pct_points"]),
        "paper_gain_rel": float(NLI_GAIN["gain_relative_pct"]),
        "paper_gain_size": int(NLI_GAIN["at_size"]),
    }


def load_snli_data(
    cfg: Settings,
    *,
    source: str = "package",
    encoder: str = "minilm",
    knn_method: str = "brute",
    seed: int = 0,
    device=None,
) -> tuple[dict[str, pd.DataFrame], NLIData]:
    """SNLI cut to ``cfg.limits`` (whole premise groups, ``seed``), encoded by ``encoder`` with its LPL pool
    (``cfg.config.k`` neighbours, LLE weights of eq. 6). Returns ``(frames, data)``: the text per split and the
    :class:`NLIData` (premise/hypothesis ``(n_s, d)`` per split)."""
    frames = subsample_frames(load_snli(source), cfg.limits, seed=seed)
    data = prepare_nli(
        frames, encoder, k=cfg.config.k, lle_reg=cfg.config.lle_reg, knn_method=knn_method, device=device
    )
    return frames, data


def data_table(data: NLIData) -> pd.DataFrame:
    """Pairs and distinct premises per split (one row per split)."""
    return pd.DataFrame(
        {"pairs": data.sizes(), "unique premises": {s: int(f.premise.nunique()) for s, f in data.frames.items()}}
    )


def data_facts(frames: Mapping[str, pd.DataFrame], data: NLIData) -> dict[str, Any]:
    """The data of this run, to glue: ``n_sentences`` (distinct sentences encoded), ``dim``, ``encoder``,
    ``encode_s`` (seconds encoding took in this run), ``pool_size`` (distinct training premises), ``pool_k``,
    ``pool_s`` (seconds for the neighbours and LLE weights), ``n_train``, ``n_dev``, ``n_test`` (pairs)."""
    texts = pd.concat([pd.concat([f.premise, f.hypothesis]) for f in frames.values()])
    return {
        "n_sentences": int(len(pd.unique(texts))),
        "dim": int(data.dim),
        "encoder": str(data.encoder),
        "encode_s": float(data.encode_seconds),
        "pool_size": int(len(data.pool.emb)),
        "pool_k": int(data.pool.idx.shape[1]),
        "pool_s": float(data.pool.seconds),
        **{f"n_{s}": int(len(data.labels[s])) for s in ("train", "dev", "test")},
    }


def print_checks(pool, config: NLIConfig) -> None:
    """Print the checks that do not depend on the profile: the label order, the paper's delta and floor, LLE
    weights that sum to one (eq. 6), neighbours that are *other* premises, and the exact brute-force search
    against the paper's KD-tree on the first 300 premises of ``pool`` (an :class:`LPLPool`)."""
    sub = pool.emb[:300]
    d_kd, _ = knn(sub, 5, method="kdtree", device="cpu")
    d_bf, _ = knn(sub, 5, method="brute", device="cpu")
    print("labels (label_id order):", LABELS)
    print("delta (entailment, neutral, contradiction):", config.delta_vector().tolist(), "| floor:", config.floor)
    print("LLE weights sum to one:", bool(np.allclose(pool.weights.sum(1), 1.0, atol=1e-4)))
    print("no premise is its own neighbour:", not bool((pool.idx == np.arange(len(pool.emb))[:, None]).any()))
    print("KD-tree and brute-force neighbour distances agree:", bool(torch.allclose(d_kd, d_bf, atol=1e-4)))


def run_facts(exp: Experiment) -> dict[str, Any]:
    """To glue: ``n_runs`` (reported runs behind Fig. 3), ``n_trained`` (every run trained, dev trials included),
    ``train_s`` (their training seconds), ``run_draws`` (runs per cell)."""
    n_trials = int(len(exp.tuning))
    n_more = int((exp.runs["draw"] > 0).sum())
    return {
        "n_runs": int(len(exp.runs)),
        "n_trained": n_trials + n_more,
        "train_s": float(exp.train_s),
        "run_draws": int(exp.draws),
    }


def capped_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per size (columns): runs stopped by ``max_rounds`` while the dev accuracy was still improving, of all."""
    capped = runs.groupby("size")["capped"].agg(["sum", "count"])
    return capped.rename(columns={"sum": "stopped by the step cap", "count": "runs"}).T


def outside_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per size (columns): the share (%) of LPL neighbour premises outside the labelled subset (section 4.3),
    mean over the draws."""
    outside = runs.groupby("size")["nbr_outside"].mean().mul(100).round(1)
    return outside.rename("LPL neighbours outside the labelled subset (%)").to_frame().T


class Caption(NamedTuple):
    """What a figure's caption says about the run: the ``data`` it shows and the ``runs`` behind it."""

    data: str
    runs: str


def _snli_label(data: NLIData) -> str:
    return f"SNLI ({len(data.labels['test']):,} test pairs), {data.encoder} sentence embeddings"


def paper_points() -> dict[str, float]:
    """The paper's Fig. 3a at 1,000 pairs as its abstract gives it: MSE + LPL +8.9 pp over the baseline, 19.3 %
    relative, so the baseline at 8.9 / 0.193 = 46.1 % and MSE + LPL at 55.0 % (``NLI_GAIN``)."""
    g = NLI_GAIN
    base = 100 * g["gain_pct_points"] / g["gain_relative_pct"]
    return {"baseline": base, "MSE+LPL": base + g["gain_pct_points"]}


def fig_accuracy(exp: Experiment, data: NLIData) -> tuple[plt.Figure, Caption]:
    """Figs. 3a/3b: test accuracy (%) against training pairs, mean with a +-1 std band over the runs, with the
    paper's two points at 1,000 pairs (:func:`paper_points`, BERT on the paper's SNLI) (left), and the std over the
    runs (right), for the three models of ``exp``."""
    runs, draws = exp.runs, exp.draws
    acc = runs.assign(acc=100 * runs.test_acc)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    plotting.curves_with_band(
        acc,
        x="size",
        y="acc",
        hue="model",
        order=MODELS,
        logx=True,
        ax=axes[0],
        xlabel="training pairs (log scale)",
        ylabel="SNLI test accuracy (%)",
        title=f"Fig. 3a: accuracy ({data.encoder})",
    )
    for m, y in paper_points().items():
        axes[0].scatter(
            [NLI_GAIN["at_size"]], [y], marker="*", s=160, color=plotting.color_for(m), edgecolor="black", zorder=5
        )
    axes[0].scatter([], [], marker="*", s=120, color="white", edgecolor="black", label="paper (BERT), abstract")
    axes[0].legend(title="model")
    plotting.std_curves(
        acc,
        x="size",
        y="acc",
        hue="model",
        order=MODELS,
        logx=True,
        ax=axes[1],
        xlabel="training pairs (log scale)",
        ylabel="std of test accuracy (pp)",
        title=f"Fig. 3b: spread over {draws} runs",
    )
    fig.tight_layout()
    return fig, Caption(_snli_label(data), plotting.n_runs(draws, "run") + " (random training subsets) per size")


def fig_gains(claims: pd.DataFrame, data: NLIData, draws: int) -> tuple[plt.Figure, Caption]:
    """The paired gain (pp) of each alignment model over the baseline against training pairs, with the 95 %
    interval of each verdict (the "gain over the baseline at N pairs" rows of :func:`paper_claims`), the margin
    as a grey band around 0 and the paper's headline gain (``NLI_GAIN``) as a star."""
    rows = claims[claims["claim"].str.startswith("gain over the baseline")]
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    for j, m in enumerate(MODELS[1:]):
        g = rows[rows["model"] == m].sort_values("size")
        if g.empty:
            continue
        x = g["size"].to_numpy(dtype=float) * (1 + 0.04 * (2 * j - 1))  # side by side on the log axis
        err = [g["effect"] - g["low"], g["high"] - g["effect"]]
        ax.errorbar(x, g["effect"], yerr=err, marker="o", ms=4, capsize=3, color=plotting.color_for(m), label=m)
    margin = float(rows["margin"].max()) if len(rows) else MARGINS["accuracy"]
    ax.axhspan(-margin, margin, color="grey", alpha=0.15, lw=0, label=f"margin ±{margin:g} pp")
    ax.axhline(0, color="grey", lw=1)
    ax.scatter(
        [NLI_GAIN["at_size"]],
        [NLI_GAIN["gain_pct_points"]],
        marker="*",
        s=150,
        color=plotting.color_for("paper"),
        zorder=5,
        label=f"paper: +{NLI_GAIN['gain_pct_points']} pp at {NLI_GAIN['at_size']} (BERT)",
    )
    ax.set(xscale="log", xlabel="training pairs (log scale)", ylabel="gain over baseline (pp), 95 % interval")
    ax.set_title("Gain of the alignment losses")
    ax.legend(title="model", fontsize=8)
    return fig, Caption(_snli_label(data), plotting.n_runs(draws, "run") + " x every test pair per size")


@dataclass
class Contrast:
    """The small-size run with a second encoder: its ``encoder``, ``n_test`` test pairs, the experiment
    (:func:`run_experiment`, same protocol) and its ``claims`` (:func:`paper_claims`, gains per size)."""

    encoder: str
    n_test: int
    exp: Experiment
    claims: pd.DataFrame

    @property
    def runs(self) -> pd.DataFrame:
        return self.exp.runs

    @property
    def data_name(self) -> str:
        return f"SNLI test ({self.encoder}, {self.n_test} pairs)"


def contrast_experiment(
    frames: Mapping[str, pd.DataFrame],
    cfg: Settings,
    encoder: str | None,
    *,
    main_encoder: str,
    knn_method: str = "brute",
    base_seed: int = 0,
    device=None,
) -> Contrast | None:
    """The protocol of Fig. 3 (dev trials at every size, ``cfg.draws`` paired runs) at ``cfg.contrast_sizes`` on
    the same SNLI ``frames`` encoded by ``encoder``; None when no encoder other than ``main_encoder`` is asked."""
    if not encoder or str(encoder).lower() == "none" or encoder == main_encoder:
        return None
    cdata = prepare_nli(
        frames, encoder, k=cfg.config.k, lle_reg=cfg.config.lle_reg, knn_method=knn_method, device=device
    )
    exp = run_experiment(
        cdata,
        cfg.contrast_sizes,
        draws=cfg.draws,
        grids=cfg.grids,
        config=cfg.config,
        base_seed=base_seed,
        device=device,
    )
    claims = paper_claims(exp, label=encoder, base_seed=base_seed)
    claims = claims[claims["claim"].str.contains("gain over")].reset_index(drop=True)
    return Contrast(encoder, len(cdata.labels["test"]), exp, claims)


def contrast_summary(contrast: Contrast | None) -> pd.DataFrame | None:
    """:func:`summarize_runs` of the contrast run (2 decimals), or None when there is none."""
    if contrast is None:
        return None
    return summarize_runs(contrast.runs).round(2).rename_axis(f"{contrast.encoder}: training pairs")


def contrast_claims(contrast: Contrast | None) -> pd.DataFrame | None:
    """The contrast run's verdicts (claim, model, paper, ours, verdict), or None."""
    return None if contrast is None else claims_view(contrast.claims)


@dataclass
class MNLIRun:
    """Figs. 4 and 5: the MultiNLI ``source`` (a folder or "official"), the ``encoder`` and the experiment
    (:func:`run_experiment`, scored on ``dev_matched`` and ``dev_mismatched``)."""

    source: str
    encoder: str
    exp: Experiment

    @property
    def runs(self) -> pd.DataFrame:
        return self.exp.runs


def mnli_experiment(
    mnli_path,
    cfg: Settings,
    *,
    encoder: str,
    max_train: int = 100_000,
    knn_method: str = "brute",
    base_seed: int = 0,
    device=None,
) -> MNLIRun | None:
    """Figs. 4/5: the protocol of Fig. 3 (dev trials at every size, paired runs) on MultiNLI, scored on the
    matched and mismatched dev sets; ``cfg.mnli_dev`` training pairs are carved out for early stopping and at
    most ``max_train`` kept. ``mnli_path``: a folder with the official ``multinli_1.0_*.jsonl`` files,
    "official", or None (the official files if already cached). Returns None, saying why, when MultiNLI is not
    available."""
    source = mnli_path if mnli_path is not None else ("official" if DATASETS["mnli"].is_cached() else None)
    if source is None:
        print(
            "MultiNLI is not available on this machine (it ships in no package registry and no mnli_path was "
            "given): Figures 4 and 5 are skipped."
        )
        return None
    try:
        mnli = load_mnli(source)
    except DataUnavailableError as e:
        print(f"MultiNLI is not available on this machine: {e}\nFigures 4 and 5 are skipped.")
        return None
    m_train, m_dev = carve_dev(mnli["train"], cfg.mnli_dev, seed=base_seed)
    frames = {
        "train": m_train,
        "dev": m_dev,
        "dev_matched": mnli["dev_matched"],
        "dev_mismatched": mnli["dev_mismatched"],
    }
    frames = subsample_frames(frames, {"train": max_train, **cfg.mnli_limits}, seed=base_seed)
    mdata = prepare_nli(
        frames, encoder, k=cfg.config.k, lle_reg=cfg.config.lle_reg, knn_method=knn_method, device=device
    )
    exp = run_experiment(
        mdata,
        cfg.sizes,
        draws=cfg.draws,
        grids=cfg.grids,
        config=cfg.config,
        base_seed=base_seed,
        device=device,
        eval_splits=("dev_matched", "dev_mismatched"),
    )
    return MNLIRun(str(source), encoder, exp)


def mnli_summary(mnli: MNLIRun | None) -> pd.DataFrame | None:
    """:func:`summarize_runs` of the matched and the mismatched dev accuracy, one block each, or None."""
    if mnli is None:
        return None
    return pd.concat(
        {s: summarize_runs(mnli.runs, f"dev_{s}_acc").round(2) for s in ("matched", "mismatched")},
        names=["dev set", "training pairs"],
    )


def fig_mnli(mnli: MNLIRun | None) -> tuple[plt.Figure, Caption]:
    """Figs. 4/5: MultiNLI matched and mismatched dev accuracy (%) against training pairs, mean with a +-1 std
    band over the runs; without MultiNLI, a figure that says so (and a caption with no data and no runs)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    if mnli is None:
        for ax, name in zip(axes, ("Fig. 4: MultiNLI matched", "Fig. 5: MultiNLI mismatched")):
            ax.text(
                0.5,
                0.5,
                "MultiNLI is not available here:\nrerun with mnli_path",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            ax.set(title=name, xticks=[], yticks=[])
        return fig, Caption("none (MultiNLI is not available on this machine)", plotting.n_runs(0, "run"))
    runs = mnli.runs
    for ax, col, name in (
        (axes[0], "dev_matched_acc", "Fig. 4: MultiNLI matched"),
        (axes[1], "dev_mismatched_acc", "Fig. 5: MultiNLI mismatched"),
    ):
        plotting.curves_with_band(
            runs.assign(acc=100 * runs[col]),
            x="size",
            y="acc",
            hue="model",
            order=MODELS,
            logx=True,
            ax=ax,
            xlabel="training pairs (log scale)",
            ylabel="dev accuracy (%)",
            title=f"{name} ({mnli.encoder})",
        )
    fig.tight_layout()
    return fig, Caption(
        f"official MultiNLI ({mnli.source}), {mnli.encoder} sentence embeddings",
        plotting.n_runs(mnli.exp.draws, "run") + " per size",
    )


def mnli_claims(mnli: MNLIRun | None, *, base_seed: int = 0) -> pd.DataFrame:
    """The claims of :func:`paper_claims` on the matched and mismatched dev sets (artefact ``"lpl.fig4_5"``),
    or one row "not run" when MultiNLI is not available."""
    if mnli is not None:
        return pd.concat(
            [
                paper_claims(
                    mnli.exp,
                    split=f"dev_{s}",
                    label=f"MultiNLI {s}",
                    artefacts=("lpl.fig4_5", "lpl.fig4_5"),
                    base_seed=base_seed,
                )
                for s in ("matched", "mismatched")
            ],
            ignore_index=True,
        )
    return pd.DataFrame(
        [
            {
                "artefact": "lpl.fig4_5",
                "claim": "the same gains on MultiNLI",
                "model": "",
                "paper": ARTEFACTS["lpl.fig4_5"].label,
                "ours": "MultiNLI not available offline",
                "verdict": "not run",
                "note": "pass mnli_path to run it",
            }
        ]
    )


def all_claims(
    claims: pd.DataFrame,
    *,
    table3: pd.DataFrame,
    contrast: Contrast | None,
    mnli: MNLIRun | None,
    base_seed: int = 0,
) -> pd.DataFrame:
    """Every claim of the chapter in one table, the results file's ``claims`` table: Figs. 3a/3b
    (:func:`paper_claims`), Table 3 (``table3``: :func:`purity_claims` and :func:`table3_claims`), the contrast
    encoder's gains and Figs. 4/5 (:func:`mnli_claims`: verdicts, or one "not run" row)."""
    parts = [claims, table3, contrast.claims if contrast is not None else None, mnli_claims(mnli, base_seed=base_seed)]
    return pd.concat([p for p in parts if p is not None and len(p)], ignore_index=True)


def record_results(
    res: Results,
    cfg: Settings,
    data: NLIData,
    *,
    exp: Experiment,
    claims: pd.DataFrame,
    purity: Purity,
    contrast: Contrast | None,
    mnli: MNLIRun | None,
    contrast_encoder: str | None,
    base_seed: int,
) -> None:
    """Write the chapter's parameters, records and tables into ``res``.

    Records (in this order): test accuracy and paired gain (pp; the paper's figure beside the size
    ``NLI_GAIN["at_size"]``) per size and model; the penultimate-layer k-NN measures per model; the MultiNLI
    matched / mismatched accuracy (if run); the contrast encoder's accuracy and gain (if run). Tables: runs,
    summary, tuning (every dev trial), claims (every verdict), table3, purity, and contrast_runs / mnli_runs when
    those ran.
    """
    n_train = len(data.labels["train"])
    t3 = cfg.pairs(cfg.table3_size, n_train)
    res.params.update(
        {
            "base_seed": base_seed,
            "n_layers": cfg.config.n_layers,
            "sizes": [str(s) for s in cfg.sizes],
            "draws": cfg.draws,
            "grids": cfg.grids,
            "config": cfg.config.to_dict(),
            "margins": dict(MARGINS),
            "n_train": n_train,
            "n_dev": len(data.labels["dev"]),
            "n_test": len(data.labels["test"]),
            "contrast_encoder": contrast_encoder,
            "contrast_sizes": cfg.contrast_sizes,
            "table3_size": t3,
            "purity_k": purity.k,
            "mnli": mnli is not None,
            "train_s": exp.train_s,
        }
    )
    data_name = f"SNLI test ({data.encoder}, {len(data.labels['test'])} pairs)"
    _record_accuracy(res, exp.runs, data_name, paper_ref="Fig. 3a/3b", dev=True)
    _record_gains(res, exp.runs, data_name)
    for model, g in purity.table.groupby("model"):
        for col in ("pred_purity", "gold_agree", "knn_acc"):
            res.add(
                f"penultimate {purity.k}-NN {col}",
                data=data_name,
                method=model,
                values=list(100 * g.sort_values("draw")[col]),
                unit="%",
                size=t3,
                paper_ref="Table 3 / section 4.3 (qualitative)",
            )
    if mnli is not None:
        for col in ("dev_matched_acc", "dev_mismatched_acc"):
            for (size, model), g in mnli.runs.sort_values("draw").groupby(["size", "model"]):
                res.add(
                    col.replace("_acc", " accuracy"),
                    data=f"MultiNLI ({mnli.encoder})",
                    method=model,
                    values=list(100 * g[col]),
                    unit="%",
                    size=int(size),
                    paper_ref="Fig. 4/5",
                )
        res.add_table("mnli_runs", mnli.runs)
    if contrast is not None:
        _record_accuracy(res, contrast.runs, contrast.data_name, paper_ref="Fig. 3a", dev=False)
        _record_gains(res, contrast.runs, contrast.data_name)
        res.add_table("contrast_runs", contrast.runs)
    res.add_table("runs", exp.runs)
    res.add_table("summary", summarize_runs(exp.runs).round(4))
    res.add_table("tuning", exp.tuning)
    res.add_table("claims", claims)
    res.add_table("table3", table3_neighbours(exp.kept, data, t3))
    res.add_table("purity", purity.table)


def _record_accuracy(res: Results, runs: pd.DataFrame, data_name: str, *, paper_ref: str, dev: bool) -> None:
    for (size, model), g in runs.sort_values("draw").groupby(["size", "model"]):
        extra = {"dev_acc": list(100 * g["dev_acc"])} if dev else {}
        res.add(
            "test accuracy",
            data=data_name,
            method=model,
            values=list(100 * g["test_acc"]),
            unit="%",
            size=int(size),
            **extra,
            paper_ref=paper_ref,
        )


def _record_gains(res: Results, runs: pd.DataFrame, data_name: str) -> None:
    """Paired gains per (size, model); the paper's figure stands beside MSE + LPL at ``NLI_GAIN["at_size"]``."""
    for (size, model), g in paired_gains(runs).sort_values("draw").groupby(["size", "model"]):
        here = int(size) == NLI_GAIN["at_size"] and model == "MSE+LPL"
        res.add(
            "gain over baseline",
            data=data_name,
            method=model,
            values=list(g["gain_pp"]),
            unit="pp",
            size=int(size),
            paper=NLI_GAIN["gain_pct_points"] if here else None,
            paper_ref=NLI_GAIN["ref"] if here else None,
            relative_pct=list(g["gain_rel_pct"]),
        )


def _verdict_text(row: pd.Series) -> str:
    """ "<verdict>: <ours>" for the prose."""
    return f"{row['verdict']}: {row['ours']}"


def findings(
    ch: Chapter,
    data: NLIData,
    *,
    exp: Experiment,
    claims: pd.DataFrame,
    contrast: Contrast | None,
    mnli: MNLIRun | None,
) -> dict[str, Any]:
    """The numbers and verdicts of "What we found", to glue (Python scalars and strings; floats unrounded).

    Keys: ``profile``; accuracy at the smallest and the largest size (``size_small``, ``size_all``,
    ``acc_{base,lpl}_{small,all}`` in %); the headline (``gain_size``, ``gain_lpl``, ``gain_mse``: "verdict: effect
    [interval] over runs x pairs; paper; margin"), ``shrink_lpl``, ``beats``, ``spread_base``, ``spread_mse``;
    Table 3 (``pred_lpl``, ``gold_lpl``, ``example_lpl``); ``n_claims`` and ``verdict_summary`` (counts per
    verdict over the chapter's claims); ``contrast_finding``; ``mnli_finding``; ``wall_s`` (seconds since
    :func:`~lpa_utils.chapters.common.setup`) and ``encoder_note``.
    """
    c = claims.set_index(["claim", "model"])
    sizes = exp.sizes
    at = NLI_GAIN["at_size"] if NLI_GAIN["at_size"] in sizes else min(sizes, key=lambda s: abs(s - NLI_GAIN["at_size"]))
    best = summarize_runs(exp.runs)

    def pick(prefix: str, model: str) -> str:
        hit = [k for k in c.index if k[0].startswith(prefix) and k[1] == model]
        return _verdict_text(c.loc[hit[0]]) if hit else "not measured"

    counts = claims["verdict"].value_counts()
    out: dict[str, Any] = {
        "profile": str(ch.profile),
        "size_small": int(best.index[0]),
        "size_all": int(best.index[-1]),
        "acc_base_small": float(best["baseline mean"].iloc[0]),
        "acc_base_all": float(best["baseline mean"].iloc[-1]),
        "acc_lpl_small": float(best["MSE+LPL mean"].iloc[0]),
        "acc_lpl_all": float(best["MSE+LPL mean"].iloc[-1]),
        "gain_size": int(at),
        "gain_lpl": pick(f"gain over the baseline at {at:,} pairs", "MSE+LPL"),
        "gain_mse": pick(f"gain over the baseline at {at:,} pairs", "MSE"),
        "shrink_lpl": pick("the gain shrinks", "MSE+LPL"),
        "beats": pick("MSE+LPL above MSE", "MSE+LPL"),
        "spread_base": pick("MSE+LPL spreads less over runs than baseline", "MSE+LPL"),
        "spread_mse": pick("MSE+LPL spreads less over runs than MSE", "MSE+LPL"),
        "pred_lpl": pick(f"{_purity_prefix(claims)}predicted labels", "MSE+LPL"),
        "gold_lpl": pick(f"{_purity_prefix(claims)}neighbours share", "MSE+LPL"),
        "example_lpl": _example(claims),
        "n_claims": int(len(claims)),
        "verdict_summary": ", ".join(f"{int(n)} {v}" for v, n in counts.items()),
        "mnli_finding": (
            "Figures 4 and 5 above."
            if mnli is not None
            else "not available on this machine; Figures 4 and 5 were skipped."
        ),
        "wall_s": float(time.perf_counter() - ch.started),
        "encoder_note": (
            "MiniLM was trained on SNLI and MultiNLI among other data, so the inference is largely "
            "done by the encoder and the regulariser has less room than with the paper's BERT; rerun "
            "with the glove-mean encoder for one that never saw NLI data."
            if data.encoder == "minilm"
            else f"{data.encoder} is the encoder of this run."
        ),
    }
    if contrast is not None:
        cc = contrast.claims
        at_c = NLI_GAIN["at_size"] if NLI_GAIN["at_size"] in contrast.exp.sizes else contrast.exp.sizes[-1]
        row = cc[(cc["model"] == "MSE+LPL") & (cc["size"] == at_c)]
        out["contrast_finding"] = f"with {contrast.encoder} (never saw NLI), MSE + LPL at {at_c:,} pairs: " + (
            _verdict_text(row.iloc[0]) if len(row) else "not measured"
        )
    else:
        out["contrast_finding"] = "no contrast encoder was run."
    return out


def _purity_prefix(claims: pd.DataFrame) -> str:
    hit = claims[claims["artefact"].eq("lpl.table3") & claims["claim"].str.contains("nearest training pairs in")]
    return hit["claim"].iloc[0].split(": ")[0] + ": " if len(hit) else "\0"


def _example(claims: pd.DataFrame) -> str:
    hit = claims[
        claims["claim"].str.contains("2 nearest training pairs predicted entailment") & (claims["model"] == "MSE+LPL")
    ]
    return _verdict_text(hit.iloc[0]) if len(hit) else "not measured"
