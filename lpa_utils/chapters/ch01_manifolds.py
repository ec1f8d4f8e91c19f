"""Chapter 01 (manifolds) and 02 (LLE weights): synthetic manifolds, embeddings compared by neighbourhood
preservation, a small torch autoencoder, the measurable version of the LPL paper's Figure 1, and two planted
controls with a known answer.

Figure 1 of the LPL paper (/work/shared/papers/lpl-locality-preserving-loss.txt) shows two manifolds M1 and M2
and an alignment f: M1 -> M2 learned from a few paired points, (a) with MSE (eq. 4) alone, whose neighbourhoods
"are distributed across the manifold due to overfitting", and (b) with MSE + LPL (eq. 5, eq. 7), which keeps the
local structure. :func:`figure1_experiment` makes that measurable: M2 = g(M1) + noise for a smooth map g the
learner never sees, a few pairs (x_i, y_i) are given, f (a small MLP, or an affine map) is fitted by full-batch
gradient descent with each loss, and every unpaired point is scored (:func:`alignment_items`):

- ``alignment_error``: ||f(x) - y||^2 divided by the mean ||y - mean(y)||^2 (0 is perfect, 1 is no better than
  mapping everything to the centre of M2);
- ``knn_preserved``: the fraction of the point's k nearest neighbours in M1 that are still among the k nearest
  neighbours of f(x) within f(M1) (the local structure kept by the map);
- ``hit_at_k``: whether the true counterpart y is among the k nearest points of M2 to f(x) (the retrieval score
  that the word-translation chapters report as precision@k).

Each run redraws the sample of M1, the noise of M2, the pairs and the initial f (:func:`draw_runs`; seeds from
:func:`derive_seed` of the chapter's base seed); both losses share a run's draw, so the comparison is paired over
runs and unpaired points, and :func:`~lpa_utils.report.verdicts.assess` gives each claim its interval and verdict.
All models of one sweep point (runs x losses) are trained at once as a batch of independent MLPs (batched matmuls;
each model has its own data, parameters and gradients), so the sweep is fast on 2 CPU cores and bit-identical on
rerun.

The planted controls (:func:`run_control`, :data:`POSITIVE`, :data:`NEGATIVE`) solve MSE and MSE + LPL for a
linear map exactly (:func:`lpa_closed_form`), each tuned on the same validation pairs over a grid of the same size,
on a problem where LPL must help (source noise, few pairs) and one where it cannot (separated clusters at the
ceiling); see the section's comment for why.
"""

from __future__ import annotations

import contextlib
import functools
import time
import zlib
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.stats import ortho_group
from sklearn.datasets import make_s_curve, make_swiss_roll
from sklearn.decomposition import PCA
from sklearn.manifold import MDS, LocallyLinearEmbedding, SpectralEmbedding, trustworthiness
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from lpa_utils.chapters.common import Chapter, list_param
from lpa_utils.checks import as_tensor, device_of, word_rows_strict
from lpa_utils.maths.lle import lle_weights, reconstruction_error
from lpa_utils.maths.losses import lpl_loss, mse_loss
from lpa_utils.maths.neighbors import knn, knn_kept, knn_overlap, neighbours_of_rows
from lpa_utils.report import plotting
from lpa_utils.report.papers import ARTEFACTS
from lpa_utils.report.results import Results
from lpa_utils.report.verdicts import INCONCLUSIVE, NOT_REPRODUCED, Verdict, assess, claim_row

MANIFOLDS = ("swiss_roll", "s_curve")
EMBEDDING_METHODS = ("PCA", "MDS", "LLE", "Laplacian eigenmaps", "Autoencoder")


@contextlib.contextmanager
def single_thread():
    """Run torch and BLAS on one CPU thread inside the block (restored after).

    The training loops here are many tiny ops; on a shared 2-core machine OpenMP synchronisation between two
    threads costs far more than it gains (measured: ~10x slower under load), and one thread is also what makes
    the results independent of the machine's core count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):  # NumPy / SciPy BLAS too (the controls' solves)
            yield
    finally:
        torch.set_num_threads(before)


def _one_thread(fn):
    """Decorator: run ``fn`` inside :func:`single_thread`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with single_thread():
            return fn(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------------- data


def make_manifold(name: str = "swiss_roll", n: int = 1500, noise: float = 0.05, seed: int = 0):
    """Points on a 2-D manifold curled up in 3-D, from scikit-learn.

    Returns ``(X, t)``: X (n, 3) float64 points, t (n,) the position along the roll (for colouring).
    ``swiss_roll`` is ``sklearn.datasets.make_swiss_roll`` rescaled by 1/10 so that both manifolds have unit-order
    coordinates; ``s_curve`` is ``make_s_curve``.
    """
    if name == "swiss_roll":
        X, t = make_swiss_roll(n_samples=n, noise=noise * 10.0, random_state=seed)
        X = X / 10.0
    elif name == "s_curve":
        X, t = make_s_curve(n_samples=n, noise=noise, random_state=seed)
    else:
        raise ValueError(f"make_manifold: name must be one of {MANIFOLDS}, got {name!r}")
    return X.astype(np.float64), t.astype(np.float64)


# --------------------------------------------------------------------------------- neighbourhoods

# ------------------------------------------------------------------------------------ autoencoder


@_one_thread
def train_autoencoder(
    X,
    n_components: int = 2,
    hidden: int = 64,
    epochs: int = 1500,
    lr: float = 1e-2,
    seed: int = 0,
    device=None,
    progress: bool = False,
):
    """A small torch autoencoder (D -> hidden -> n_components -> hidden -> D, tanh), full-batch Adam on the
    self-reconstruction MSE of standardised X (Rumelhart et al. 1985, section 2.1 of the LPL paper).

    Returns ``(Z, losses)``: Z (n, n_components) NumPy codes, losses (epochs,) NumPy reconstruction MSE per epoch.
    """
    dev = device_of(device)
    Xt = as_tensor(X, device=dev, name="train_autoencoder: X")
    Xt = (Xt - Xt.mean(0)) / Xt.std(0).clamp_min(1e-12)
    D = Xt.shape[1]
    g = torch.Generator(device="cpu").manual_seed(int(seed))

    def lin(i, o):
        layer = torch.nn.Linear(i, o)
        bound = 1.0 / np.sqrt(i)
        with torch.no_grad():
            layer.weight.copy_(torch.rand((o, i), generator=g) * 2 * bound - bound)
            layer.bias.copy_(torch.rand((o,), generator=g) * 2 * bound - bound)
        return layer

    enc = torch.nn.Sequential(lin(D, hidden), torch.nn.Tanh(), lin(hidden, n_components)).to(dev)
    dec = torch.nn.Sequential(lin(n_components, hidden), torch.nn.Tanh(), lin(hidden, D)).to(dev)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=lr)
    losses = np.empty(epochs)
    for e in tqdm(range(epochs), desc="autoencoder", leave=False, disable=not progress):
        opt.zero_grad()
        loss = (dec(enc(Xt)) - Xt).pow(2).mean()
        loss.backward()
        opt.step()
        losses[e] = loss.item()
    with torch.no_grad():
        Z = enc(Xt).cpu().numpy().astype(np.float64)
    return Z, losses


# ----------------------------------------------------------------------------------- embeddings


def embed_all(
    X,
    n_components: int = 2,
    n_neighbors: int = 12,
    methods=EMBEDDING_METHODS,
    seed: int = 0,
    ae_epochs: int = 1500,
    device=None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Embed X (n, D) in ``n_components`` dimensions with each method of section 2.1 of the LPL paper.

    PCA, metric MDS (SMACOF started from classical MDS), LLE (standard, eq. 1-2) and Laplacian eigenmaps
    (``SpectralEmbedding``) come from scikit-learn; "Autoencoder" is :func:`train_autoencoder`. Returns
    ``(embeddings, seconds)``: dicts method -> (n, n_components) array and method -> wall time.
    """
    X = np.asarray(X, dtype=np.float64)
    makers = {
        "PCA": lambda: PCA(n_components=n_components, random_state=seed).fit_transform(X),
        "MDS": lambda: MDS(
            n_components=n_components,
            n_init=1,
            max_iter=100,
            random_state=seed,
            init="classical_mds",
            normalized_stress="auto",
        ).fit_transform(X),
        "LLE": lambda: LocallyLinearEmbedding(
            n_neighbors=n_neighbors, n_components=n_components, eigen_solver="arpack", random_state=seed
        ).fit_transform(X),
        "Laplacian eigenmaps": lambda: SpectralEmbedding(
            n_components=n_components, n_neighbors=n_neighbors, random_state=seed
        ).fit_transform(X),
        "Autoencoder": lambda: train_autoencoder(X, n_components, epochs=ae_epochs, seed=seed, device=device)[0],
    }
    out, secs = {}, {}
    for m in methods:
        if m not in makers:
            raise ValueError(f"embed_all: unknown method {m!r}; choose from {tuple(makers)}")
        t0 = time.perf_counter()
        out[m] = np.asarray(makers[m](), dtype=np.float64)
        secs[m] = time.perf_counter() - t0
    return out, secs


def neighbourhood_table(X, embeddings: dict, k: int = 10, seconds: dict | None = None) -> pd.DataFrame:
    """How well each embedding keeps neighbourhoods: ``sklearn.manifold.trustworthiness`` (k) and the fraction
    of k-NN kept (:func:`knn_kept`), one row per method (plus its wall time if ``seconds`` is given)."""
    X = np.asarray(X, dtype=np.float64)
    rows = []
    for m, Y in embeddings.items():
        row = {"method": m, "trustworthiness": trustworthiness(X, Y, n_neighbors=k), f"{k}-NN kept": knn_kept(X, Y, k)}
        if seconds is not None:
            row["seconds"] = seconds.get(m, np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ seeds


def derive_seed(base_seed: int, *path) -> int:
    """The seed of one use in the chapter, derived from ``base_seed`` and a path of names and numbers, e.g.
    ``derive_seed(0, "fig1", "run", 3)``.

    ``np.random.SeedSequence`` of the base seed and the path (names hashed by CRC-32): different paths give
    independent streams, the same path the same seed, and a build with another base seed redraws everything.
    Returns an int in [0, 2**32) (valid for NumPy, scikit-learn and torch).
    """
    if isinstance(base_seed, bool) or not isinstance(base_seed, (int, np.integer)) or base_seed < 0:
        raise ValueError(f"derive_seed: base_seed must be an int >= 0, got {base_seed!r}")
    keys = [int(base_seed)]
    for part in path:
        if isinstance(part, str):
            keys.append(zlib.crc32(part.encode()))
        elif isinstance(part, (int, np.integer)) and not isinstance(part, bool) and part >= 0:
            keys.append(int(part))
        else:
            raise ValueError(f"derive_seed: path parts must be strings or ints >= 0, got {part!r}")
    return int(np.random.SeedSequence(keys).generate_state(1)[0])


# --------------------------------------------------------------------- the unknown map of Figure 1


def hidden_map(X, seed: int = 0, bend: float = 0.5, noise: float = 0.02, noise_seed: int | None = None):
    """The map g: M1 -> M2 the learner never sees: a random rotation, an anisotropic scaling and a smooth bend,
    ``g(x) = S Q x + bend * sin(x B)``, plus Gaussian noise of std ``noise`` (relative to the spread of M2).

    ``seed`` draws g (Q, S, B); the noise comes from the same generator, or from its own one seeded ``noise_seed``
    (so that runs can share g and redraw the noise). X: (n, D) -> (n, D) NumPy float64.
    """
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    D = X.shape[1]
    Q = ortho_group.rvs(D, random_state=rng)
    S = np.diag(np.linspace(1.5, 0.7, D))
    B = rng.normal(size=(D, D)) / np.sqrt(D)
    Y = X @ Q.T @ S + bend * np.sin(X @ B)
    scale = np.sqrt(((Y - Y.mean(0)) ** 2).sum(1).mean())
    noise_rng = rng if noise_seed is None else np.random.default_rng(noise_seed)
    return Y + noise * scale * noise_rng.normal(size=Y.shape)


def draw_runs(
    manifold: str, n: int, noise: float, *, bend: float, map_noise: float, map_seed: int, run_seeds
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (M1, M2) per run for the Figure-1 sweep: the same hidden map g (drawn with ``map_seed``), and per run
    seed ``s`` a new sample of M1 (``make_manifold(..., seed=derive_seed(s, "points"))``, its own manifold noise)
    and new noise on M2 (``derive_seed(s, "map noise")``).

    Returns ``(X (R, n, 3), Y (R, n, 3), t (R, n))`` NumPy float64.
    """
    Xs, Ys, ts = [], [], []
    for s in run_seeds:
        X, t = make_manifold(manifold, n, noise=noise, seed=derive_seed(s, "points"))
        Ys.append(hidden_map(X, seed=map_seed, bend=bend, noise=map_noise, noise_seed=derive_seed(s, "map noise")))
        Xs.append(X)
        ts.append(t)
    return np.stack(Xs), np.stack(Ys), np.stack(ts)


# ------------------------------------------------------------------------- batched MLP alignment


@dataclass
class BatchedMLP:
    """B independent MLPs f_b: R^D -> R^E (one ReLU hidden layer, or linear when ``hidden == 0``), evaluated
    with batched matmuls on inputs (B, n, D)."""

    params: list

    @classmethod
    def init(cls, seeds, D: int, E: int, hidden: int, dtype=torch.float32, device=None):
        """One model per entry of ``seeds``; model b's initial weights (uniform +-1/sqrt(fan_in), as
        ``torch.nn.Linear``) come from its own generator seeded ``seeds[b]``, so two models with the same seed
        start from the same point whatever else is in the batch."""
        shapes = [(D, hidden), (1, hidden), (hidden, E), (1, E)] if hidden else [(D, E), (1, E)]
        fans = [D, D, hidden, hidden] if hidden else [D, D]
        per_model = []
        for sd in seeds:
            g = torch.Generator(device="cpu").manual_seed(int(sd))
            per_model.append(
                [
                    (torch.rand(sh, generator=g, dtype=torch.float64) * 2 - 1) / np.sqrt(fi)
                    for sh, fi in zip(shapes, fans)
                ]
            )
        ps = [
            torch.stack([m[j] for m in per_model]).to(device=device_of(device), dtype=dtype).requires_grad_(True)
            for j in range(len(shapes))
        ]
        return cls(ps)

    def __call__(self, x: torch.Tensor, models=None) -> torch.Tensor:
        """x: (B', n, D) -> (B', n, E), for all models or the subset ``models`` (index tensor, len B')."""
        ps = self.params if models is None else [q[models] for q in self.params]
        if len(ps) == 4:
            W1, b1, W2, b2 = ps
            return torch.relu(torch.baddbmm(b1, x, W1)).bmm(W2) + b2
        W, b = ps
        return torch.baddbmm(b, x, W)


def _per_model(A: torch.Tensor, B: int, name: str) -> torch.Tensor:
    """(n, D) shared by all B models -> an expanded (B, n, D) view; (B, n, D) one per model -> itself."""
    if A.ndim == 2:
        return A.expand(B, -1, -1)
    if A.ndim == 3 and A.shape[0] == B:
        return A
    raise ValueError(f"fit_alignment_batch: {name} must be (n, D) or ({B}, n, D) for {B} models, got {tuple(A.shape)}")


def _lle_of_pairs(Xt: torch.Tensor, P: torch.Tensor, k: int, reg: float, dev):
    """Neighbours (B, p, k) of each model's paired rows within its own M1 and their LLE weights (B, p, k).

    ``Xt``: (n, D) shared (one k-NN search) or (B, n, D) per model; ``P``: (B, p) rows."""
    B, p = P.shape
    if Xt.ndim == 2:
        _, nb_all = knn(Xt, k, device=dev)  # neighbours within M1, self excluded
        nb = nb_all[P]
        W = lle_weights(Xt[P.reshape(-1)], nb.reshape(-1, k), reg=reg, ref=Xt, device=dev).reshape(B, p, k)
        return nb, W
    nbs, Ws = [], []
    for b in range(B):
        nb = knn(Xt[b], k, device=dev)[1][P[b]]
        nbs.append(nb)
        Ws.append(lle_weights(Xt[b][P[b]], nb, reg=reg, ref=Xt[b], device=dev))
    return torch.stack(nbs), torch.stack(Ws)


@_one_thread
def fit_alignment_batch(
    X,
    Y,
    pair_idx,
    betas,
    k: int = 10,
    hidden: int = 64,
    steps: int = 1500,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    reg: float = 1e-3,
    init_seeds=None,
    device=None,
    progress: bool = False,
):
    """Fit B alignments f_b: M1 -> M2 at once, model b on pairs ``pair_idx[b]`` with loss
    ``L_mse + betas[b] * L_lpl`` (eq. 7 without L_ortho; ``betas[b] = 0`` is MSE alone, eq. 4).

    For LPL (eq. 5) the k neighbours of each paired source point are taken from the *whole* source manifold (the
    unpaired points too), and their LLE weights (eq. 6, closed form) are frozen before training (phase 1); eq. 5
    is evaluated literally, on the mapped neighbours f(x_j).

    Args:
        X: source manifold M1, (n, D) shared by all models or (B, n, D) one per model (runs that redraw M1);
            Y: target manifold M2, (n, E) or (B, n, E) (row i is the counterpart of row i of X).
        pair_idx: (B, p) int rows that are paired for each model; betas: (B,) LPL weights.
        hidden: MLP width (0: an affine map); steps, lr, weight_decay: full-batch Adam.
        init_seeds: (B,) seed of each model's initial weights (default 0..B-1).
    Returns:
        ``(mapped, history)``: mapped (B, n, E) torch float32 = f_b(X_b) for every point, and history (steps, B)
        NumPy array of each model's training loss.
    """
    dev = device_of(device)
    Xt = as_tensor(X, device=dev, name="fit_alignment_batch: X")
    Yt = as_tensor(Y, device=dev, name="fit_alignment_batch: Y")
    P = as_tensor(pair_idx, device=dev, dtype=torch.int64, name="fit_alignment_batch: pair_idx")
    betas_t = as_tensor(np.asarray(betas, dtype=np.float32), device=dev, name="fit_alignment_batch: betas")
    if P.ndim != 2 or betas_t.shape != (P.shape[0],):
        raise ValueError(
            f"fit_alignment_batch: pair_idx must be (B, p) and betas (B,), got {tuple(P.shape)} "
            f"and {tuple(betas_t.shape)}"
        )
    B, p = P.shape
    Xb, Yb = _per_model(Xt, B, "X"), _per_model(Yt, B, "Y")
    if Xb.shape[1] != Yb.shape[1]:
        raise ValueError(f"fit_alignment_batch: X has {Xb.shape[1]} rows but Y has {Yb.shape[1]}")
    rows = torch.arange(B, device=dev)[:, None]
    xp, yp = Xb[rows, P], Yb[rows, P]  # (B, p, D), (B, p, E)
    lpl_models = torch.nonzero(betas_t != 0).squeeze(1)  # only these need f(neighbours)
    L = len(lpl_models)
    if L:
        nb, Wlle = _lle_of_pairs(Xt if Xt.ndim == 2 else Xt[lpl_models], P[lpl_models], k, reg, dev)
        yl, wl = yp[lpl_models].reshape(L * p, Yb.shape[2]), Wlle.reshape(L * p, k)
        # f at the neighbours: at p*k points each, or (when there are more of them than points) at all n points
        # of M1 once per step, then gathered -- the same numbers, fewer rows
        dense = p * k > Xb.shape[1]
        lrows = torch.arange(L, device=dev)[:, None]
        xn = Xb[lpl_models] if dense else Xb[lpl_models][lrows, nb.reshape(L, p * k)]  # (L, n or p*k, D)

    init_seeds = list(range(B)) if init_seeds is None else list(init_seeds)
    if len(init_seeds) != B:
        raise ValueError(f"fit_alignment_batch: init_seeds has {len(init_seeds)} entries for {B} models")
    f = BatchedMLP.init(init_seeds, Xb.shape[2], Yb.shape[2], hidden, device=dev)
    opt = torch.optim.Adam(f.params, lr=lr, weight_decay=weight_decay)
    hist = np.empty((steps, B))
    for s in tqdm(range(steps), desc="fit f", leave=False, disable=not progress):
        opt.zero_grad()
        per = mse_loss(f(xp).reshape(B * p, -1), yp.reshape(B * p, -1), reduction="none").reshape(B, p).mean(1)
        if L:
            fn = f(xn, lpl_models)
            fn = (fn[lrows, nb.reshape(L, p * k)] if dense else fn).reshape(L * p, k, -1)
            lpl = lpl_loss(yl, fn, wl, reduction="none").reshape(L, p).mean(1)
            per = per.index_add(0, lpl_models, betas_t[lpl_models] * lpl)
        per.sum().backward()  # models are independent: sum = each own grad
        opt.step()
        hist[s] = per.detach().cpu().numpy()
    with torch.no_grad():
        mapped = f(Xb)
    return mapped, hist


def alignment_items(mapped, X, Y, test_mask, k: int = 10, source_neighbours=None) -> dict[str, list[np.ndarray]]:
    """Per-point scores of B mapped copies of M1 on their unpaired points (``test_mask``, (B, n) bool).

    ``X``, ``Y``: (n, D) shared or (B, n, D) per model; ``source_neighbours``: the k-NN rows of each point within
    its M1, (n, k) or (B, n, k) (computed here when None). Returns dict of lists of B arrays (one entry per
    unpaired point, in row order): ``alignment_error`` ||f(x) - y||^2 / mean ||y - mean(y)||^2 (relative),
    ``knn_preserved`` (the fraction of x's k-NN in M1 still among the k-NN of f(x) in f(M1)), ``hit_at_k`` (1 when
    y is among the k points of M2 nearest to f(x)).
    """
    mapped = mapped.detach().cpu().to(torch.float64)
    B = mapped.shape[0]
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    mask = np.asarray(test_mask, dtype=bool)
    Xs = [X] * B if X.ndim == 2 else list(X)
    Ys = [Y] * B if Y.ndim == 2 else list(Y)
    if source_neighbours is None:
        cache = knn(X, k, device="cpu")[1].numpy() if X.ndim == 2 else None
        nxs = [cache if cache is not None else knn(Xs[b], k, device="cpu")[1].numpy() for b in range(B)]
    else:
        nb = np.asarray(source_neighbours)
        nxs = [nb] * B if nb.ndim == 2 else list(nb)
    out = {"alignment_error": [], "knn_preserved": [], "hit_at_k": []}
    for b in range(B):
        Z, Yt, m = mapped[b], torch.as_tensor(Ys[b]), mask[b]
        spread = float(((Yt - Yt.mean(0)) ** 2).sum(1).mean())
        out["alignment_error"].append(((Z - Yt) ** 2).sum(1).numpy()[m] / spread)
        _, nz = knn(Z, k, device="cpu")
        out["knn_preserved"].append(knn_overlap(nxs[b][m], nz.numpy()[m]))
        _, ny = knn(Yt, k, queries=Z[m], device="cpu")  # nearest points of M2 to f(x)
        out["hit_at_k"].append((ny.numpy() == np.nonzero(m)[0][:, None]).any(1).astype(np.float64))
    return out


def alignment_scores(mapped, X, Y, test_mask, k: int = 10) -> dict[str, np.ndarray]:
    """The means over unpaired points of :func:`alignment_items`: dict of (B,) arrays ``alignment_error``
    (relative), ``knn_preserved``, ``hit_at_k``."""
    items = alignment_items(mapped, X, Y, test_mask, k=k)
    return {key: np.array([v.mean() for v in vals]) for key, vals in items.items()}


def sample_pairs(n: int, n_pairs: int, seeds) -> np.ndarray:
    """(len(seeds), n_pairs) rows drawn without replacement, one NumPy generator per seed."""
    if not 1 <= n_pairs < n:
        raise ValueError(f"sample_pairs: n_pairs={n_pairs} must be in [1, {n - 1}]")
    return np.stack([np.random.default_rng(s).choice(n, size=n_pairs, replace=False) for s in seeds])


LOSSES = ("MSE", "MSE+LPL")  #: the two losses of the Figure-1 experiment (eq. 4; eq. 4 + beta eq. 5)
METRICS = ("alignment_error", "knn_preserved", "hit_at_k")  #: the per-point scores of :func:`alignment_items`


@dataclass
class Sweep:
    """The Figure-1 sweep: ``table`` (one row per number of pairs, run and loss: ``n_pairs``, ``run``, ``loss`` and
    the mean over unpaired points of each of :data:`METRICS`) and ``items`` (``(n_pairs, loss, metric)`` -> (R, m)
    per-point scores, m = n - n_pairs unpaired points, the same points for both losses of a run)."""

    table: pd.DataFrame
    items: dict

    def paired(self, n_pairs: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(MSE + LPL, MSE) per-point scores (R, m) of ``metric`` at ``n_pairs`` pairs, paired run by run."""
        return self.items[(n_pairs, "MSE+LPL", metric)], self.items[(n_pairs, "MSE", metric)]


def figure1_experiment(
    X,
    Y,
    n_pairs_list,
    run_seeds=(0, 1, 2),
    beta: float = 1.0,
    k: int = 10,
    hidden: int = 64,
    steps: int = 1500,
    lr: float = 1e-2,
    device=None,
    progress: bool = True,
) -> Sweep:
    """Sweep the number of paired points: for each size and run, both losses (MSE; MSE + beta * LPL) are fitted
    on the same pairs from the same initial f, and the unpaired points are scored (:func:`alignment_items`).

    ``X``, ``Y``: (R, n, D) one (M1, M2) per run (:func:`draw_runs`), or (n, D) shared by all runs. Run r draws
    its pairs with ``derive_seed(run_seeds[r], "pairs", n_pairs)`` and its initial f with
    ``derive_seed(run_seeds[r], "init", n_pairs)``. All 2R models of one size train as one batch.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    seeds = [int(s) for s in run_seeds]
    R, n = len(seeds), X.shape[-2]
    if X.ndim != Y.ndim or X.shape[:-1] != Y.shape[:-1] or (X.ndim == 3 and X.shape[0] != R):
        raise ValueError(
            f"figure1_experiment: X and Y must both be (n, D) or (R, n, D) with R = {R} runs, got "
            f"{X.shape} and {Y.shape}"
        )
    both = (lambda A: A) if X.ndim == 2 else (lambda A: np.concatenate([A, A]))
    nx = knn(X, k, device="cpu")[1].numpy() if X.ndim == 2 else np.stack([knn(x, k, device="cpu")[1] for x in X])
    rows, items = [], {}
    for p in tqdm(list(n_pairs_list), desc="pairs sweep", disable=not progress):
        p = int(p)
        pairs = sample_pairs(n, p, [derive_seed(s, "pairs", p) for s in seeds])
        P = np.concatenate([pairs, pairs])  # same pairs for both losses
        inits = [derive_seed(s, "init", p) for s in seeds]
        betas = np.array([0.0] * R + [beta] * R)
        mapped, _ = fit_alignment_batch(
            both(X), both(Y), P, betas, k=k, hidden=hidden, steps=steps, lr=lr, init_seeds=inits * 2, device=device
        )
        test = np.ones((2 * R, n), dtype=bool)
        test[np.arange(2 * R)[:, None], P] = False
        sc = alignment_items(mapped, both(X), both(Y), test, k=k, source_neighbours=both(nx))
        for j, loss in enumerate(LOSSES):
            for m in METRICS:
                items[(p, loss, m)] = np.stack(sc[m][j * R : (j + 1) * R])
            for r in range(R):
                rows.append(
                    {"n_pairs": p, "run": r, "loss": loss, **{m: float(sc[m][j * R + r].mean()) for m in METRICS}}
                )
    return Sweep(pd.DataFrame(rows), items)


# --------------------------------------------------------------------------- chapter 01: real words


def word_neighbourhood_projection(vectors, words, queries, k: int = 8, device=None) -> pd.DataFrame:
    """The k nearest words (euclidean) of each query word, all projected together onto the first two principal
    axes of the vocabulary (PCA fitted on ``vectors``). Returns a DataFrame: query, word, is_query, distance,
    pc1, pc2 (one row per query and per neighbour)."""
    V = np.asarray(vectors, dtype=np.float64)
    qi = word_rows_strict(words, queries, "word_neighbourhood_projection")
    dist, idx = knn(V, k + 1, queries=V[qi], device=device)
    idx, dist = idx.cpu().numpy(), dist.cpu().numpy()
    pca = PCA(n_components=2, random_state=0).fit(V)
    pts = pca.transform(V[idx.ravel()])
    words_arr = np.asarray(words, dtype=object)
    return pd.DataFrame(
        {
            "query": np.repeat(np.asarray(queries, dtype=object), k + 1),
            "word": words_arr[idx.ravel()],
            "is_query": (idx == qi[:, None]).ravel(),
            "distance": dist.ravel(),
            "pc1": pts[:, 0],
            "pc2": pts[:, 1],
        }
    )


def neighbourhood_linearity(
    vectors, k: int = 10, n_sample: int = 2000, seed: int = 0, reg: float = 1e-3, device=None
) -> dict[str, float]:
    """How "manifold-like" a vocabulary is: for ``n_sample`` random words, the relative eq. 1 error of the LLE
    reconstruction from k neighbours, against the same from k random words (least squares with sum-to-one
    weights too). Returns dict with both means."""

    V = np.asarray(vectors, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(V), size=min(n_sample, len(V)), replace=False)
    _, idx = neighbours_of_rows(V, rows, k, device=device)
    rand = torch.as_tensor(rng.integers(0, len(V), size=(len(rows), k)))
    norm2 = (V[rows] ** 2).sum(1)
    out = {}
    for name, nbr in (("neighbours", idx), ("random words", rand)):
        W = lle_weights(V[rows], nbr, reg=reg, ref=V, device=device, dtype=torch.float64)
        out[name] = float((reconstruction_error(V[rows], nbr, W, ref=V, device=device).cpu().numpy() / norm2).mean())
    return out


# ================================================================== planted controls: LPL must help / hurt
#
# For a linear map f(x) = x W, LPL (eq. 5) is an MSE on the LLE reconstruction x~_i = sum_j W_ij x_j of the paired
# source point from its neighbours (the weights sum to one, so sum_j W_ij f(x_j) = f(x~_i)), and
#     ||y - x W||^2 + ||y - x~ W||^2 = 2 ||y - (x + x~)/2 W||^2 + 1/2 ||(x - x~) W||^2:
# MSE + LPL (beta = 1) is an MSE on a smoothed input plus a penalty on W along x - x~. Two planted problems with a
# known answer follow from it (both with a planted rotation Q as the map, y = x0 Q):
#
# - positive: a densely sampled 2-D manifold curled through 50 dimensions, noise on the source side only, few
#   pairs. x~ averages a point's neighbours, so it is closer to the clean point than x is (the neighbours' noise
#   partly cancels), and x - x~ is mostly noise: LPL fits the map on cleaner inputs and penalises W along the
#   noise. LPL must raise retrieval of the true counterparts over MSE, also when MSE gets a ridge tuned on the same
#   validation pairs.
# - negative: well-separated clusters without noise, with more pairs than dimensions, so MSE recovers Q exactly
#   and retrieval is at its ceiling. The clusters are 50-dimensional blobs, not locally linear, so x~ is no
#   reconstruction of x and any beta > 0 pulls W off Q: LPL cannot raise retrieval and must raise the error.
#
# Both methods are solved exactly (normal equations), each tuned over a grid of 7 values on the same validation
# pairs: MSE over a ridge weight lambda (lambda = 0 included), MSE + LPL over beta.

RIDGE_GRID = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)  #: MSE's tuning grid: ridge weight (0: plain MSE, eq. 4)
BETA_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  #: MSE + LPL's tuning grid: LPL weight beta (eq. 7)
CONTROL_METRICS = ("hit", "error")  #: per test point: hit@1 of the true counterpart (0/1); relative error


@dataclass(frozen=True)
class ControlDesign:
    """A planted alignment problem: ``n`` source points in ``dim`` dimensions, the map a random rotation Q (the
    target is y = x0 Q, noise-free), ``n_pairs`` training pairs, ``n_val`` validation pairs, the other points test.

    ``kind="manifold"``: x0 on a 2-D manifold curled through ``dim`` dimensions (random Fourier features
    ``cos(z Omega + phi)`` of z uniform in the unit square, Omega ~ N(0, ``freq``^2)). ``kind="clusters"``:
    ``n_clusters`` unit-norm random centres, each point a centre plus an isotropic Gaussian of std
    ``spread / sqrt(dim)`` per coordinate. Both are centred and scaled to mean squared norm 1; the observed source
    is x = x0 + Gaussian noise of std ``noise / sqrt(dim)`` per coordinate (``noise`` is the noise's norm relative
    to the points'). LPL uses ``k`` neighbours of the observed source and LLE weights with regulariser ``reg``.
    """

    name: str
    kind: str
    n: int = 1000
    dim: int = 50
    n_pairs: int = 60
    n_val: int = 40
    noise: float = 0.0
    freq: float = 8.0
    n_clusters: int = 50
    spread: float = 0.3
    k: int = 10
    reg: float = 1e-3

    def __post_init__(self):
        if self.kind not in ("manifold", "clusters"):
            raise ValueError(f"ControlDesign: kind must be 'manifold' or 'clusters', got {self.kind!r}")
        if self.n_pairs + self.n_val >= self.n or self.k >= self.n:
            raise ValueError(f"ControlDesign {self.name}: needs n_pairs + n_val < n and k < n")

    @property
    def n_test(self) -> int:
        """The test points of a run (every point neither paired nor in validation)."""
        return self.n - self.n_pairs - self.n_val

    def describe(self) -> str:
        """The data of a caption: ``"2-D manifold in 50-D, 1,000 points, source noise 0.3, 60 pairs"``."""
        what = (
            f"2-D manifold in {self.dim}-D"
            if self.kind == "manifold"
            else f"{self.n_clusters} separated clusters in {self.dim}-D"
        )
        return f"{what}, {self.n:,} points, source noise {self.noise:g}, {self.n_pairs} pairs"


POSITIVE = ControlDesign("positive", "manifold", noise=0.3, freq=8.0)  #: LPL must help
NEGATIVE = ControlDesign("negative", "clusters", noise=0.0, n_clusters=50, spread=0.3)  #: LPL must not help


def control_data(design: ControlDesign, problem_seed: int, run_seed: int):
    """One draw of a planted problem: ``(x, x0, y)``, each (n, dim) NumPy float64 (observed source, clean source,
    target = x0 Q). ``problem_seed`` draws what a build keeps fixed (the manifold's features or the cluster
    centres, and Q); ``run_seed`` what a run redraws (the sample of points and the noise)."""
    prob, run = np.random.default_rng(problem_seed), np.random.default_rng(run_seed)
    n, D = design.n, design.dim
    if design.kind == "manifold":
        omega = prob.normal(size=(2, D)) * design.freq
        phase = prob.uniform(0.0, 2 * np.pi, size=D)
        x0 = np.cos(run.uniform(size=(n, 2)) @ omega + phase)
    else:
        centres = prob.normal(size=(design.n_clusters, D))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        labels = run.integers(0, design.n_clusters, size=n)
        x0 = centres[labels] + design.spread * run.normal(size=(n, D)) / np.sqrt(D)
    Q = ortho_group.rvs(D, random_state=prob)
    x0 = x0 - x0.mean(0)
    x0 /= np.sqrt((x0**2).sum(1).mean())
    x = x0 + design.noise * run.normal(size=x0.shape) / np.sqrt(D)
    return x, x0, x0 @ Q


def lpa_closed_form(X, Y, X_rec=None, *, beta: float = 0.0, lam: float = 0.0) -> np.ndarray:
    """The linear map W (D, E) that minimises

        (1/p) sum_i ||x_i W - y_i||^2 + beta (1/p) sum_i ||x~_i W - y_i||^2 + lam ||W||_F^2,

    i.e. eq. 4 + beta eq. 5 (+ a ridge) for f(x) = x W, where x~_i = sum_j W_ij x_j is the LLE reconstruction of x_i
    (for a linear f, sum_j W_ij f(x_j) = f(x~_i)). Normal equations ``((X^T X + beta X~^T X~) / p + lam I) W =
    (X^T Y + beta X~^T Y) / p``, solved by least squares (the minimum-norm solution when singular).

    X, X_rec: (p, D) paired source points and their reconstructions (X_rec may be None when beta = 0); Y: (p, E).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    p, D = X.shape
    A, B = X.T @ X, X.T @ Y
    if beta:
        if X_rec is None:
            raise ValueError("lpa_closed_form: beta > 0 needs the reconstructions X_rec")
        Xr = np.asarray(X_rec, dtype=np.float64)
        A, B = A + beta * Xr.T @ Xr, B + beta * Xr.T @ Y
    return np.linalg.lstsq(A / p + lam * np.eye(D), B / p, rcond=None)[0]


def _hits_and_errors(x, W, y, rows, Yt) -> tuple[np.ndarray, np.ndarray]:
    """For the source rows ``rows``: 1 where the nearest target (euclidean, among all rows of y) to x W is the true
    counterpart, and the relative squared error ||x W - y||^2 / mean ||y - mean(y)||^2."""
    Z = x[rows] @ W
    nearest = torch.cdist(torch.as_tensor(Z), Yt).argmin(1).numpy()
    spread = ((y - y.mean(0)) ** 2).sum(1).mean()
    return (nearest == rows).astype(np.float64), ((Z - y[rows]) ** 2).sum(1) / spread


@dataclass
class ControlResult:
    """One planted control over R runs: ``items[(method, metric)]`` (R, n_test) per test point (method "MSE" or
    "MSE+LPL", metric in :data:`CONTROL_METRICS`); ``chosen[method]`` (R,) the tuned lambda (MSE) or beta
    (MSE + LPL); ``recon`` (R,) mean ||x - x~|| / ||x|| over the paired points; ``denoise`` (R,) mean
    ||x~ - x0|| / ||x - x0|` (how much of the noise x~ leaves; NaN without noise)."""

    design: ControlDesign
    items: dict
    chosen: dict
    recon: np.ndarray
    denoise: np.ndarray

    def paired(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(MSE + LPL, MSE) per-test-point scores (R, n_test) of ``metric``, paired run by run."""
        return self.items[("MSE+LPL", metric)], self.items[("MSE", metric)]


@_one_thread
def run_control(
    design: ControlDesign, run_seeds, problem_seed: int, *, lams=RIDGE_GRID, betas=BETA_GRID
) -> ControlResult:
    """Run a planted control: per run seed, a new draw (:func:`control_data`) and a new split into training,
    validation and test points (``derive_seed(seed, "split")``); phase 1 (the k neighbours of each paired source
    point among all source points, :func:`~lpa_utils.maths.neighbors.neighbours_of_rows`, and their LLE weights,
    :func:`~lpa_utils.maths.lle.lle_weights`); then MSE with each ridge weight of ``lams`` and MSE + LPL with each
    beta of ``betas`` (:func:`lpa_closed_form`), each method keeping the value with the best validation hit@1
    (ties: the lower validation error), scored on the test points. Both methods share the draw of a run."""
    tuned = {"MSE": [(0.0, lam) for lam in lams], "MSE+LPL": [(b, 0.0) for b in betas]}
    items = {(m, q): [] for m in LOSSES for q in CONTROL_METRICS}
    chosen = {m: [] for m in LOSSES}
    recon, denoise = [], []
    for s in run_seeds:
        x, x0, y = control_data(design, problem_seed, s)
        order = np.random.default_rng(derive_seed(s, "split")).permutation(design.n)
        tr, va = order[: design.n_pairs], order[design.n_pairs : design.n_pairs + design.n_val]
        te = np.sort(order[design.n_pairs + design.n_val :])
        _, nb = neighbours_of_rows(x, tr, design.k, device="cpu")
        w = lle_weights(x[tr], nb, reg=design.reg, ref=x, device="cpu", dtype=torch.float64).numpy()
        xr = np.einsum("pk,pkd->pd", w, x[nb])
        recon.append(float((np.linalg.norm(x[tr] - xr, axis=1) / np.linalg.norm(x[tr], axis=1)).mean()))
        noise = np.linalg.norm(x[tr] - x0[tr], axis=1)
        denoise.append(float((np.linalg.norm(xr - x0[tr], axis=1) / noise).mean()) if noise.all() else np.nan)
        Yt = torch.as_tensor(y)
        for m, grid in tuned.items():
            fits = [lpa_closed_form(x[tr], y[tr], xr, beta=b, lam=lam) for b, lam in grid]
            val = [_hits_and_errors(x, W, y, va, Yt) for W in fits]
            best = max(range(len(grid)), key=lambda g: (val[g][0].mean(), -val[g][1].mean()))
            chosen[m].append(grid[best][1] if m == "MSE" else grid[best][0])
            hit, err = _hits_and_errors(x, fits[best], y, te, Yt)
            items[(m, "hit")].append(hit)
            items[(m, "error")].append(err)
    return ControlResult(
        design,
        {key: np.stack(v) for key, v in items.items()},
        {m: np.array(v) for m, v in chosen.items()},
        np.array(recon),
        np.array(denoise),
    )


def control_table(results) -> pd.DataFrame:
    """One row per control and method: hit@1 (%) and relative error (%) on the test points (mean over runs),
    the tuned value most often chosen, and (per control) ||x - x~|| / ||x|| and ||x~ - x0|| / ||x - x0||."""
    rows = []
    for res in results:
        for m in LOSSES:
            vals, counts = np.unique(res.chosen[m], return_counts=True)
            rows.append(
                {
                    "control": res.design.name,
                    "method": m,
                    "hit@1 (%)": 100 * res.items[(m, "hit")].mean(),
                    "error (% of spread)": 100 * res.items[(m, "error")].mean(),
                    "tuned": f"{'lambda' if m == 'MSE' else 'beta'} = {vals[counts.argmax()]:g}",
                    "||x - x~|| / ||x||": float(res.recon.mean()),
                    "||x~ - x0|| / ||x - x0||": float(np.nanmean(res.denoise))
                    if np.isfinite(res.denoise).any()
                    else np.nan,
                }
            )
    return pd.DataFrame(rows)


def plot_controls(results) -> plt.Figure:
    """Per control, each run's mean hit@1 (left axis of each panel) and error of MSE and MSE + LPL, one line per
    run joining the two methods (the pairing)."""
    fig, axes = plt.subplots(1, 2 * len(results), figsize=(4 * len(results) * 2, 3.8))
    for i, res in enumerate(results):
        for j, (metric, label) in enumerate((("hit", "hit@1 (%)"), ("error", "error (% of spread)"))):
            ax = axes[2 * i + j]
            per_run = np.stack([100 * res.items[(m, metric)].mean(1) for m in LOSSES])  # (2, R)
            ax.plot([0, 1], per_run, color="0.6", lw=1, marker="o", ms=4)
            ax.plot([0, 1], per_run.mean(1), color="black", lw=2.5, marker="s", ms=7, label="mean")
            ax.set_xticks([0, 1], list(LOSSES))
            ax.set_xlim(-0.3, 1.3)
            ax.set_ylabel(label)
            ax.set_title(f"{res.design.name} control: {metric}")
    axes[0].legend(loc="best")
    fig.tight_layout()
    return fig


# ================================================================ the notebook, one idea per cell
#
# The chapter notebook calls these: :func:`settings` (the profile's sizes and every seed, from ``base_seed``), the
# ``plot_*`` functions (each returns a matplotlib Figure), :func:`linear_residual`, :func:`fit_panels`,
# :func:`draw_runs` and :func:`figure1_experiment` (the sweep), :func:`effect_table`, :func:`run_controls`,
# :func:`record_results` (records and tables of the results file), :func:`findings` (the values glued into the
# prose), :func:`claims` and :func:`control_rows` (the verdicts, measured against
# ``lpa_utils.report.papers.ARTEFACTS["lpl.fig1"]`` and against the controls' designed outcomes).

ARTEFACT = "lpl.fig1"  #: the papers' artefact this chapter measures (lpa_utils.report.papers.ARTEFACTS)
QUERY_WORDS = ("king", "rain", "windows", "france", "guitar")  #: the words of the GloVe neighbourhood picture


@dataclass(frozen=True)
class Settings:
    """What one run of chapter 01 uses, resolved from the profile and the papermill parameters.

    ``base_seed``: every seed of the chapter derives from it (:meth:`seed`, :meth:`run_seeds`). Profile-dependent:
    ``runs`` (runs per compared cell of the Figure-1 sweep), ``control_runs`` (runs of each planted control),
    ``n_emb`` (points of section 1), ``ae_epochs`` (autoencoder epochs), ``n_fig1`` (points of M1 and M2),
    ``sizes`` (numbers of pairs of the sweep), ``steps`` (Adam steps of f), ``max_words`` (GloVe vocabulary).
    Fixed: ``noise`` (of the manifold), ``k_emb`` (neighbours of LLE / Laplacian eigenmaps), ``k`` (neighbourhood
    size throughout, the paper's k for LPL), ``beta`` (weight of LPL in eq. 7), ``hidden`` (width of the MLP f),
    ``bend`` (non-linear part of the hidden map g), ``map_noise`` (noise of M2, relative to its spread),
    ``panel_pairs`` (pairs of the two Figure-1 panels), ``n_linearity`` (words of the eq. 1 linearity test),
    ``k_words`` (neighbours drawn around each query word).
    """

    profile: str
    base_seed: int
    runs: int
    control_runs: int
    manifold: str
    embeddings: str
    n_emb: int
    ae_epochs: int
    n_fig1: int
    sizes: tuple[int, ...]
    steps: int
    max_words: int
    noise: float = 0.05
    k_emb: int = 12
    k: int = 10
    beta: float = 1.0
    hidden: int = 32
    bend: float = 1.5
    map_noise: float = 0.02
    panel_pairs: int = 20
    n_linearity: int = 2000
    k_words: int = 8

    def seed(self, *path) -> int:
        """The seed of one use, :func:`derive_seed` (``base_seed``, ``*path``), e.g. ``cfg.seed("embeddings")``."""
        return derive_seed(self.base_seed, *path)

    def run_seeds(self, section: str, runs: int | None = None) -> list[int]:
        """One seed per run of ``section`` (``runs`` of them, default :attr:`runs`)."""
        return [self.seed(section, "run", r) for r in range(self.runs if runs is None else runs)]

    def describe(self) -> str:
        """One line: the profile, the base seed and the sizes that depend on them."""
        return (
            f"profile {self.profile}, base seed {self.base_seed}: {self.n_emb} points for the embeddings, "
            f"Figure-1 sweep over {list(self.sizes)} pairs x {self.runs} runs, controls {self.control_runs} runs"
        )

    def params(self) -> dict:
        """The resolved sizes, as the results file's ``params``."""
        return {
            "base_seed": self.base_seed,
            "runs": self.runs,
            "control_runs": self.control_runs,
            "manifold": self.manifold,
            "n_points": self.n_emb,
            "n_fig1": self.n_fig1,
            "pair_sizes": list(self.sizes),
            "k": self.k,
            "beta": self.beta,
            "hidden": self.hidden,
            "steps": self.steps,
            "embeddings": self.embeddings,
            "max_words": self.max_words,
        }

    def glue(self) -> dict:
        """The values the prose quotes (``{glue:text}`n_fig1:,```, ...), as plain Python numbers and strings."""
        return {
            "base_seed": self.base_seed,
            "manifold_name": self.manifold.replace("_", " "),
            "n_emb": self.n_emb,
            "n_fig1": self.n_fig1,
            "n_runs": self.runs,
            "control_runs": self.control_runs,
            "k": self.k,
            "k_emb": self.k_emb,
            "beta": float(self.beta),
            "hidden": self.hidden,
            "steps": self.steps,
            "bend": float(self.bend),
            "map_noise": float(self.map_noise),
            "panel_pairs": self.panel_pairs,
            "n_linearity": self.n_linearity,
            "k_words": self.k_words,
            "pair_sizes": ", ".join(map(str, self.sizes)),
        }


def settings(
    ch: Chapter,
    *,
    base_seed: int = 0,
    runs: int | None = None,
    manifold: str = "swiss_roll",
    embeddings: str = "glove-en-50d",
    n_points: int | None = None,
    pair_sizes=None,
) -> Settings:
    """The chapter's :class:`Settings` in ``ch``'s profile; the arguments are the notebook's parameters.

    Full: 1,500 points, a 1,500-epoch autoencoder, M1 of 1,500 points, pairs 10 ... 500, 10 runs per cell, 20 runs
    per control, 600 steps, 20,000 words. Smoke: 300 points, 200 epochs, 400 points, pairs (10, 50), 3 runs,
    4 runs per control, 100 steps, 5,000 words. ``runs`` (>= 2), ``n_points`` and ``pair_sizes`` override the
    profile's choice when given (``pair_sizes`` a list of ints, or its text as papermill's ``-p`` passes it,
    e.g. ``"[10, 50]"``); ``base_seed`` (an int >= 0, or its text) seeds everything.
    """
    if manifold not in MANIFOLDS:
        raise ValueError(f"settings: manifold must be one of {MANIFOLDS}, got {manifold!r}")
    base_seed = _int_param("base_seed", base_seed, minimum=0)
    runs = None if runs is None else _int_param("runs", runs, minimum=2)
    pair_sizes = list_param("pair_sizes", pair_sizes, item=int, example="[10, 50, 200]")
    sizes = pair_sizes or ch.pick([10, 20, 50, 100, 200, 500], [10, 50])
    return Settings(
        profile=ch.profile,
        base_seed=base_seed,
        runs=runs or ch.pick(10, 3),
        control_runs=max(runs or 0, ch.pick(20, 4)),
        manifold=manifold,
        embeddings=embeddings,
        n_emb=int(n_points or ch.pick(1500, 300)),
        ae_epochs=ch.pick(1500, 200),
        n_fig1=ch.pick(1500, 400),
        sizes=tuple(int(p) for p in sizes),
        steps=ch.pick(600, 100),
        max_words=ch.pick(20_000, 5_000),
    )


def _int_param(name: str, value, minimum: int) -> int:
    """An int parameter (or its text, as papermill's ``-p`` passes it) >= ``minimum``; ValueError otherwise."""
    try:
        v = int(str(value).strip()) if isinstance(value, str) else value
    except ValueError:
        v = None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(
            f"parameter {name}: expected an int >= {minimum}, got {value!r}; write {name} = {minimum} in the "
            f"parameters cell, or papermill -p {name} {minimum}"
        )
    return int(v)


def manifold_label(name: str, n: int, noise: float) -> str:
    """The data of a caption: ``"synthetic swiss roll, 1,500 points, noise 0.05"``."""
    return f"synthetic {name.replace('_', ' ')}, {n:,} points, noise {noise:g}"


def figure1_label(name: str, n: int) -> str:
    """The data of Figure 1's captions: ``"synthetic swiss roll M1 (1,500 points) and its non-linear image M2"``."""
    return f"synthetic {name.replace('_', ' ')} M1 ({n:,} points) and its non-linear image M2"


def runs_label(runs: int, base_seed: int, what: str = "run") -> str:
    """The runs of a caption: ``"1 run (base seed 0)"`` or ``"10 runs (seeds derived from base seed 0)"``."""
    if runs == 1:
        return f"1 {what} (base seed {base_seed})"
    return f"{runs} {what}s (seeds derived from base seed {base_seed})"


# ------------------------------------------------------------------------- section 1: embeddings


def plot_embeddings(X, t, embeddings: dict, manifold: str) -> plt.Figure:
    """The manifold in 3-D beside each 2-D embedding, coloured by the position ``t`` along the roll.

    X: (n, 3); t: (n,); embeddings: method -> (n, 2), as :func:`embed_all` returns them (at most five).
    """
    fig = plt.figure(figsize=(13, 7.5))
    ax = fig.add_subplot(2, 3, 1, projection="3d")
    ax.scatter(X[:, 0], X[:, 1], X[:, 2], c=t, cmap="viridis", s=5)
    ax.set_title(f"{manifold.replace('_', ' ')} (3-D)")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    for i, (name, Y) in enumerate(embeddings.items(), start=2):
        plotting.scatter_2d(Y, c=t, ax=fig.add_subplot(2, 3, i), s=5, title=name)
    fig.suptitle(f"{len(X)} points, colour = position along the roll", y=1.0)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------- section 2: Figure 1, measured


def linear_residual(X, Y) -> float:
    """How non-linear the map X -> Y is: the relative error of the best affine map fitted on all pairs,
    mean ||A x + b - y||^2 / mean ||y - mean(y)||^2 (0: affine; 1: no better than the centre of Y).

    X: (n, D), Y: (n, E) NumPy arrays, row i paired with row i.
    """
    A = np.c_[X, np.ones(len(X))]
    coef, *_ = np.linalg.lstsq(A, Y, rcond=None)
    return float(((A @ coef - Y) ** 2).sum(1).mean() / ((Y - Y.mean(0)) ** 2).sum(1).mean())


@dataclass
class Panels:
    """Panels (a) MSE and (b) MSE + LPL of Figure 1: ``pairs`` (p,) paired rows shared by both fits, ``mapped``
    (2, n, E) torch f(M1) of each fit, ``scores`` (:func:`alignment_scores` on the unpaired points, (2,) each)."""

    pairs: np.ndarray
    mapped: torch.Tensor
    scores: dict


def fit_panels(
    X,
    Y,
    n_pairs: int,
    *,
    seed: int = 0,
    beta: float = 1.0,
    k: int = 10,
    hidden: int = 32,
    steps: int = 600,
    device=None,
) -> Panels:
    """Fit f on the same ``n_pairs`` pairs from the same initial f, with MSE (eq. 4) and with MSE + beta LPL
    (eq. 7 without L_ortho), and score both on the unpaired points. X: (n, D), Y: (n, E)."""
    n = len(X)
    pairs = sample_pairs(n, n_pairs, [seed])
    mapped, _ = fit_alignment_batch(
        X,
        Y,
        np.concatenate([pairs, pairs]),
        [0.0, beta],
        k=k,
        hidden=hidden,
        steps=steps,
        init_seeds=[seed, seed],
        device=device,
    )
    mask = np.ones((2, n), dtype=bool)
    mask[:, pairs[0]] = False
    return Panels(pairs[0], mapped, alignment_scores(mapped, X, Y, mask, k=k))


def plot_panels(X, t, Y, panels: Panels, k: int = 10, seed: int = 0) -> plt.Figure:
    """Our version of the paper's Figure 1, in the first two principal axes of M2 (Y, (n, E)).

    Grey: M2; coloured: f(M1) (colour = ``t``, the position along the roll in M1); crosses: the paired points.
    For two unpaired points A and B (drawn with ``seed``), the images of their k nearest neighbours in M1 (X) and
    where those neighbours truly lie in M2 (open circles). Titles give each panel's scores.
    """
    pca = PCA(2).fit(Y)

    def view(Z):
        return pca.transform(np.asarray(Z, dtype=np.float64))

    _, nb1 = knn(X, k, device="cpu")
    rng = np.random.default_rng(seed)
    anchors = rng.choice(np.setdiff1d(np.arange(len(X)), panels.pairs), size=2, replace=False)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharex=True, sharey=True)
    for b, (ax, name) in enumerate(zip(axes, ["(a) MSE", "(b) MSE + LPL"])):
        Z = panels.mapped[b].cpu().numpy()
        ax.scatter(*view(Y).T, s=4, color="0.85", label="true M2")
        ax.scatter(*view(Z).T, s=4, c=t, cmap="viridis", alpha=0.6)
        ax.scatter(*view(Y[panels.pairs]).T, marker="x", color="black", s=40, label="paired points")
        for a, col, lab in zip(anchors, ["tab:red", "tab:blue"], ["A", "B"]):
            nbs = nb1[a].numpy()
            ax.scatter(*view(Z[nbs]).T, s=40, color=col, edgecolor="black", label=f"f(neighbours of {lab})")
            ax.scatter(*view(Y[nbs]).T, s=40, facecolor="none", edgecolor=col, label=f"true neighbours of {lab}")
        sc = panels.scores
        ax.set_title(f"{name}: error {sc['alignment_error'][b]:.3f}, hit@{k} {sc['hit_at_k'][b]:.2f}")
        ax.set_xlabel("M2 principal axis 1")
    axes[0].set_ylabel("M2 principal axis 2")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def metric_labels(k: int = 10) -> dict[str, str]:
    """Axis label of each score of :data:`METRICS`."""
    return {
        "alignment_error": "relative alignment error (lower is better)",
        "knn_preserved": f"fraction of {k}-NN preserved",
        "hit_at_k": f"hit@{k} of the true counterpart",
    }


def plot_sweep(sweep: Sweep, k: int = 10) -> plt.Figure:
    """The three scores of :func:`figure1_experiment`'s sweep against the number of pairs, per loss: mean and
    a +-1 standard-deviation band over the runs (log x; log y for the alignment error)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    table = sweep.table.rename(columns={"run": "seed"})
    for ax, (m, label) in zip(axes, metric_labels(k).items()):
        plotting.curves_with_band(
            table,
            "n_pairs",
            m,
            "loss",
            ax=ax,
            logx=True,
            xlabel="number of paired points",
            ylabel=label,
            order=list(LOSSES),
        )
    axes[0].set_yscale("log")
    fig.suptitle(f"Unpaired points, mean ± std over {sweep.table['run'].nunique()} runs")
    fig.tight_layout()
    return fig


def sweep_summary(sweep: Sweep) -> pd.DataFrame:
    """Mean and standard deviation over runs of each score, per number of pairs and loss (rounded to 3 places)."""
    return sweep.table.groupby(["n_pairs", "loss"])[list(METRICS)].agg(["mean", "std"]).round(3)


# ---------------------------------------------------------------------------------- verdicts, Figure 1

#: How each score enters :func:`~lpa_utils.report.verdicts.assess`: whether higher is better, its unit (the
#: per-point scores are scaled by 100) and the equivalence margin stated for the claims.
METRIC_RULES = {
    "alignment_error": {"higher_is_better": False, "unit": "% of spread", "margin": 1.0},
    "knn_preserved": {"higher_is_better": True, "unit": "pp", "margin": 2.0},
    "hit_at_k": {"higher_is_better": True, "unit": "pp", "margin": 1.0},
}
AGREE_MARGIN = 0.1  #: with the most pairs, errors within 0.1 % of M2's spread count as "the losses agree"


def _assess(lpl, mse, metric: str, seed: int, paper=None, margin=None, label: str = "unpaired points") -> Verdict:
    rule = METRIC_RULES[metric]
    return assess(
        lpl,
        mse,
        paper_effect=paper,
        margin=rule["margin"] if margin is None else margin,
        higher_is_better=rule["higher_is_better"],
        unit=rule["unit"],
        item_label=label,
        seed=seed,
    )


def _bootstrap_seed(cfg: Settings, n_pairs: int, metric: str) -> int:
    """The bootstrap seed of one (number of pairs, score) cell: the effect table and the claims share it, so the
    same comparison gets the same interval wherever it is shown."""
    return cfg.seed("bootstrap", "figure 1", n_pairs, METRICS.index(metric))


def effect_table(cfg: Settings, sweep: Sweep) -> pd.DataFrame:
    """LPL's paired effect (MSE + LPL against MSE, positive = LPL better; error in % of M2's spread, the others in
    percentage points) at every number of pairs and score, with its 95 % interval over runs and unpaired points
    (:func:`~lpa_utils.report.verdicts.assess`). One row per (n_pairs, metric)."""
    rows = []
    for p in cfg.sizes:
        for m in METRICS:
            v = _assess(*sweep.paired(p, m), m, seed=_bootstrap_seed(cfg, p, m))
            rows.append({"n_pairs": p, "metric": m, "effect": v.effect, "low": v.low, "high": v.high, "unit": v.unit})
    return pd.DataFrame(rows)


def effect_view(effects: pd.DataFrame) -> pd.DataFrame:
    """:func:`effect_table` for reading: one row per number of pairs, one column per score (with its unit), each
    cell ``"effect [low, high]"`` to two decimals."""
    cell = effects.apply(lambda r: f"{r['effect']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}]", axis=1)
    view = effects.assign(cell=cell, column=effects["metric"] + " (" + effects["unit"] + ")")
    table = view.pivot(index="n_pairs", columns="column", values="cell")
    return table[[f"{m} ({METRIC_RULES[m]['unit']})" for m in METRICS]].rename_axis(columns=None)


def _direction(v: Verdict) -> str:
    """What an interval says when the paper gives no figure (LPL = the method, MSE = the base)."""
    if -v.margin <= v.low and v.high <= v.margin:
        return f"interval inside the margin of {v.margin:g} {v.unit}: no effect worth the name"
    if v.low > 0:
        return "interval above 0: MSE + LPL better"
    if v.high < 0:
        return "interval below 0: MSE + LPL worse"
    return "interval contains 0: no clear difference"


def figure1_verdicts(cfg: Settings, sweep: Sweep) -> dict[str, Verdict]:
    """The verdicts on Figure 1 (paired over runs and unpaired points): ``few_error``, ``few_knn``, ``few_hit``
    (the fewest pairs; Fig. 1 gives no number, so "no paper figure") and ``many_agree`` (the most pairs: the
    errors agree within :data:`AGREE_MARGIN`; the paper's effect 0, section 3.3)."""
    few, many = min(cfg.sizes), max(cfg.sizes)

    def at(p, m, **kw):
        return _assess(*sweep.paired(p, m), m, _bootstrap_seed(cfg, p, m), **kw)

    return {
        "few_error": at(few, "alignment_error"),
        "few_knn": at(few, "knn_preserved"),
        "few_hit": at(few, "hit_at_k"),
        "many_agree": at(many, "alignment_error", paper=0.0, margin=AGREE_MARGIN),
    }


def claims(cfg: Settings, verdicts: dict[str, Verdict]) -> pd.DataFrame:
    """The chapter's claims table on the paper's Figure 1 (artefact :data:`ARTEFACT`), one
    :func:`~lpa_utils.report.verdicts.claim_row` per verdict of :func:`figure1_verdicts`."""
    few, many, k = min(cfg.sizes), max(cfg.sizes), cfg.k
    qualitative = "Fig. 1 is a picture, no number: "
    text = {
        "few_error": f"with few pairs ({few}), MSE + LPL maps unpaired points closer to their counterparts than MSE",
        "few_knn": f"with few pairs ({few}), MSE + LPL keeps each point's {k} nearest neighbours together where MSE "
        "scatters them",
        "few_hit": f"with few pairs ({few}), MSE + LPL puts the true counterpart among the {k} nearest points of M2 "
        "more often",
        "many_agree": f"with many pairs ({many}), MSE alone suffices: the two losses agree",
    }
    rows = []
    for key, v in verdicts.items():
        note = (
            "section 3.3: MSE is optimal with a large parallel set; read as no difference"
            if key == "many_agree"
            else qualitative + _direction(v)
        )
        rows.append(claim_row(ARTEFACT, text[key], v, note=note))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------- verdicts, controls

#: The controls' claims: (control, metric, expected effect, margin, claim). The expected effect is the design's
#: direction with a nominal size of twice the margin (it decides only between "inconclusive" and "not reproduced"
#: when the interval contains 0); hit@1 in percentage points, the error in % of the target's spread.
CONTROL_CLAIMS = (
    (
        "positive",
        "hit",
        2.0,
        1.0,
        "source noise, few pairs: MSE + LPL retrieves more true counterparts (hit@1) than MSE with a tuned ridge",
    ),
    ("negative", "hit", 0.0, 1.0, "clusters at the ceiling: MSE + LPL cannot raise hit@1 (no difference)"),
    ("negative", "error", -0.2, 0.1, "clusters at the ceiling: MSE + LPL pulls the map off the planted rotation"),
)
CONTROL_UNITS = {"hit": ("pp", True), "error": ("% of spread", False)}


def run_controls(cfg: Settings, designs=(POSITIVE, NEGATIVE)) -> dict[str, ControlResult]:
    """Each planted control over ``cfg.control_runs`` runs, seeds derived from the base seed: name -> result."""
    return {
        d.name: run_control(d, cfg.run_seeds(f"control {d.name}", cfg.control_runs), cfg.seed("control", d.name))
        for d in designs
    }


def control_verdicts(cfg: Settings, controls: dict[str, ControlResult]) -> list[tuple[str, Verdict]]:
    """(claim, :class:`~lpa_utils.report.verdicts.Verdict`) of each row of :data:`CONTROL_CLAIMS`, paired over
    runs and test points, against the control's expected effect."""
    out = []
    for i, (name, metric, expected, margin, claim) in enumerate(CONTROL_CLAIMS):
        unit, higher = CONTROL_UNITS[metric]
        v = assess(
            *controls[name].paired(metric),
            paper_effect=expected,
            margin=margin,
            higher_is_better=higher,
            unit=unit,
            item_label="test points",
            seed=cfg.seed("bootstrap", "control", i),
        )
        out.append((claim, v))
    return out


def control_rows(verdicts: list[tuple[str, Verdict]]) -> pd.DataFrame:
    """The controls' table, one :func:`~lpa_utils.report.verdicts.claim_row` per claim; its "paper" column holds
    the control's expected effect (a design, not a figure of the paper), as its note says."""
    note = (
        "planted control: 'paper' is the effect the design expects (its direction, nominal size 2x the margin; 0 for "
        "'no difference'), not a figure of the paper"
    )
    return pd.DataFrame([claim_row(ARTEFACT, c, v, model="planted control", note=note) for c, v in verdicts])


# ------------------------------------------------------------------- results, findings


def record_results(
    res: Results,
    cfg: Settings,
    *,
    table: pd.DataFrame,
    sweep: Sweep,
    effects: pd.DataFrame,
    controls: dict[str, ControlResult],
    proj: pd.DataFrame,
    lin: dict,
    lin_resid: float,
) -> None:
    """The chapter's records and tables in ``res``: trustworthiness and k-NN kept per embedding (``table``), each
    score of the sweep per number of pairs and loss (values over runs; the paper's Fig. 1 is qualitative), each
    control's hit@1 and error per method (values over runs), the eq. 1 reconstruction errors of words (``lin``),
    the hidden map's linear residual; tables ``neighbourhood_table``, ``figure1_sweep``, ``figure1_effects``,
    ``controls_summary`` and ``glove_neighbourhoods``; ``cfg``'s sizes in the params."""
    k = cfg.k
    res.params.update(cfg.params())
    for _, r in table.iterrows():
        res.add("trustworthiness", data=cfg.manifold, method=r["method"], mean=r["trustworthiness"], k=k)
        res.add(f"{k}-NN kept", data=cfg.manifold, method=r["method"], mean=r[f"{k}-NN kept"])
    fig1 = ARTEFACTS[ARTEFACT].label
    for (n, loss), g in sweep.table.groupby(["n_pairs", "loss"]):
        for m in METRICS:
            res.add(
                f"{m} @ {n} pairs",
                data=f"{cfg.manifold} -> hidden map",
                method=loss,
                values=g[m].tolist(),
                n_pairs=int(n),
                metric=m,
                paper=f"LPL keeps neighbourhoods where MSE overfits ({fig1}, qualitative)",
                paper_ref=fig1,
            )
    for name, c in controls.items():
        for m in LOSSES:
            for metric in CONTROL_METRICS:
                res.add(
                    f"control {name}: {metric}",
                    data=c.design.describe(),
                    method=m,
                    values=c.items[(m, metric)].mean(1).tolist(),
                    chosen=c.chosen[m].tolist(),
                )
        res.add(f"control {name}: ||x - x~|| / ||x||", data=c.design.describe(), method="LLE", values=c.recon.tolist())
    res.add(
        "relative reconstruction error from neighbours",
        data=cfg.embeddings,
        method=f"LLE (k={k})",
        mean=lin["neighbours"],
    )
    res.add(
        "relative reconstruction error from random words",
        data=cfg.embeddings,
        method=f"LLE (k={k})",
        mean=lin["random words"],
    )
    res.add(
        "linear residual of the hidden map",
        data=f"{cfg.manifold} -> hidden map",
        method="affine least squares",
        mean=lin_resid,
    )
    res.add_table("neighbourhood_table", table)
    res.add_table("figure1_sweep", sweep.table)
    res.add_table("figure1_effects", effects)
    res.add_table("controls_summary", control_table(list(controls.values())))
    res.add_table("glove_neighbourhoods", proj[["query", "word", "distance"]])


def findings(
    cfg: Settings,
    *,
    table: pd.DataFrame,
    sweep: Sweep,
    verdicts: dict[str, Verdict],
    controls: dict[str, ControlResult],
    cverdicts: list[tuple[str, Verdict]],
) -> dict:
    """The values the prose quotes, as plain Python numbers and strings (for ``ch.glue``).

    Embeddings: ``best_method`` (highest trustworthiness), ``best_trust``, ``best_kept``, ``pca_trust``,
    ``pca_kept``. Figure 1: ``few_pairs`` / ``many_pairs``, the mean over runs of the error and hit@k of each loss
    there (``err_few_mse``, ``err_few_lpl``, ``hit_few_mse``, ``hit_few_lpl``, ``err_many_mse``, ``err_many_lpl``);
    for each verdict of :func:`figure1_verdicts` its line ``v_<key>`` (effect, interval, runs, margin, verdict)
    and ``d_<key>`` (what the interval says). Controls: ``pos_hit_mse`` / ``pos_hit_lpl`` (hit@1, %), ``pos_recon``
    and ``neg_recon`` (||x - x~|| / ||x||), ``pos_denoise`` (||x~ - x0|| / ||x - x0||), ``pos_beta`` / ``pos_lam``
    / ``neg_beta`` (the values chosen most often), ``neg_err_lpl`` / ``neg_err_mse`` (%), ``vc_0`` ... (each
    control verdict's line), ``pos_error_line`` (the positive control's error, not a claim), ``controls_design``
    (their sizes), ``controls_reading`` (whether every control verdict is "reproduced", as designed).
    """
    k = cfg.k
    best = table.sort_values("trustworthiness", ascending=False).iloc[0]
    pca_row = table.set_index("method").loc["PCA"]
    few, many = min(cfg.sizes), max(cfg.sizes)
    mean = sweep.table.groupby(["n_pairs", "loss"])[list(METRICS)].mean()
    pos, neg = controls["positive"], controls["negative"]

    def most(values) -> float:
        vals, counts = np.unique(values, return_counts=True)
        return float(vals[counts.argmax()])

    pos_err = assess(
        *pos.paired("error"),
        paper_effect=None,
        margin=METRIC_RULES["alignment_error"]["margin"],
        higher_is_better=False,
        unit="% of spread",
        item_label="test points",
        seed=cfg.seed("bootstrap", "control", "error"),
    )
    out = {
        "best_method": str(best["method"]),
        "best_trust": float(best["trustworthiness"]),
        "best_kept": float(best[f"{k}-NN kept"]),
        "pca_trust": float(pca_row["trustworthiness"]),
        "pca_kept": float(pca_row[f"{k}-NN kept"]),
        "few_pairs": int(few),
        "many_pairs": int(many),
        "err_few_mse": float(mean.loc[(few, "MSE"), "alignment_error"]),
        "err_few_lpl": float(mean.loc[(few, "MSE+LPL"), "alignment_error"]),
        "hit_few_mse": float(mean.loc[(few, "MSE"), "hit_at_k"]),
        "hit_few_lpl": float(mean.loc[(few, "MSE+LPL"), "hit_at_k"]),
        "err_many_mse": float(mean.loc[(many, "MSE"), "alignment_error"]),
        "err_many_lpl": float(mean.loc[(many, "MSE+LPL"), "alignment_error"]),
        "pos_hit_mse": float(100 * pos.items[("MSE", "hit")].mean()),
        "pos_hit_lpl": float(100 * pos.items[("MSE+LPL", "hit")].mean()),
        "pos_recon": float(pos.recon.mean()),
        "pos_denoise": float(np.nanmean(pos.denoise)),
        "pos_beta": most(pos.chosen["MSE+LPL"]),
        "pos_lam": most(pos.chosen["MSE"]),
        "neg_recon": float(neg.recon.mean()),
        "neg_beta": most(neg.chosen["MSE+LPL"]),
        "neg_hit_mse": float(100 * neg.items[("MSE", "hit")].mean()),
        "neg_err_lpl": float(100 * neg.items[("MSE+LPL", "error")].mean()),
        "neg_err_mse": float(100 * neg.items[("MSE", "error")].mean()),
        "pos_error_line": pos_err.text(),
        "controls_design": f"positive: {POSITIVE.describe()}; negative: {NEGATIVE.describe()}",
        "ridge_grid": ", ".join(f"{v:g}" for v in RIDGE_GRID),
        "beta_grid": ", ".join(f"{v:g}" for v in BETA_GRID),
    }
    for key, v in verdicts.items():
        out[f"v_{key}"] = v.text()
        out[f"d_{key}"] = _direction(v)
    for i, (_, v) in enumerate(cverdicts):
        out[f"vc_{i}"] = v.text()
    failed = [c for c, v in cverdicts if v.verdict == NOT_REPRODUCED]
    open_ = [c for c, v in cverdicts if v.verdict == INCONCLUSIVE]
    reading = []
    if failed:
        reading.append("Not as designed, so the code or the setup is suspect: " + "; ".join(failed) + ".")
    if open_:
        reading.append(
            f"Undecided with {pos.items[('MSE', 'hit')].shape[0]} runs (more runs needed): " + "; ".join(open_) + "."
        )
    out["controls_reading"] = (
        " ".join(reading)
        or "Every control verdict comes out as designed: the code and the rule find the effects that are there."
    )
    return out


# ----------------------------------------------------------------------------- section 3: GloVe


def plot_word_neighbourhoods(proj: pd.DataFrame, title: str) -> plt.Figure:
    """Each query word (large, bold label) and its nearest words, from :func:`word_neighbourhood_projection`'s
    DataFrame (query, word, is_query, pc1, pc2), in the vocabulary's first two principal axes."""
    fig, ax = plt.subplots(figsize=(8, 6))
    for q in dict.fromkeys(proj["query"]):
        g = proj[proj["query"] == q]
        ax.scatter(g["pc1"], g["pc2"], s=np.where(g["is_query"], 80, 25), color=plotting.color_for(q), label=q)
        for _, r in g.iterrows():
            ax.annotate(
                r["word"],
                (r["pc1"], r["pc2"]),
                fontsize=8,
                xytext=(3, 3),
                textcoords="offset points",
                fontweight="bold" if r["is_query"] else "normal",
            )
    ax.set_xlabel("principal axis 1 of the vocabulary")
    ax.set_ylabel("principal axis 2 of the vocabulary")
    ax.set_title(title)
    ax.legend(title="query")
    return fig
