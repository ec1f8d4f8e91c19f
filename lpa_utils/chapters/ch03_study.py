"""Chapter 03's study protocol: runs that redraw the split, one validation grid for MSE and LPA, tuned baselines,
the self-learning peer, the fewer-pairs sweep at a fixed number of steps, and verdicts (issue 14).

- **Runs.** Run r of a pair redraws its test, validation and training words (:func:`load_runs`, seed
  :func:`run_seed` of the chapter's ``base_seed``) and the order of the mini-batches; every method of a run sees
  the same split, so every comparison is paired, per run and per test word.
- **Model selection with a signal.** Validation = all pairs of ``n_val_words`` (500) source words from the training
  band. The SGD rows share one grid (:func:`sgd_grid`): beta in {0, 0.1, 0.3, 1, 3, 10} x k in {5, 10, 20} x the
  orthogonality weight of eq. 7 at the paper's scale (``ortho / p``: eq. 7's sums over pairs divided by p) and at
  the chapter's (``ortho = 1`` on means, about p times stronger). "MSE" is the best beta = 0 point, "LPA+MSE" the
  best point of the whole grid (beta = 0 included: the method may decline LPL), both by mean validation P@1 over
  the first ``n_select`` runs. The algebraic rows tune their own hyperparameters on each run's validation words.
- **Baselines.** A ridge MSE (closed form, ridge tuned on validation): for a linear map
  ``||y - Wx||^2 + ||y - Wx~||^2 = 2 ||y - W (x + x~) / 2||^2 + 1/2 ||W (x - x~)||^2``, so LPL is MSE on a smoothed
  input plus a ridge-like penalty, and a tuned ridge is its natural control (:func:`reconstruction_gap` measures
  ``||x - x~|| / ||x||``). Procrustes + self-learning refinement (:class:`lpa_utils.align.SelfLearning`) is the
  method a user would pick with few pairs; LPA + the same refinement goes beyond the paper.
- **Fewer pairs.** Every size gets the same number of optimiser steps (``steps`` mode of
  :func:`lpa_utils.align.batched.fit_runs`); each run draws its own subset of its own training pool. Sizes where
  every method stays below :data:`FLOOR` % P@1 are "at the floor" and left out of the verdict.
- **Verdicts** come from :func:`lpa_utils.report.verdicts.assess` on the per-word hits (hierarchical bootstrap over
  runs and test words).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from lpa_utils.align import LeastSquares, Normalize, Pipeline, Procrustes, SelfLearning
from lpa_utils.align.batched import RunSpec, fit_runs
from lpa_utils.align.linear import _LinearSource
from lpa_utils.align.phase1 import lle_neighbourhoods
from lpa_utils.chapters.ch03_word_alignment import (
    TABLE1A,
    MethodSpec,
    PairData,
    Settings,
    _subset_by_words,
    _tune,
    compact_space,
    load_pair,
)
from lpa_utils.checks import whole_number
from lpa_utils.data import load_embeddings
from lpa_utils.maths.retrieval import evaluate_translation, gold_table, hits_at
from lpa_utils.report import papers, plotting
from lpa_utils.report.verdicts import assess, claim_row, t_interval

#: P@1 (%) below which every method of a fewer-pairs size is "at the floor" (left out of the verdict).
FLOOR = 2.0
#: Run r of base seed b splits with seed ``b * RUN_STRIDE + r``.
RUN_STRIDE = 1000
LPA, MSE, MSE_NN = "LPA+MSE, SGD (CSLS)", "MSE, SGD (CSLS)", "MSE, SGD (NN)"
LPA_REF, PROC_REF, RIDGE = "LPA+MSE + refinement (CSLS)", "Procrustes + refinement (CSLS)", "Ridge MSE (CSLS)"


def run_seed(base_seed: int, run: int) -> int:
    """The split seed of run ``run`` (0, 1, ...) of a build with ``base_seed``."""
    return int(base_seed) * RUN_STRIDE + int(run)


@dataclass
class Protocol:
    """How many runs, which grid, which steps: the study's settings for one profile (see :func:`protocol`)."""

    n_runs: int
    n_select: int
    betas: tuple[float, ...]
    ks: tuple[int, ...]
    ortho_scales: tuple[str, ...]
    ridges: tuple[float, ...]
    n_val_words: int
    sgd: dict
    refine: dict
    sizes: tuple
    sweep_steps: int
    base_seed: int = 0
    margin: float = 1.0

    def params(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def protocol(profile: str, base_seed: int = 0, n_runs: int | None = None) -> Protocol:
    """The full profile: 10 runs per cell, the grid searched on the first 2 (:func:`select_sgd`), SGD at most 150
    epochs (validation every 5, patience 50); fewer pairs at 100, 250, 1,000 and all pairs with 600 steps each.
    Smoke: 2 runs, a 2-point grid, 10 epochs, one refinement iteration, fewer pairs at 250 pairs only."""
    full = profile == "full"
    return Protocol(
        n_runs=whole_number(n_runs, "parameter runs", 1, allow_none=True) or (10 if full else 2),
        n_select=2 if full else 1,
        betas=(0.0, 0.1, 0.3, 1.0, 3.0, 10.0) if full else (0.0, 1.0),
        ks=(5, 10, 20) if full else (10,),
        ortho_scales=("paper", "mean") if full else ("mean",),
        ridges=(1.0, 10.0, 100.0, 1000.0) if full else (10.0,),
        n_val_words=500 if full else 150,
        sgd=dict(lr=0.03, batch_size=256, epochs=150 if full else 10, patience=50 if full else None, val_every=5),
        refine=dict(n_iter=2, n_words=10_000) if full else dict(n_iter=1, n_words=2_000),
        sizes=(100, 250, 1000, "all") if full else (250,),
        sweep_steps=600 if full else 60,
        base_seed=whole_number(base_seed, "parameter base_seed"),
    )


# ------------------------------------------------------------------------------------------------- runs
def load_runs(cfg: Settings, pair: str, proto: Protocol) -> list[PairData]:
    """The ``proto.n_runs`` splits of ``pair`` (run r: seed :func:`run_seed`), the vectors read once."""
    conf = cfg.configs[pair]
    over = dict(cfg.overrides.get(pair, {}))
    src = over.pop("src", conf.src)
    tgt = over.pop("tgt", conf.tgt)
    vectors = (load_embeddings(src, max_words=cfg.max_words), load_embeddings(tgt, max_words=cfg.max_words))
    out = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="make_split: asked for")  # the sizes go into the data table
        for r in range(proto.n_runs):
            out.append(
                load_pair(
                    conf,
                    src=src,
                    tgt=tgt,
                    **over,
                    n_train=cfg.n_train,
                    n_val_words=proto.n_val_words,
                    max_src=cfg.max_words,
                    max_tgt=cfg.max_words,
                    seed=run_seed(proto.base_seed, r),
                    save_split=False,
                    vectors=vectors,
                )
            )
    return out


class FixedMap(_LinearSource):
    """A map ``x W`` that is already known (from :func:`fit_runs`): ``fit`` keeps it (a start for refinement)."""

    def __init__(self, W):
        self.W_ = torch.as_tensor(W, dtype=torch.float32)
        self.device_ = self.W_.device

    def fit(self, X, Y, pairs, val_pairs=None, context=None):
        return self


class Mapped:
    """The shared space of a normalised pair under a map: ``transform(X) = norm(X) W``, targets normalised."""

    def __init__(self, norm: Normalize, W):
        self.norm, self.W_ = norm, torch.as_tensor(W, dtype=torch.float32)

    def transform(self, X) -> torch.Tensor:
        return self.norm.transform(X) @ self.W_

    def transform_target(self, Y) -> torch.Tensor:
        return self.norm.transform_target(Y)


def score(mapped: tuple, data: PairData, method: str = "csls", beta: float = 10.0) -> dict:
    """P@1 and P@10 on ``data``'s test words and the per-word hits (0/1 arrays over the test queries, in the
    order of :func:`lpa_utils.maths.retrieval.gold_table`), the items of the paired verdicts."""
    Zs, Zt = compact_space(*mapped)  # the same cosines in the source's dimension (6x fewer for 50d -> 300d)
    ev = evaluate_translation(
        Zs,
        Zt,
        data.src_emb.words,
        data.tgt_emb.words,
        data.split.test,
        method=method,
        beta=beta,
        ks=(1, 10),
        return_predictions=True,
    )
    g = gold_table(data.src_emb.words, data.tgt_emb.words, data.split.test)
    hits = hits_at(ev["top"], g["pair_query"], g["pair_tgt"])
    return {
        "p@1": ev["p@1"],
        "p@10": ev["p@10"],
        "n_queries": ev["n_queries"],
        "coverage": ev["coverage"],
        "hits1": hits[:, 0].astype(np.int8),
        "hits10": hits.any(1).astype(np.int8),
    }


# ----------------------------------------------------------------------------------------- the SGD grid
def sgd_grid(proto: Protocol) -> list[dict]:
    """The grid shared by MSE and LPA: ``dict(loss, beta, k, ortho_scale)``; beta = 0 is MSE (k unused)."""
    grid = [dict(loss="mse", beta=0.0, k=10, ortho_scale=o) for o in proto.ortho_scales]
    grid += [
        dict(loss="lpa", beta=b, k=k, ortho_scale=o)
        for b in proto.betas
        if b > 0
        for k in proto.ks
        for o in proto.ortho_scales
    ]
    return grid


def config_name(c: dict) -> str:
    o = "eq. 7 scale" if c["ortho_scale"] == "paper" else "ortho 1"
    return f"MSE, {o}" if c["beta"] == 0 else f"beta {c['beta']:g}, k {c['k']}, {o}"


def _spec(run: PairData, c: dict, seed: int) -> RunSpec:
    return RunSpec(
        run.train,
        run.val,
        loss=c["loss"],
        beta=c["beta"],
        k=c["k"],
        ortho=1.0,
        ortho_scale=c["ortho_scale"],
        seed=seed,
        name=config_name(c),
    )


def normaliser(run: PairData) -> tuple[Normalize, torch.Tensor, torch.Tensor]:
    """S0 of every SGD row (unit length, then centred): the fitted step and the normalised X, Y."""
    norm = Normalize(("unit", "center"), device="cpu").fit(run.X, run.Y)
    return norm, norm.transform(run.X), norm.transform_target(run.Y)


def select_sgd(runs: list[PairData], proto: Protocol, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Search the grid of :func:`sgd_grid` on the first ``n_select`` runs and pick, by mean validation P@1 (nearest
    neighbour, as early stopping scores it), MSE's point (the best beta = 0 point) and LPA's (the best point seen,
    beta = 0 included).

    A coordinate search, each stage one batched model: (A) every beta (0 included) and orthogonality scale at
    ``k = proto.ks``'s middle value; (B) the other k at the best (beta, scale) of (A), if that beta is > 0 (k does not
    change MSE). Returns ``(grid_table, chosen)``: one row per (run, grid point tried) with ``val p@1``, ``best
    epoch`` and ``stage``; ``chosen = {"mse": config, "lpa": config, "fits": {(run, name): W}}``."""
    _, Xn, Yn = normaliser(runs[0])
    grid = sgd_grid(proto)
    k0 = sorted(proto.ks)[len(proto.ks) // 2]
    n_sel = min(proto.n_select, len(runs))
    rows, fits = [], {}

    def train(configs, stage):
        specs, keys = [], []
        for r in range(n_sel):
            for c in configs:
                specs.append(_spec(runs[r], c, run_seed(proto.base_seed, r)))
                keys.append((r, c))
        fit = fit_runs(Xn, Yn, specs, **proto.sgd, progress=progress)
        for i, (r, c) in enumerate(keys):
            fits[(r, config_name(c))] = fit.W[i]
            rows.append(
                {
                    "run": r,
                    "config": config_name(c),
                    "stage": stage,
                    **{k: c[k] for k in ("beta", "k", "ortho_scale")},
                    "val p@1": 100 * float(fit.best_val_p1[i]),
                    "best epoch": int(fit.best_epoch[i]),
                }
            )

    train([c for c in grid if c["beta"] == 0 or c["k"] == k0], "A: beta x scale")
    mean = pd.DataFrame(rows).groupby("config", sort=False)["val p@1"].mean()
    by_name = {config_name(c): c for c in grid}
    best = by_name[mean.idxmax()]
    if best["beta"] > 0 and len(proto.ks) > 1:
        more = [
            c for c in grid if c["beta"] == best["beta"] and c["ortho_scale"] == best["ortho_scale"] and c["k"] != k0
        ]
        train(more, "B: k")
    table = pd.DataFrame(rows)
    mean = table.groupby("config", sort=False)["val p@1"].mean()
    mse_names = [n for n in mean.index if by_name[n]["beta"] == 0]
    pick = {"mse": mean[mse_names].idxmax(), "lpa": mean.idxmax()}
    chosen = {k: by_name[v] for k, v in pick.items()}
    chosen["fits"] = fits
    table["chosen as"] = table["config"].map({v: k.upper() for k, v in reversed(pick.items())}).fillna("")
    return table, chosen


def fit_chosen(runs: list[PairData], chosen: dict, proto: Protocol, progress: bool = True) -> dict:
    """The chosen MSE and LPA points on every run (one batched model; the selection runs are reused).
    Returns ``{(run, "mse" | "lpa"): W (ds, dt)}``."""
    _, Xn, Yn = normaliser(runs[0])
    out, specs, keys = {}, [], []
    for r, run in enumerate(runs):
        for role in ("mse", "lpa"):
            key = (r, config_name(chosen[role]))
            if key in chosen["fits"]:
                out[(r, role)] = chosen["fits"][key]
            else:
                specs.append(_spec(run, chosen[role], run_seed(proto.base_seed, r)))
                keys.append((r, role))
    if specs:
        fit = fit_runs(Xn, Yn, specs, **proto.sgd, progress=progress)
        out.update({key: fit.W[i] for i, key in enumerate(keys)})
    return out


def reconstruction_gap(run: PairData, k: int = 10) -> float:
    """Mean ``||x - x~|| / ||x||`` over the training source words of ``run`` (normalised as the SGD rows see them;
    x~ the LLE reconstruction of eq. 6 from the k nearest source words): how far LPL's smoothed input is from x."""
    _, Xn, _ = normaliser(run)
    rows = torch.as_tensor(np.unique(run.train[:, 0]))
    idx, W = lle_neighbourhoods(Xn, rows, k)
    rec = torch.einsum("rk,rkd->rd", W, Xn[idx])
    x = Xn[rows]
    return float(((x - rec).norm(dim=1) / x.norm(dim=1).clamp_min(1e-12)).mean())


# --------------------------------------------------------------------------------------------- Table 1a
def _extra_specs(proto: Protocol) -> list[MethodSpec]:
    norm = lambda dev: Normalize(("unit", "center"), device=dev)  # noqa: E731
    return [
        MethodSpec(
            RIDGE,
            "S0, ridge",
            lambda ridge=1.0, device=None, **_: Pipeline([norm(device), LeastSquares(ridge)]),
            "csls",
            {"ridge": proto.ridges},
        ),
        MethodSpec(
            PROC_REF,
            "S0, S2, self-learning",
            lambda device=None, **_: Pipeline([norm(device), SelfLearning(**proto.refine)]),
            "csls",
        ),
    ]


def table1a_runs(
    runs: list[PairData], chosen: dict, fits: dict, proto: Protocol, progress: bool = True
) -> tuple[pd.DataFrame, dict]:
    """Every Table 1a row on every run of one pair: the algebraic rows and the ridge MSE (their hyperparameters tuned
    on the validation words of the first ``n_select`` runs, the last choice kept for the other runs, as the SGD
    rows' grid point), Procrustes + refinement, and the SGD rows from ``fits`` (:func:`fit_chosen`), LPA +
    refinement.

    Returns ``(rows, hits)``: one row per (method, run) with P@1 / P@10 (fractions) and the hyperparameters;
    ``hits[(method, run)]`` the per-word 0/1 hits at 1 and 10."""
    rows, hits, fixed = [], {}, {}
    specs = [s for s in TABLE1A if not s.sgd] + _extra_specs(proto)
    pair = runs[0].config.pair
    it = tqdm(list(enumerate(runs)), desc=f"Table 1a {pair}", leave=False, disable=not progress)
    for r, data in it:
        seed = run_seed(proto.base_seed, r)

        def add(method, steps, retrieval, ev, hyper, t0):
            hits[(method, r)] = (ev["hits1"], ev["hits10"])
            rows.append(
                {
                    "pair": pair,
                    "data": data.label,
                    "method": method,
                    "steps": steps,
                    "retrieval": retrieval.upper(),
                    "run": r,
                    "seed": seed,
                    "p@1": ev["p@1"],
                    "p@10": ev["p@10"],
                    "n_queries": ev["n_queries"],
                    "coverage": ev["coverage"],
                    "train pairs": len(data.train),
                    "hyper": hyper,
                    "fit_s": time.perf_counter() - t0,
                }
            )

        for spec in specs:
            t0 = time.perf_counter()
            if r < proto.n_select or spec.name not in fixed:
                hyper, _, mapped, _ = _tune(spec, data)
                fixed[spec.name] = hyper
            else:  # chosen on the first selection run's validation words, as the SGD rows' grid point
                hyper = fixed[spec.name]
                al = spec.build(**{k: v for k, v in hyper.items() if k != "beta"}).fit(data.X, data.Y, data.train)
                mapped = (al.transform(data.X), al.transform_target(data.Y))
            ev = score(mapped, data, spec.retrieval, beta=hyper.get("beta", 10.0))
            add(spec.name, spec.steps, spec.retrieval, ev, hyper, t0)
        norm, Xn, Yn = normaliser(data)
        for role, methods in (("mse", [(MSE_NN, "nn"), (MSE, "csls")]), ("lpa", [(LPA, "csls")])):
            W = fits[(r, role)]
            hyper = {k: chosen[role][k] for k in ("beta", "k", "ortho_scale")}
            for name, retrieval in methods:
                t0 = time.perf_counter()
                add(name, "S0, SGD", retrieval, score((Xn @ W, Yn), data, retrieval), hyper, t0)
        t0 = time.perf_counter()
        ref = SelfLearning(FixedMap(fits[(r, "lpa")]), **proto.refine).fit(Xn, Yn, data.train)
        add(LPA_REF, "S0, SGD, self-learning", "csls", score((ref.transform(Xn), Yn), data), hyper, t0)
    return pd.DataFrame(rows), hits


# ------------------------------------------------------------------------------------------ fewer pairs
SWEEP_METHODS = ("MSE", "MSE+LPL", "Procrustes", "Procrustes + refinement", "MSE+LPL + refinement")


def fewer_pairs_runs(
    runs: list[PairData], chosen: dict, proto: Protocol, progress: bool = True
) -> tuple[pd.DataFrame, dict]:
    """P@1 (CSLS) against the number of training pairs on every run of one pair, for :data:`SWEEP_METHODS`.

    Run r draws, for each size, the pairs of random source words (seed from the run and the size) from its own
    training pool (every pair whose source word is neither a test nor a validation word of that run); ``"all"`` is
    the whole pool. MSE and MSE+LPL (the points chosen on validation, :func:`select_sgd`) take
    ``proto.sweep_steps`` optimiser steps at every size, all (size, run) cells in one batched model.
    Returns ``(rows, hits)`` like :func:`table1a_runs`, with ``size``, ``n_pairs`` and ``at floor``."""
    pair = runs[0].config.pair
    _, Xn, Yn = normaliser(runs[0])
    cells, specs, keys = [], [], []
    for r, data in enumerate(runs):
        pool = data.split.rest
        for i, size in enumerate(proto.sizes):
            sub = pool if size == "all" else _subset_by_words(pool, int(size), run_seed(proto.base_seed, r) * 31 + i)
            P = np.stack([data.src_emb.lookup(sub["src"]), data.tgt_emb.lookup(sub["tgt"])], 1)
            cells.append((r, str(size), P))
            for role in ("mse", "lpa"):
                c = chosen[role]
                specs.append(
                    RunSpec(
                        P,
                        data.val,
                        loss=c["loss"],
                        beta=c["beta"],
                        k=c["k"],
                        ortho=1.0,
                        ortho_scale=c["ortho_scale"],
                        seed=run_seed(proto.base_seed, r),
                    )
                )
                keys.append((r, str(size), role))
    sgd = {k: v for k, v in proto.sgd.items() if k not in ("epochs", "patience", "val_every")}
    val_every = max(1, proto.sweep_steps // 10)
    fit = fit_runs(Xn, Yn, specs, steps=proto.sweep_steps, val_every=val_every, patience=None, progress=progress, **sgd)
    W = {key: fit.W[i] for i, key in enumerate(keys)}
    rows, hits = [], {}
    it = tqdm(cells, desc=f"fewer pairs {pair}", leave=False, disable=not progress)
    for r, size, P in it:
        data = runs[r]
        maps = {
            "MSE": W[(r, size, "mse")],
            "MSE+LPL": W[(r, size, "lpa")],
            "Procrustes": Procrustes().fit(Xn, Yn, P).W_,
            "Procrustes + refinement": SelfLearning(**proto.refine).fit(Xn, Yn, P).W_,
            "MSE+LPL + refinement": SelfLearning(FixedMap(W[(r, size, "lpa")]), **proto.refine).fit(Xn, Yn, P).W_,
        }
        for m, Wm in maps.items():
            ev = score((Xn @ Wm, Yn), data)
            hits[(m, size, r)] = ev["hits1"]
            rows.append(
                {
                    "pair": pair,
                    "method": m,
                    "size": size,
                    "n_pairs": len(P),
                    "run": r,
                    "p@1": ev["p@1"],
                    "p@10": ev["p@10"],
                }
            )
    return mark_floor(pd.DataFrame(rows)), hits


def mark_floor(sweep: pd.DataFrame, floor: float = FLOOR) -> pd.DataFrame:
    """Add ``at floor``: True for the (pair, size) cells where every method's mean P@1 over runs is below
    ``floor`` %."""
    top = sweep.groupby(["pair", "size", "method"])["p@1"].mean().groupby(["pair", "size"]).max() * 100
    at = top < floor
    return sweep.assign(**{"at floor": [bool(at[(p, s)]) for p, s in zip(sweep["pair"], sweep["size"])]})


# ---------------------------------------------------------------------------------------------- verdicts
def _margin(paper: float | None, margin: float) -> float:
    """The equivalence margin of a claim: ``margin`` pp, at most half the paper's effect (the rule needs < |p|)."""
    return margin if paper is None or paper == 0 else min(margin, abs(paper) / 2)


def _stack(hits: dict, method: str, n_runs: int, which: int = 0) -> list[np.ndarray]:
    return [hits[(method, r)][which] for r in range(n_runs)]


def claims(
    pair: str,
    hits: dict,
    n_runs: int,
    sweep: pd.DataFrame | None,
    sweep_hits: dict | None,
    proto: Protocol,
    in_paper: bool = True,
) -> pd.DataFrame:
    """The pair's claims with their verdicts (:func:`lpa_utils.report.verdicts.assess` on the per-word hits):

    - ``lpl.table1a``, fair: LPA + MSE (CSLS) above MSE by SGD (CSLS), the paper's effect its LPA row minus its
      MSE row;
    - ``lpl.table1a``, the paper's own comparison: LPA (CSLS) above MSE by SGD with nearest neighbour (NN);
    - ``lpl.table1a``: LPA + MSE against the algebraic row that the paper scores highest on the pair;
    - ``lpl.fewer_pairs`` (sweep pairs): LPL's gain over MSE at <= 1,000 pairs, sizes at the floor left out, every
      (run, size) a run of the bootstrap; the paper gives no number, so the paper's full-size gain on the pair
      stands in (LPL should help at least as much with fewer pairs).
    A pair that is not in the paper (or ran on one's own data: ``in_paper=False``) gets "no paper figure"."""
    rows = []
    p_lpa, p_mse = papers.table1a(pair, LPA), papers.table1a(pair, MSE_NN)
    gain = None if not in_paper or p_lpa is None else p_lpa - p_mse
    ours, base = _stack(hits, LPA, n_runs), _stack(hits, MSE, n_runs)
    v = assess(ours, base, paper_effect=gain, margin=_margin(gain, proto.margin), item_label="words")
    rows.append(claim_row("lpl.table1a", f"{pair}: LPA + MSE above MSE by SGD (both CSLS)", v, model=LPA))
    v = assess(
        ours, _stack(hits, MSE_NN, n_runs), paper_effect=gain, margin=_margin(gain, proto.margin), item_label="words"
    )
    rows.append(
        claim_row("lpl.table1a", f"{pair}: LPA + MSE (CSLS) above MSE (NN), the paper's comparison", v, model=LPA)
    )
    algebraic = [m for m in papers.TABLE1A if m.startswith(("Shigeto", "Artetxe", "Smith"))]
    if gain is not None:
        best = max(algebraic, key=lambda m: papers.table1a(pair, m))
        eff = p_lpa - papers.table1a(pair, best)
        v = assess(
            ours, _stack(hits, best, n_runs), paper_effect=eff, margin=_margin(eff, proto.margin), item_label="words"
        )
        rows.append(
            claim_row("lpl.table1a", f"{pair}: LPA + MSE minus {best}, the paper's best algebraic row", v, model=LPA)
        )
    if sweep is not None and len(sweep):
        small = sweep[(pd.to_numeric(sweep["size"], errors="coerce") <= 1000) & ~sweep["at floor"]]
        cells = sorted({(r, s) for r, s in zip(small["run"], small["size"])})
        if cells:
            ours = [sweep_hits[("MSE+LPL", s, r)] for r, s in cells]
            base = [sweep_hits[("MSE", s, r)] for r, s in cells]
            v = assess(ours, base, paper_effect=gain, margin=_margin(gain, proto.margin), item_label="words")
            sizes = ", ".join(sorted({s for _, s in cells}, key=int))
            floor = sorted(set(sweep.loc[sweep["at floor"], "size"]))
            note = f"sizes {sizes}; at the floor (left out): {', '.join(floor) or 'none'}"
            rows.append(claim_row("lpl.fewer_pairs", f"{pair}: LPL helps with few pairs (<= 1,000)", v, note=note))
    return pd.DataFrame(rows)


def peers(pair: str, hits: dict, n_runs: int, proto: Protocol) -> pd.DataFrame:
    """Beyond the paper, with intervals: LPA + MSE against the tuned ridge MSE, Procrustes + refinement against
    LPA + MSE, and what refinement adds to LPA (no paper figure: effects and intervals only)."""
    out = []
    for ours, base in ((LPA, RIDGE), (PROC_REF, LPA), (LPA_REF, LPA), (LPA_REF, PROC_REF)):
        v = assess(
            _stack(hits, ours, n_runs),
            _stack(hits, base, n_runs),
            paper_effect=None,
            margin=proto.margin,
            item_label="words",
        )
        out.append(
            {
                "pair": pair,
                "comparison": f"{ours} minus {base}",
                "effect (pp)": v.effect,
                "95% interval": f"[{v.low:+.1f}, {v.high:+.1f}]",
                "runs": v.runs,
            }
        )
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------- figures
def plot_grid(grid: pd.DataFrame, pairs: Sequence[str]) -> plt.Figure:
    """Validation P@1 (%) over the shared grid, one panel per pair: against beta (symlog; beta = 0 is MSE) for each
    k (colour) and orthogonality scale (solid: the chapter's ortho 1, dashed: eq. 7's scale), mean over the
    selection runs; the chosen points circled."""
    n = len(pairs)
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 3.8), squeeze=False, sharey=False)
    for ax, p in zip(axes[0], pairs):
        g = grid[grid["pair"] == p]
        m = g.groupby(["beta", "k", "ortho_scale"])["val p@1"].mean().reset_index()
        base = m[m["beta"] == 0]
        for (k, o), h in m[m["beta"] > 0].groupby(["k", "ortho_scale"]):
            zero = base[base["ortho_scale"] == o]
            h = pd.concat([zero.assign(k=k), h]).sort_values("beta")
            ax.plot(
                h["beta"],
                h["val p@1"],
                marker="o",
                ms=3,
                ls="-" if o == "mean" else "--",
                color=plotting.color_for(f"k={k}"),
                label=f"k={k}, {'ortho 1' if o == 'mean' else 'eq. 7 scale'}",
            )
        for role, mk in (("MSE", "s"), ("LPA", "*")):
            c = g[g["chosen as"] == role].groupby(["beta", "k", "ortho_scale"])["val p@1"].mean().reset_index()
            ax.scatter(
                c["beta"], c["val p@1"], s=120, facecolors="none", edgecolors="k", marker=mk, label=f"chosen: {role}"
            )
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set(title=p.upper(), xlabel="beta (0 = MSE)", ylabel="validation P@1 (%)")
    axes[0][-1].legend(fontsize=7, loc="best")
    return fig


def plot_fewer(sweep: pd.DataFrame, pairs: Sequence[str], labels: dict[str, str]) -> plt.Figure:
    """P@1 (%, CSLS) against training pairs (log scale) for :data:`SWEEP_METHODS`: mean over runs with a 95 %
    t-band; sizes at the floor (every method below :data:`FLOOR` %) shaded grey."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.8 * len(pairs), 4.2), squeeze=False)
    band = lambda v: t_interval(v) if len(v) > 1 else (v.mean(), v.mean())  # noqa: E731
    for ax, p in zip(axes[0], pairs):
        s = sweep[sweep["pair"] == p]
        for m in SWEEP_METHODS:
            g = s[s["method"] == m].groupby("n_size")["p@1"]
            x, mean = np.asarray(list(g.groups)), 100 * g.mean().to_numpy()
            lo, hi = np.array([band(100 * v.to_numpy()) for _, v in g]).T
            c = plotting.color_for(m)
            ax.plot(x, mean, marker="o", ms=4, color=c, label=m)
            ax.fill_between(x, lo, hi, color=c, alpha=0.2, lw=0)
        floor = s[s["at floor"]]["n_size"].unique()
        for x in floor:
            ax.axvspan(x / 1.25, x * 1.25, color="0.85", zorder=0)
        ax.axhline(FLOOR, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set(title=f"{p.upper()}: {labels.get(p, '')}", xlabel="training pairs (log scale)", ylabel="P@1 (%)")
    axes[0][0].legend(fontsize=8)
    return fig


@dataclass
class PairStudy:
    """Everything the chapter measured on one pair."""

    pair: str
    runs: list[PairData]
    grid: pd.DataFrame
    chosen: dict
    table: pd.DataFrame
    hits: dict
    sweep: pd.DataFrame | None = None
    sweep_hits: dict | None = None
    gap: float = float("nan")
    fits: dict | None = None
    seconds: dict = field(default_factory=dict)


def study_pair(cfg: Settings, pair: str, proto: Protocol, sweep: bool, progress: bool = True) -> PairStudy:
    """Load the runs of ``pair``, select the SGD points, fit them on every run, score Table 1a, and (``sweep``)
    the fewer-pairs curves; the timings of each step in ``seconds``."""
    t = {"start": time.perf_counter()}
    runs = load_runs(cfg, pair, proto)
    t["load"] = time.perf_counter()
    grid, chosen = select_sgd(runs, proto, progress)
    t["grid"] = time.perf_counter()
    fits = fit_chosen(runs, chosen, proto, progress)
    t["fit"] = time.perf_counter()
    table, hits = table1a_runs(runs, chosen, fits, proto, progress)
    t["table1a"] = time.perf_counter()
    out = PairStudy(pair, runs, grid.assign(pair=pair), chosen, table, hits, fits=fits)
    if sweep:
        out.sweep, out.sweep_hits = fewer_pairs_runs(runs, chosen, proto, progress)
        out.sweep["n_size"] = out.sweep.groupby("size")["n_pairs"].transform("mean")
    t["sweep"] = time.perf_counter()
    out.gap = reconstruction_gap(runs[0], chosen["lpa"]["k"] if chosen["lpa"]["beta"] else 10)
    keys = list(t)
    out.seconds = {b: t[b] - t[a] for a, b in zip(keys, keys[1:])}
    return out


# ------------------------------------------------------------------------------------- chapter assembly
def study_all(cfg: Settings, proto: Protocol, progress: bool = True) -> dict[str, PairStudy]:
    """:func:`study_pair` of every pair of ``cfg`` (the fewer-pairs sweep on ``cfg.sweep_pairs``)."""
    return {p: study_pair(cfg, p, proto, sweep=p in cfg.sweep_pairs, progress=progress) for p in cfg.pairs}


def grid_frame(studies: dict[str, PairStudy]) -> pd.DataFrame:
    """Every (pair, run, grid point) row of the model selection."""
    return pd.concat([s.grid for s in studies.values()], ignore_index=True)


def runs_frame(studies: dict[str, PairStudy]) -> pd.DataFrame:
    """Every (pair, method, run) row of Table 1a."""
    return pd.concat([s.table for s in studies.values()], ignore_index=True)


def sweep_frame(studies: dict[str, PairStudy]) -> pd.DataFrame:
    """Every (pair, method, size, run) row of the fewer-pairs sweep."""
    frames = [s.sweep for s in studies.values() if s.sweep is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _mean_ci(values: np.ndarray) -> str:
    v = 100 * np.asarray(values, float)
    if len(v) < 2:
        return f"{v.mean():.1f}"
    low, high = t_interval(v)
    return f"{v.mean():.1f} [{low:.1f}, {high:.1f}]"


def summary_table(studies: dict[str, PairStudy], own: set[str] = frozenset()) -> pd.DataFrame:
    """Table 1a: P@1 (%) per method (rows) and pair: ours as the mean over runs with a 95 % t-interval, the paper's
    figure beside it (its own data; "not in the paper" for a pair run on one's own data)."""
    runs = runs_frame(studies)
    methods = list(pd.unique(runs["method"]))
    out = pd.DataFrame(index=pd.Index(methods, name="method"))
    for p, s in studies.items():
        g = s.table.groupby("method", sort=False)["p@1"]
        out[f"{p} ours"] = [_mean_ci(g.get_group(m)) if m in g.groups else "" for m in methods]
        paper = [papers.table1a(p, m) for m in methods]
        out[f"{p} paper"] = ["not in the paper" if p in own else ("" if v is None else f"{v:.1f}") for v in paper]
    return out


def chosen_table(studies: dict[str, PairStudy]) -> pd.DataFrame:
    """Per pair: the MSE and LPA points chosen on validation, their validation P@1, the training pairs, and the
    reconstruction gap ``||x - x~|| / ||x||`` of the chosen k."""
    rows = []
    for p, s in studies.items():
        val = s.grid.groupby("config")["val p@1"].mean()
        rows.append(
            {
                "pair": p,
                "MSE: chosen": config_name(s.chosen["mse"]),
                "MSE: val P@1 (%)": val[config_name(s.chosen["mse"])],
                "LPA: chosen": config_name(s.chosen["lpa"]),
                "LPA: val P@1 (%)": val[config_name(s.chosen["lpa"])],
                "train pairs (mean over runs)": float(np.mean([len(r.train) for r in s.runs])),
                "validation words": int(s.runs[0].split.val["src"].nunique()),
                "test words": int(s.runs[0].split.test["src"].nunique()),
                "||x - x~|| / ||x||": s.gap,
            }
        )
    return pd.DataFrame(rows)


def fewer_summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """Mean P@1 (%) with a 95 % t-interval per pair, size and method; sizes at the floor marked."""
    g = sweep.groupby(["pair", "size", "method"], sort=False)
    out = g["p@1"].apply(_mean_ci).unstack("method")
    out["at the floor"] = g["at floor"].first().groupby(level=[0, 1], sort=False).first().map({True: "yes", False: ""})
    return out


def all_claims(studies: dict[str, PairStudy], proto: Protocol, own: set[str] = frozenset()) -> pd.DataFrame:
    """:func:`claims` of every pair, one table."""
    frames = [
        claims(p, s.hits, len(s.runs), s.sweep, s.sweep_hits, proto, in_paper=p not in own) for p, s in studies.items()
    ]
    return pd.concat(frames, ignore_index=True)


def all_peers(studies: dict[str, PairStudy], proto: Protocol) -> pd.DataFrame:
    return pd.concat([peers(p, s.hits, len(s.runs), proto) for p, s in studies.items()], ignore_index=True)


def table2_maps(studies: dict[str, PairStudy]) -> dict:
    """The MSE and LPA maps of each pair's first run, keyed ``(pair, "mse" | "lpa", seed)`` as
    :func:`lpa_utils.chapters.ch03_word_alignment.neighbour_tables` expects (seed: run 0's)."""
    out = {}
    for p, s in studies.items():
        norm, _, _ = normaliser(s.runs[0])
        seed = int(s.table["seed"].iloc[0])
        for role in ("mse", "lpa"):
            out[(p, role, seed)] = Mapped(norm, s.fits[(0, role)])
    return out


def record(res, studies: dict[str, PairStudy], proto: Protocol, claims_df: pd.DataFrame, own=frozenset()) -> int:
    """Write every Table 1a cell (values over runs, the paper's figure beside P@1), the fewer-pairs cells, the grid,
    the chosen points and the claims into the chapter's results. Returns the number of records."""
    res.params.update(
        {
            "study": proto.params(),
            "data": {p: s.runs[0].data_label for p, s in studies.items()},
            "split_manifests": {p: s.runs[0].manifest for p, s in studies.items()},
            "seconds": {p: s.seconds for p, s in studies.items()},
        }
    )
    if own:
        res.params["not_in_the_paper"] = sorted(own)
    for p, s in studies.items():
        for method, g in s.table.groupby("method", sort=False):
            for metric in ("p@1", "p@10"):
                paper = None if p in own or metric != "p@1" else papers.table1a(p, method)
                res.add(
                    f"{metric.upper()} (%)",
                    data=s.runs[0].data_label,
                    method=method,
                    values=list(100 * g[metric]),
                    paper=paper,
                    paper_ref=papers.TABLE1A_SOURCE if paper else None,
                    unit="%",
                    pair=p,
                    retrieval=g["retrieval"].iloc[0],
                    runs=len(g),
                )
        if s.sweep is not None:
            for (m, size), g in s.sweep.groupby(["method", "size"], sort=False):
                res.add(
                    "P@1 (%) vs training pairs",
                    data=s.runs[0].data_label,
                    method=f"{m} @ {size} pairs",
                    values=list(100 * g["p@1"]),
                    unit="%",
                    pair=p,
                    size=size,
                    n_pairs=float(g["n_pairs"].mean()),
                    at_floor=bool(g["at floor"].iloc[0]),
                    retrieval="CSLS",
                )
    runs = runs_frame(studies)
    res.add_table("table1a_runs", runs.drop(columns=["hyper"]).assign(hyper=runs["hyper"].astype(str)))
    res.add_table("table1a", summary_table(studies, own))
    res.add_table("grid", grid_frame(studies))
    res.add_table("chosen", chosen_table(studies))
    sweep = sweep_frame(studies)
    if len(sweep):
        res.add_table("fewer_pairs_runs", sweep)
        res.add_table("fewer_pairs", fewer_summary(sweep).reset_index())
    res.add_table("peers", all_peers(studies, proto))
    return len(res.records)


def findings(studies: dict[str, PairStudy], claims_df: pd.DataFrame, proto: Protocol) -> dict[str, Any]:
    """The numbers of the chapter's "What we found", to glue: verdict counts per claim kind, per-pair lines, the
    chosen points, the reconstruction gaps, refinement's gains and the floor."""
    out: dict[str, Any] = {
        "found_runs": proto.n_runs,
        "found_select": proto.n_select,
        "found_base_seed": proto.base_seed,
    }
    for key, pat in (("fair", "both CSLS"), ("paper_cmp", "paper's comparison"), ("fewer", "few pairs")):
        c = claims_df[claims_df["claim"].str.contains(pat, regex=False)]
        out[f"found_{key}_n"] = len(c)
        out[f"found_{key}_counts"] = ", ".join(f"{n} {v}" for v, n in c["verdict"].value_counts().items()) or "none"
        out[f"found_{key}_lines"] = (
            "; ".join(
                f"{r['claim'].split(':')[0].upper()} {r['ours'].split(';')[0]} ({r['verdict']})"
                for _, r in c.iterrows()
            )
            or "none"
        )
    ch = chosen_table(studies)
    out["found_chosen"] = "; ".join(f"{r['pair'].upper()}: {r['LPA: chosen']}" for _, r in ch.iterrows())
    out["found_beta0"] = int(sum(s.chosen["lpa"]["beta"] == 0 for s in studies.values()))
    out["found_n_pairs"] = len(studies)
    out["found_paper_scale"] = int(sum(s.chosen["lpa"]["ortho_scale"] == "paper" for s in studies.values()))
    out["found_gap"] = "; ".join(f"{r['pair'].upper()} {r['||x - x~|| / ||x||']:.2f}" for _, r in ch.iterrows())
    pe = all_peers(studies, proto)
    ref = pe[pe["comparison"].str.startswith(PROC_REF) & pe["comparison"].str.endswith(LPA)]
    out["found_refine"] = "; ".join(
        f"{r['pair'].upper()} {r['effect (pp)']:+.1f} {r['95% interval']}" for _, r in ref.iterrows()
    )
    ridge = pe[pe["comparison"].str.endswith(RIDGE)]
    out["found_ridge"] = "; ".join(
        f"{r['pair'].upper()} {r['effect (pp)']:+.1f} {r['95% interval']}" for _, r in ridge.iterrows()
    )
    sweep = sweep_frame(studies)
    floor = sweep[sweep["at floor"]].drop_duplicates(["pair", "size"]) if len(sweep) else sweep
    floor = [f"{p.upper()} {s}" for p, s in zip(floor.get("pair", []), floor.get("size", []))]
    out["found_floor"] = ", ".join(floor) or "none"
    return out


def caption(studies: dict[str, PairStudy], which: str, pairs: Sequence[str] | None = None) -> dict[str, str]:
    """``<which>_data`` and ``<which>_runs`` for a figure's caption (``which``: a glue-name prefix)."""
    pairs = list(pairs or studies)
    data = "; ".join(f"{p.upper()}: {studies[p].runs[0].label}" for p in pairs if p in studies)
    n = len(next(iter(studies.values())).runs) if studies else 0
    return {f"{which}_data": data, f"{which}_runs": f"{n} runs per point, each redrawing the split and batch order"}
