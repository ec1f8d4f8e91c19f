"""Chapter 02: LLE weights (eqs. 1, 2, 6) -- invariances, reconstruction against k and the regulariser, word
reconstructions, our LLE embedding against scikit-learn's, and how linear word neighbourhoods are.

The notebook calls these functions one idea per cell: :func:`sizes` (the profile's problem sizes),
:func:`closed_form_checks` (eq. 1 against scikit-learn and its invariances), :func:`phase1` (the paper's phase 1),
:func:`reconstruction_vs_k` / :func:`regulariser_effect`, :func:`word_reconstructions`, :func:`embedding_check`
(eq. 2), the ``plot_*`` functions (each returns a matplotlib Figure), :func:`findings` (the values glued into the
prose) and :func:`record_results` (records, tables and the claims table of the results file).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.stats import ortho_group
from sklearn.datasets import make_swiss_roll
from sklearn.manifold import LocallyLinearEmbedding

# scikit-learn has no public function that returns the LLE reconstruction weights (``LocallyLinearEmbedding`` and
# ``locally_linear_embedding`` keep only the embedding), so the independent reference for our eq. 1 closed form is
# its private ``barycenter_weights``. It is used only here, in :func:`closed_form_vs_sklearn`, never in a notebook.
from sklearn.manifold._locally_linear import barycenter_weights

from lpa_utils.chapters.common import Chapter
from lpa_utils.checks import word_rows_strict
from lpa_utils.maths.lle import learn_lle_weights, lle_embedding, lle_weights, reconstruction_error
from lpa_utils.maths.neighbors import knn, knn_kept, neighbours_of_rows
from lpa_utils.report import plotting
from lpa_utils.report.results import Results

ARTEFACT = "lpl.eq6"  #: the papers' artefact this chapter measures (lpa_utils.report.papers.ARTEFACTS)
REGS = [1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]  #: regularisers of the regulariser study (relative to tr G)

# --------------------------------------------------------------------------- sizes and data


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one profile: ``max_words`` (vocabulary loaded), ``n_words`` (most frequent words studied),
    ``steps`` (phase-1 gradient steps), ``ks`` (neighbourhood sizes of the k study), ``regs`` (regularisers)."""

    max_words: int
    n_words: int
    steps: int
    ks: list[int]
    regs: list[float]


def sizes(ch: Chapter, n_words: int | None = None) -> Sizes:
    """The chapter's sizes in ``ch``'s profile; ``n_words`` (the notebook parameter) overrides the words studied.

    Full: a 20,000-word vocabulary, 3,000 words, 1,000 phase-1 steps, k in 1..50. Smoke: 5,000 / 300 / 60, k in
    {1, 5, 10, 20}.
    """
    if ch.full:
        return Sizes(20_000, n_words or 3_000, 1000, [1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50], list(REGS))
    return Sizes(5_000, n_words or 300, 60, [1, 5, 10, 20], list(REGS))


def swiss_roll(n: int, noise: float = 0.05, seed: int = 0):
    """Chapter 01's swiss roll: ``sklearn.datasets.make_swiss_roll`` rescaled by 1/10 (noise in those units).

    The same points as ``ch01_manifolds.make_manifold("swiss_roll", n, noise, seed)`` (chapter modules do not
    import each other). Returns ``(X, t)``: X (n, 3) float64 points, t (n,) the position along the roll.
    """
    X, t = make_swiss_roll(n_samples=n, noise=noise * 10.0, random_state=seed)
    return (X / 10.0).astype(np.float64), t.astype(np.float64)


# --------------------------------------------------------------------------- 1 · the closed form (eq. 1)


def weight_invariances(X, idx, reg: float = 1e-3, seed: int = 0, scale: float = 3.7) -> pd.DataFrame:
    """Max |W(T X) - W(X)| of the closed-form weights (eq. 1) for a random rotation, a scaling, a translation and
    all three together: the weights describe the neighbourhood's shape, not its position, size or orientation.
    X: (n, d), idx: (n, k). Returns a DataFrame (transform, max_abs_diff) computed in float64."""
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    Q = ortho_group.rvs(X.shape[1], random_state=rng)
    shift = rng.normal(size=X.shape[1]) * 10.0
    W0 = lle_weights(X, idx, reg=reg, device="cpu", dtype=torch.float64)
    transforms = {
        "rotation": X @ Q,
        f"scaling x{scale}": scale * X,
        "translation": X + shift,
        "all three": scale * X @ Q + shift,
    }
    rows = [
        {
            "transform": name,
            "max_abs_diff": float((lle_weights(T, idx, reg=reg, device="cpu", dtype=torch.float64) - W0).abs().max()),
        }
        for name, T in transforms.items()
    ]
    return pd.DataFrame(rows)


def closed_form_vs_sklearn(points: dict[str, np.ndarray], k: int = 10, reg: float = 1e-3) -> pd.DataFrame:
    """Our batched eq. 1 closed form (:func:`lpa_utils.maths.lle.lle_weights`, float64) beside scikit-learn's
    ``barycenter_weights`` on each named point set (n, d), both from the same k nearest other points.

    Returns a DataFrame (data, max_abs_diff, rows_sum_to_one): the largest |W_ours - W_sklearn| and whether our
    rows sum to one within 1e-12 (the constraint of eq. 1).
    """
    out = []
    for name, X in points.items():
        X = np.asarray(X, dtype=np.float64)
        _, idx = knn(X, k, device="cpu")
        ours = lle_weights(X, idx, reg=reg, device="cpu", dtype=torch.float64).numpy()
        theirs = barycenter_weights(X, X, idx.numpy(), reg=reg)
        out.append(
            {
                "data": name,
                "max_abs_diff": float(np.abs(ours - theirs).max()),
                "rows_sum_to_one": bool(np.abs(ours.sum(1) - 1).max() < 1e-12),
            }
        )
    return pd.DataFrame(out)


@dataclass
class ClosedFormChecks:
    """The eq. 1 checks of section 1: ``sklearn`` (the :func:`closed_form_vs_sklearn` table on the swiss roll and
    on gaussian points) and ``invariances`` (the :func:`weight_invariances` table on the swiss roll), with the
    swiss roll's size ``n`` and the neighbourhood size ``k``."""

    sklearn: pd.DataFrame
    invariances: pd.DataFrame
    n: int
    k: int

    @property
    def sklearn_diff(self) -> float:
        """Largest |W_ours - W_sklearn| on the swiss roll."""
        return float(self.sklearn["max_abs_diff"].iloc[0])

    @property
    def invariance_max(self) -> float:
        """Largest weight change over the four transforms."""
        return float(self.invariances["max_abs_diff"].max())

    def summary(self) -> str:
        """The checks as plain text (what the notebook prints and nbval compares): differences rounded to 10
        decimals, invariances to 9."""
        lines = [
            f"{r['data']}: max |W_ours - W_sklearn| = {r['max_abs_diff']:.10f} (rounded to 10 decimals);"
            f" rows sum to 1 within 1e-12: {r['rows_sum_to_one']}"
            for _, r in self.sklearn.iterrows()
        ]
        inv = self.invariances.copy()
        inv["max_abs_diff < 1e-9"] = inv["max_abs_diff"] < 1e-9
        lines.append(inv.assign(max_abs_diff=inv["max_abs_diff"].round(9)).to_string(index=False))
        return "\n".join(lines)


def closed_form_checks(n: int = 1000, k: int = 10, reg: float = 1e-3, seed: int = 0) -> ClosedFormChecks:
    """Eq. 1 against scikit-learn on ``n`` swiss-roll points (d = 3 < k: the regulariser matters) and on ``n``
    gaussian 50-d points (d > k), and the invariances of the weights on the swiss roll (all with ``seed``)."""
    roll, _ = swiss_roll(n, noise=0.05, seed=seed)
    gauss = np.random.default_rng(seed).normal(size=(n, 50))
    table = closed_form_vs_sklearn({"swiss roll, d=3": roll, "gaussian, d=50": gauss}, k=k, reg=reg)
    inv = weight_invariances(roll, knn(roll, k, device="cpu")[1], reg=reg, seed=seed)
    return ClosedFormChecks(sklearn=table, invariances=inv, n=n, k=k)


# --------------------------------------------------------------------------- 2 · phase 1 (eq. 6)


@dataclass
class Phase1:
    """Phase 1 against the closed form: ``history`` (step, loss, objective, max_abs_diff; steps + 1 rows),
    ``closed_loss`` (mean eq. 6 loss of the closed-form weights), ``row_sum_error`` (max |sum_j W_ij - 1| of the
    learned weights), and the run's ``n_words``, ``k``, ``reg``, ``steps``, ``seed``."""

    history: pd.DataFrame
    closed_loss: float
    row_sum_error: float
    n_words: int
    k: int
    reg: float
    steps: int
    seed: int

    @property
    def final_gap(self) -> float:
        """max |W_learned - W_closed| after the last step."""
        return float(self.history["max_abs_diff"].iloc[-1])

    @property
    def final_loss(self) -> float:
        """Mean eq. 6 loss after the last step."""
        return float(self.history["loss"].iloc[-1])


def phase1(V, rows, k: int, reg: float, steps: int, seed: int = 0, device=None) -> Phase1:
    """The paper's phase 1 (section 3.3.1): learn W of the words ``V[rows]`` over their k nearest other rows of
    ``V`` (n, d) by projected gradient descent on eq. 6 (:func:`lpa_utils.maths.lle.learn_lle_weights`), and the
    closed form of eq. 1 it should converge to, both in float64."""
    V = np.asarray(V, dtype=np.float64)
    X = V[np.asarray(rows)]
    _, idx = neighbours_of_rows(V, rows, k, device=device)
    W_closed = lle_weights(X, idx, reg=reg, ref=V, device=device, dtype=torch.float64)
    W_learned, hist = learn_lle_weights(
        X, idx, steps=steps, lr=1.0, ref=V, seed=seed, reg=reg, device=device, dtype=torch.float64
    )
    closed_loss = float(reconstruction_error(X, idx, W_closed, ref=V, device=device).mean())
    return Phase1(
        history=pd.DataFrame(hist),
        closed_loss=closed_loss,
        row_sum_error=float((W_learned.sum(1) - 1).abs().max()),
        n_words=len(X),
        k=k,
        reg=reg,
        steps=steps,
        seed=seed,
    )


def plot_phase1(p1: Phase1, name: str) -> plt.Figure:
    """Two panels against the gradient step: the mean eq. 6 loss (closed form dashed) and max |W - W_closed|.
    ``name``: the embeddings' name, for the title."""
    h = p1.history
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    axes[0].plot(h["step"], h["loss"], color=plotting.color_for("ours"), label="gradient descent (phase 1)")
    axes[0].axhline(p1.closed_loss, color=plotting.color_for("paper"), ls="--", label="closed form")
    axes[0].set_yscale("log")
    axes[0].set(xlabel="step", ylabel="mean eq. 6 loss (squared norm)", title="reconstruction loss")
    axes[0].legend()
    axes[1].plot(h["step"], h["max_abs_diff"], color=plotting.color_for("ours"))
    axes[1].set_yscale("log")
    axes[1].set(xlabel="step", ylabel="max |W_learned - W_closed|", title="distance to the closed form")
    fig.suptitle(f"{name}: {p1.n_words:,} words, k = {p1.k}, reg = {p1.reg:g}")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 3 · k and the regulariser


def reconstruction_vs_k(V, rows, ks, reg: float = 1e-3, device=None) -> pd.DataFrame:
    """Eq. 1 reconstruction error of the points ``V[rows]`` from their k nearest other rows of ``V`` (n, d),
    for each k in ``ks``: mean and median of ``||x - sum_j W_j x_j||^2 / ||x||^2`` (relative, so words of any
    norm weigh alike). One neighbour search with max(ks); the k-neighbourhood is its first k columns."""

    V = np.asarray(V, dtype=np.float64)
    X = V[np.asarray(rows)]
    _, idx = neighbours_of_rows(V, rows, int(max(ks)), device=device)
    norm2 = (X**2).sum(1)
    out = []
    for k in ks:
        sub = idx[:, :k]
        W = lle_weights(X, sub, reg=reg, ref=V, device=device, dtype=torch.float64)
        rel = reconstruction_error(X, sub, W, ref=V, device=device).cpu().numpy() / norm2
        out.append(
            {"k": int(k), "mean relative error": float(rel.mean()), "median relative error": float(np.median(rel))}
        )
    return pd.DataFrame(out)


def regulariser_effect(V, rows, k: int, regs, device=None) -> pd.DataFrame:
    """For each ``reg``: mean relative reconstruction error of ``V[rows]`` from k neighbours in V, mean L2 norm of
    the weight rows and the largest |weight|: the regulariser trades a slightly worse fit for smaller,
    better-conditioned weights."""

    V = np.asarray(V, dtype=np.float64)
    X = V[np.asarray(rows)]
    _, idx = neighbours_of_rows(V, rows, k, device=device)
    norm2 = (X**2).sum(1)
    out = []
    for r in regs:
        W = lle_weights(X, idx, reg=float(r), ref=V, device=device, dtype=torch.float64)
        rel = reconstruction_error(X, idx, W, ref=V, device=device).cpu().numpy() / norm2
        out.append(
            {
                "reg": float(r),
                "mean relative error": float(rel.mean()),
                "mean ||w||": float(W.norm(dim=1).mean()),
                "max |w|": float(W.abs().max()),
            }
        )
    return pd.DataFrame(out)


def plot_k_and_reg(by_k: pd.DataFrame, by_reg: pd.DataFrame, k: int, title: str) -> plt.Figure:
    """Left: mean and median relative error against k (:func:`reconstruction_vs_k`). Right: relative error and
    max |w| against the regulariser at ``k`` (:func:`regulariser_effect`, log x)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    axes[0].plot(by_k["k"], by_k["mean relative error"], marker="o", label="mean")
    axes[0].plot(by_k["k"], by_k["median relative error"], marker="s", label="median")
    axes[0].set(xlabel="k (neighbours)", ylabel="relative reconstruction error", title="error against k")
    axes[0].legend()
    axes[1].plot(by_reg["reg"], by_reg["mean relative error"], marker="o", label="relative error")
    axes[1].plot(by_reg["reg"], by_reg["max |w|"], marker="s", label="max |w|")
    axes[1].set_xscale("log")
    axes[1].set(xlabel="reg (relative to trace of G)", ylabel="value", title=f"effect of the regulariser (k = {k})")
    axes[1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 4 · real words


def word_reconstructions(vectors, words, queries, k: int = 10, reg: float = 1e-3, device=None):
    """LLE weights (eq. 1) of a few query words over their k nearest words (euclidean, as the paper's KD-tree).

    vectors: (n, d) vocabulary vectors, words: the n words, queries: words to explain (must be in ``words``).
    Returns ``(table, errors)``: a long DataFrame (query, rank, neighbour, distance, weight) and a DataFrame
    (query, relative error, error with uniform weights) for the reconstruction ``sum_j W_j x_j`` of each query.
    """

    V = np.asarray(vectors, dtype=np.float64)
    qi = word_rows_strict(words, queries, "word_reconstructions")
    dist, idx = neighbours_of_rows(V, qi, k, device=device)
    W = lle_weights(V[qi], idx, reg=reg, ref=V, device=device, dtype=torch.float64)
    err = reconstruction_error(V[qi], idx, W, ref=V, device=device).cpu().numpy()
    uni = reconstruction_error(V[qi], idx, np.full(idx.shape, 1.0 / k), ref=V, device=device).cpu().numpy()
    norm2 = (V[qi] ** 2).sum(1)
    words_arr = np.asarray(words, dtype=object)
    table = pd.DataFrame(
        {
            "query": np.repeat(np.asarray(queries, dtype=object), k),
            "rank": np.tile(np.arange(1, k + 1), len(queries)),
            "neighbour": words_arr[idx.ravel()],
            "distance": dist.ravel(),
            "weight": W.cpu().numpy().ravel(),
        }
    )
    errors = pd.DataFrame(
        {
            "query": list(queries),
            "relative error (LLE weights)": err / norm2,
            "relative error (uniform 1/k)": uni / norm2,
        }
    )
    return table, errors


def plot_word_weights(recon: pd.DataFrame, title: str) -> plt.Figure:
    """Heatmap of the :func:`word_reconstructions` table: one row per query (in its order), one column per
    neighbour rank, each cell annotated with the neighbour and its weight (colour: the weight, centred at 0)."""
    queries = list(dict.fromkeys(recon["query"]))
    k = int(recon["rank"].max())
    labels = recon.pivot(index="query", columns="rank", values="neighbour").loc[queries]
    weights = recon.pivot(index="query", columns="rank", values="weight").loc[queries]
    annot = labels.to_numpy() + "\n" + np.char.mod("%.2f", weights.to_numpy().astype(float))
    fig, ax = plt.subplots(figsize=(1.25 * k + 2, 0.7 * len(queries) + 1.5))
    sns.heatmap(
        weights.astype(float),
        annot=annot,
        fmt="",
        cmap="vlag",
        center=0,
        ax=ax,
        annot_kws={"fontsize": 7},
        cbar_kws={"label": "LLE weight"},
    )
    ax.set(xlabel="neighbour rank (1 = nearest)", ylabel="word", title=title)
    return fig


# --------------------------------------------------------------------------- 5 · the embedding step (eq. 2)


def embedding_vs_sklearn(
    X, n_neighbors: int = 12, n_components: int = 2, reg: float = 1e-3, eigen_solver: str = "arpack", seed: int = 0
):
    """Our eq. 2 embedding (:func:`lpa_utils.maths.lle.lle_embedding`) beside
    ``sklearn.manifold.LocallyLinearEmbedding`` (standard, the same ``eigen_solver``: "arpack" (sparse
    shift-invert, fast) or "dense") on the same points X (n, d). Returns ``(ours, theirs, gap, knn_agreement)``:
    the two (n, c) embeddings, the max abs difference after the best orthogonal alignment (Procrustes: the columns
    are unique only up to sign), relative to the largest coordinate, and the fraction of 10-NN the two embeddings
    share."""
    X = np.asarray(X, dtype=np.float64)
    ours = lle_embedding(
        X, n_neighbors, n_components, reg=reg, eigen_solver=eigen_solver, device="cpu", dtype=torch.float64
    ).numpy()
    theirs = LocallyLinearEmbedding(
        n_neighbors=n_neighbors,
        n_components=n_components,
        reg=reg,
        tol=1e-10,
        eigen_solver=eigen_solver,
        random_state=seed,
    ).fit_transform(X)
    R, _ = orthogonal_procrustes(ours, theirs)
    gap = float(np.abs(ours @ R - theirs).max() / np.abs(theirs).max())
    return ours, theirs, gap, knn_kept(ours, theirs, 10)


@dataclass
class EmbeddingCheck:
    """Eq. 2 on a swiss roll: ``t`` (n,) the position along the roll, ``ours`` / ``theirs`` (n, 2) embeddings,
    ``gap`` (relative, after Procrustes) and ``agree`` (shared 10-NN), with the roll's ``n``, ``k``, ``noise``."""

    t: np.ndarray
    ours: np.ndarray
    theirs: np.ndarray
    gap: float
    agree: float
    n: int
    k: int
    noise: float

    def describe(self) -> str:
        """The data label of the figure: size, noise and k of the roll."""
        return f"synthetic swiss roll, {self.n:,} points, noise {self.noise:g}, k = {self.k}"


def embedding_check(n: int = 800, k: int = 12, noise: float = 0.05, reg: float = 1e-3, seed: int = 0) -> EmbeddingCheck:
    """:func:`embedding_vs_sklearn` (2 components) on ``n`` points of chapter 01's swiss roll (:func:`swiss_roll`)."""
    X, t = swiss_roll(n, noise=noise, seed=seed)
    ours, theirs, gap, agree = embedding_vs_sklearn(X, n_neighbors=k, n_components=2, reg=reg)
    return EmbeddingCheck(t=t, ours=ours, theirs=theirs, gap=gap, agree=float(agree), n=n, k=k, noise=noise)


def plot_embeddings(check: EmbeddingCheck) -> plt.Figure:
    """Our eq. 2 embedding beside scikit-learn's, coloured by the position along the roll."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    plotting.scatter_2d(check.ours, c=check.t, ax=axes[0], s=6, title="ours: lpa_utils.maths.lle.lle_embedding")
    plotting.scatter_2d(check.theirs, c=check.t, ax=axes[1], s=6, title="scikit-learn LocallyLinearEmbedding")
    fig.suptitle(f"eq. 2 on {check.n:,} swiss-roll points (k = {check.k}), colour = position along the roll")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- findings and results


def findings(
    ch: Chapter,
    checks: ClosedFormChecks,
    p1: Phase1,
    by_k: pd.DataFrame,
    by_reg: pd.DataFrame,
    errors: pd.DataFrame,
    eq2: EmbeddingCheck,
) -> dict:
    """The values the chapter's prose glues (``ch.glue(**findings(...))``): Python floats, ints and strings.

    ``sklearn_diff``, ``invariance_max`` (eq. 1 checks); ``phase1_verb`` ("reaches" below 1e-4, else
    "approaches"), ``n_words``, ``steps``, ``phase1_gap``, ``phase1_loss``, ``closed_loss``, ``phase1_loss_rel``,
    ``phase1_row_sum`` (phase 1); ``k_first``, ``k_last``, ``err_k_first``, ``err_k10``, ``err_k_last`` (mean
    relative error against k), ``err_reg_default`` / ``err_reg_small`` (at reg 1e-3 / 1e-6); ``word_errors`` and
    ``words_verdict`` (real words); ``embedding_gap``, ``embedding_agree`` (eq. 2); ``profile``, ``wall_time`` (s).
    """
    k_err = by_k.set_index("k")["mean relative error"]
    reg_err = by_reg.set_index("reg")["mean relative error"]
    lle, uni = errors["relative error (LLE weights)"], errors["relative error (uniform 1/k)"]
    beats = bool((lle < uni).all())
    return {
        "sklearn_diff": checks.sklearn_diff,
        "invariance_max": checks.invariance_max,
        "phase1_verb": "reaches" if p1.final_gap < 1e-4 else "approaches",
        "n_words": int(p1.n_words),
        "steps": int(p1.steps),
        "phase1_gap": p1.final_gap,
        "phase1_loss": p1.final_loss,
        "closed_loss": p1.closed_loss,
        "phase1_loss_rel": abs(p1.final_loss - p1.closed_loss) / p1.closed_loss,
        "phase1_row_sum": p1.row_sum_error,
        "k_first": int(k_err.index[0]),
        "k_last": int(k_err.index[-1]),
        "err_k_first": float(k_err.iloc[0]),
        "err_k10": float(k_err.get(10, np.nan)),
        "err_k_last": float(k_err.iloc[-1]),
        "err_reg_default": float(reg_err.loc[1e-3]),
        "err_reg_small": float(reg_err.loc[1e-6]),
        "word_errors": "; ".join(
            f"'{q}' {a:.3f} (uniform weights {b:.3f})" for q, a, b in zip(errors["query"], lle, uni)
        ),
        "words_verdict": (
            "the fitted weights beat a plain average of the neighbours for every word"
            if beats
            else "the fitted weights do not always beat a plain average of the neighbours"
        ),
        "embedding_gap": float(eq2.gap),
        "embedding_agree": float(eq2.agree),
        "profile": ch.profile,
        "wall_time": int(round(time.perf_counter() - ch.started)),
    }


def record_results(
    res: Results,
    *,
    embeddings: str,
    sizes: Sizes,
    k: int,
    reg: float,
    queries: list[str],
    checks: ClosedFormChecks,
    p1: Phase1,
    by_k: pd.DataFrame,
    by_reg: pd.DataFrame,
    recon: pd.DataFrame,
    errors: pd.DataFrame,
    eq2: EmbeddingCheck,
) -> None:
    """Add the chapter's parameters, records, tables and claims table (artefact ``lpl.eq6``) to ``res``.

    Records, in order: eq. 1 against scikit-learn, the four invariances, phase 1's gap and loss difference, the
    mean relative error per k, each query word's relative error, and the eq. 2 gap. Tables: ``phase1_history``,
    ``error_vs_k``, ``regulariser``, ``word_reconstructions``, ``claims``.
    """
    res.params.update(
        {
            "embeddings": embeddings,
            "max_words": sizes.max_words,
            "n_words": sizes.n_words,
            "k": k,
            "reg": reg,
            "steps": sizes.steps,
            "words": list(queries),
            "ks": sizes.ks,
            "regs": sizes.regs,
        }
    )
    roll = f"swiss roll {checks.n}, k={checks.k}"
    res.add("max |W - sklearn barycenter_weights|", data=roll, method="lle_weights", mean=checks.sklearn_diff)
    for _, r in checks.invariances.iterrows():
        res.add(f"max weight change under {r['transform']}", data=roll, method="lle_weights", mean=r["max_abs_diff"])
    phase = f"phase 1, {p1.steps} steps"
    res.add("max |W_learned - W_closed|", data=embeddings, method=phase, mean=p1.final_gap, n_words=p1.n_words)
    res.add("phase-1 loss minus closed-form loss", data=embeddings, method=phase, mean=p1.final_loss - p1.closed_loss)
    for _, r in by_k.iterrows():
        res.add(
            f"mean relative reconstruction error, k={int(r['k'])}",
            data=embeddings,
            method="lle_weights",
            mean=r["mean relative error"],
            k=int(r["k"]),
        )
    for _, r in errors.iterrows():
        res.add(
            f"relative reconstruction error of '{r['query']}'",
            data=embeddings,
            method=f"lle_weights k={k}",
            mean=r["relative error (LLE weights)"],
            uniform=r["relative error (uniform 1/k)"],
        )
    res.add(
        "eq. 2 embedding gap to sklearn (after Procrustes)",
        data=f"swiss roll {eq2.n}",
        method="lle_embedding",
        mean=eq2.gap,
    )
    res.add_table("phase1_history", p1.history)
    res.add_table("error_vs_k", by_k)
    res.add_table("regulariser", by_reg)
    res.add_table("word_reconstructions", recon)
    res.add_table("claims", claims(checks, p1, eq2))


def claims(checks: ClosedFormChecks, p1: Phase1, eq2: EmbeddingCheck) -> list[dict]:
    """The claims table: phase 1 learns the LLE weights (yes below 1e-4, else partly), the weights are invariant
    (yes below 1e-8), eq. 2 is LLE (yes below a 1e-4 gap to scikit-learn); artefact ``lpl.eq6``."""
    return [
        {
            "artefact": ARTEFACT,
            "claim": "phase 1 (gradient descent on eq. 6, rows summing to one) learns the LLE weights",
            "paper": "section 3.3.1",
            "ours": f"max |W_learned - W_closed| = {p1.final_gap:.1e} after {p1.steps} steps",
            "verdict": "yes" if p1.final_gap < 1e-4 else "partly",
        },
        {
            "artefact": ARTEFACT,
            "claim": "the sum-to-one weights are invariant to rotation, scaling and translation",
            "paper": "section 3.3 (Roweis and Saul)",
            "ours": f"largest weight change {checks.invariance_max:.1e}",
            "verdict": "yes" if checks.invariance_max < 1e-8 else "no",
        },
        {
            "artefact": ARTEFACT,
            "claim": "eq. 2 (the embedding step) is LLE",
            "paper": "section 2.1",
            "ours": f"gap to scikit-learn's LocallyLinearEmbedding {eq2.gap:.1e}",
            "verdict": "yes" if eq2.gap < 1e-4 else "no",
        },
    ]
