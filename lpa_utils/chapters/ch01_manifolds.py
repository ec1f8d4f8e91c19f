"""Chapter 01 (manifolds) and 02 (LLE weights): synthetic manifolds, embeddings compared by neighbourhood
preservation, a small torch autoencoder, and the measurable version of the LPL paper's Figure 1.

Figure 1 of the LPL paper (/work/shared/papers/lpl-locality-preserving-loss.txt) shows two manifolds M1 and M2
and an alignment f: M1 -> M2 learned from a few paired points, (a) with MSE (eq. 4) alone, whose neighbourhoods
"are distributed across the manifold due to overfitting", and (b) with MSE + LPL (eq. 5, eq. 7), which keeps the
local structure. :func:`figure1_experiment` makes that measurable: M2 = g(M1) + noise for a smooth map g the
learner never sees, a few pairs (x_i, y_i) are given, f (a small MLP, or a linear map) is fitted by full-batch
gradient descent with each loss, and the unpaired points score

- ``alignment_error``: mean ||f(x) - y||^2 over unpaired points divided by the mean ||y - mean(y)||^2 (0 is
  perfect, 1 is no better than mapping everything to the centre of M2);
- ``knn_preserved``: the fraction of each unpaired point's k nearest neighbours in M1 that are still among the k
  nearest neighbours of f(x) within f(M1) (the local structure kept by the map);
- ``hit_at_k``: how often the true counterpart y is among the k nearest points of M2 to f(x) (the retrieval
  score that the word-translation chapters report as precision@k).

All models of one sweep point (seeds x losses) are trained at once as a batch of independent MLPs (batched
matmuls; each model has its own parameters and gradients), so the sweep is fast on 2 CPU cores and bit-identical
on rerun.
"""
from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lpa_utils.checks import as_tensor, device_of, word_rows_strict
from lpa_utils.maths.lle import lle_weights, reconstruction_error
from lpa_utils.maths.losses import lpl_loss, mse_loss
from lpa_utils.maths.neighbors import knn, knn_kept, knn_overlap, neighbours_of_rows

MANIFOLDS = ("swiss_roll", "s_curve")
EMBEDDING_METHODS = ("PCA", "MDS", "LLE", "Laplacian eigenmaps", "Autoencoder")


@contextlib.contextmanager
def single_thread():
    """Run torch on one CPU thread inside the block (restored after).

    The training loops here are many tiny ops; on a shared 2-core machine OpenMP synchronisation between two
    threads costs far more than it gains (measured: ~10x slower under load), and one thread is also what makes
    the results independent of the machine's core count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
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
    from sklearn.datasets import make_s_curve, make_swiss_roll

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
def train_autoencoder(X, n_components: int = 2, hidden: int = 64, epochs: int = 1500, lr: float = 1e-2,
                      seed: int = 0, device=None, progress: bool = False):
    """A small torch autoencoder (D -> hidden -> n_components -> hidden -> D, tanh), full-batch Adam on the
    self-reconstruction MSE of standardised X (Rumelhart et al. 1985, section 2.1 of the LPL paper).

    Returns ``(Z, losses)``: Z (n, n_components) NumPy codes, losses (epochs,) NumPy reconstruction MSE per epoch.
    """
    from tqdm.auto import tqdm

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

def embed_all(X, n_components: int = 2, n_neighbors: int = 12, methods=EMBEDDING_METHODS, seed: int = 0,
              ae_epochs: int = 1500, device=None) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Embed X (n, D) in ``n_components`` dimensions with each method of section 2.1 of the LPL paper.

    PCA, metric MDS (SMACOF started from classical MDS), LLE (standard, eq. 1-2) and Laplacian eigenmaps (``SpectralEmbedding``) come
    from scikit-learn; "Autoencoder" is :func:`train_autoencoder`. Returns ``(embeddings, seconds)``: dicts
    method -> (n, n_components) array and method -> wall time.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import MDS, LocallyLinearEmbedding, SpectralEmbedding

    X = np.asarray(X, dtype=np.float64)
    makers = {
        "PCA": lambda: PCA(n_components=n_components, random_state=seed).fit_transform(X),
        "MDS": lambda: MDS(n_components=n_components, n_init=1, max_iter=100, random_state=seed, init="classical_mds",
                           normalized_stress="auto").fit_transform(X),
        "LLE": lambda: LocallyLinearEmbedding(n_neighbors=n_neighbors, n_components=n_components,
                                              eigen_solver="arpack", random_state=seed).fit_transform(X),
        "Laplacian eigenmaps": lambda: SpectralEmbedding(n_components=n_components, n_neighbors=n_neighbors,
                                                         random_state=seed).fit_transform(X),
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
    from sklearn.manifold import trustworthiness

    X = np.asarray(X, dtype=np.float64)
    rows = []
    for m, Y in embeddings.items():
        row = {"method": m, "trustworthiness": trustworthiness(X, Y, n_neighbors=k), f"{k}-NN kept": knn_kept(X, Y, k)}
        if seconds is not None:
            row["seconds"] = seconds.get(m, np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------- the unknown map of Figure 1

def hidden_map(X, seed: int = 0, bend: float = 0.5, noise: float = 0.02):
    """The map g: M1 -> M2 the learner never sees: a random rotation, an anisotropic scaling and a smooth bend,
    ``g(x) = S Q x + bend * sin(x B)``, plus Gaussian noise of std ``noise`` (relative to the spread of M2).

    X: (n, D) -> (n, D) NumPy float64.
    """
    from scipy.stats import ortho_group

    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    D = X.shape[1]
    Q = ortho_group.rvs(D, random_state=rng)
    S = np.diag(np.linspace(1.5, 0.7, D))
    B = rng.normal(size=(D, D)) / np.sqrt(D)
    Y = X @ Q.T @ S + bend * np.sin(X @ B)
    scale = np.sqrt(((Y - Y.mean(0)) ** 2).sum(1).mean())
    return Y + noise * scale * rng.normal(size=Y.shape)


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
        shapes = ([(D, hidden), (1, hidden), (hidden, E), (1, E)] if hidden else [(D, E), (1, E)])
        fans = [D, D, hidden, hidden] if hidden else [D, D]
        per_model = []
        for sd in seeds:
            g = torch.Generator(device="cpu").manual_seed(int(sd))
            per_model.append([(torch.rand(sh, generator=g, dtype=torch.float64) * 2 - 1) / np.sqrt(fi)
                              for sh, fi in zip(shapes, fans)])
        ps = [torch.stack([m[j] for m in per_model]).to(device=device_of(device), dtype=dtype).requires_grad_(True)
              for j in range(len(shapes))]
        return cls(ps)

    def __call__(self, x: torch.Tensor, models=None) -> torch.Tensor:
        """x: (B', n, D) -> (B', n, E), for all models or the subset ``models`` (index tensor, len B')."""
        ps = self.params if models is None else [q[models] for q in self.params]
        if len(ps) == 4:
            W1, b1, W2, b2 = ps
            return torch.relu(torch.baddbmm(b1, x, W1)).bmm(W2) + b2
        W, b = ps
        return torch.baddbmm(b, x, W)


@_one_thread
def fit_alignment_batch(X, Y, pair_idx, betas, k: int = 10, hidden: int = 64, steps: int = 1500,
                        lr: float = 1e-2, weight_decay: float = 0.0, reg: float = 1e-3, init_seeds=None,
                        device=None, progress: bool = False):
    """Fit B alignments f_b: M1 -> M2 at once, model b on pairs ``pair_idx[b]`` with loss
    ``L_mse + betas[b] * L_lpl`` (eq. 7 without L_ortho; ``betas[b] = 0`` is MSE alone, eq. 4).

    For LPL (eq. 5) the k neighbours of each paired source point are taken from the *whole* source manifold X
    (the unpaired points too), and their LLE weights (eq. 6, closed form) are frozen before training (phase 1).

    Args:
        X: (n, D) source manifold M1; Y: (n, E) target manifold M2 (row i is the counterpart of X[i]).
        pair_idx: (B, p) int rows that are paired for each model; betas: (B,) LPL weights.
        hidden: MLP width (0: a linear map); steps, lr, weight_decay: full-batch Adam.
        init_seeds: (B,) seed of each model's initial weights (default 0..B-1).
    Returns:
        ``(mapped, history)``: mapped (B, n, E) torch float32 = f_b(X) for every point, and history (steps, B)
        NumPy array of each model's training loss.
    """
    from tqdm.auto import tqdm

    dev = device_of(device)
    Xt = as_tensor(X, device=dev, name="fit_alignment_batch: X")
    Yt = as_tensor(Y, device=dev, name="fit_alignment_batch: Y")
    P = as_tensor(pair_idx, device=dev, dtype=torch.int64, name="fit_alignment_batch: pair_idx")
    betas_t = as_tensor(np.asarray(betas, dtype=np.float32), device=dev, name="fit_alignment_batch: betas")
    if P.ndim != 2 or betas_t.shape != (P.shape[0],):
        raise ValueError(f"fit_alignment_batch: pair_idx must be (B, p) and betas (B,), got {tuple(P.shape)} "
                         f"and {tuple(betas_t.shape)}")
    if Xt.shape[0] != Yt.shape[0]:
        raise ValueError(f"fit_alignment_batch: X has {Xt.shape[0]} rows but Y has {Yt.shape[0]}")
    B, p = P.shape
    _, nb_all = knn(Xt, k, device=dev)                                  # neighbours within M1, self excluded
    nb = nb_all[P]                                                      # (B, p, k)
    Wlle = lle_weights(Xt[P.reshape(-1)], nb.reshape(-1, k), reg=reg, ref=Xt, device=dev).reshape(B, p, k)
    xp, yp = Xt[P], Yt[P]                                               # (B, p, D), (B, p, E)
    lpl_models = torch.nonzero(betas_t != 0).squeeze(1)                # only these need f(neighbours)
    L = len(lpl_models)
    xn = Xt[nb[lpl_models].reshape(L, p * k)]                           # (L, p*k, D)
    yl, wl = yp[lpl_models].reshape(L * p, Yt.shape[1]), Wlle[lpl_models].reshape(L * p, k)

    init_seeds = list(range(B)) if init_seeds is None else list(init_seeds)
    if len(init_seeds) != B:
        raise ValueError(f"fit_alignment_batch: init_seeds has {len(init_seeds)} entries for {B} models")
    f = BatchedMLP.init(init_seeds, Xt.shape[1], Yt.shape[1], hidden, device=dev)
    opt = torch.optim.Adam(f.params, lr=lr, weight_decay=weight_decay)
    hist = np.empty((steps, B))
    for s in tqdm(range(steps), desc="fit f", leave=False, disable=not progress):
        opt.zero_grad()
        per = mse_loss(f(xp).reshape(B * p, -1), yp.reshape(B * p, -1), reduction="none").reshape(B, p).mean(1)
        if L:
            fn = f(xn, lpl_models).reshape(L * p, k, -1)
            lpl = lpl_loss(yl, fn, wl, reduction="none").reshape(L, p).mean(1)
            per = per.index_add(0, lpl_models, betas_t[lpl_models] * lpl)
        per.sum().backward()                                            # models are independent: sum = each own grad
        opt.step()
        hist[s] = per.detach().cpu().numpy()
    with torch.no_grad():
        mapped = f(Xt.expand(B, -1, -1))
    return mapped, hist


def alignment_scores(mapped, X, Y, test_mask, k: int = 10) -> dict[str, np.ndarray]:
    """Scores of B mapped copies of M1 on the unpaired points (``test_mask``, (B, n) bool).

    Returns dict of (B,) arrays: ``alignment_error`` (relative), ``knn_preserved``, ``hit_at_k`` (see module doc).
    Vectorised over points; one small loop over the B models.
    """
    mapped = mapped.detach().cpu().to(torch.float64)
    Xn = np.asarray(X, dtype=np.float64)
    Yt = torch.as_tensor(np.asarray(Y, dtype=np.float64))
    mask = np.asarray(test_mask, dtype=bool)
    B = mapped.shape[0]
    spread = float(((Yt - Yt.mean(0)) ** 2).sum(1).mean())
    _, nx = knn(Xn, k, device="cpu")
    nx = nx.numpy()
    err, kept, hit = np.empty(B), np.empty(B), np.empty(B)
    for b in range(B):
        Z = mapped[b]
        m = mask[b]
        err[b] = float(((Z - Yt) ** 2).sum(1).numpy()[m].mean()) / spread
        _, nz = knn(Z, k, device="cpu")
        kept[b] = knn_overlap(nx[m], nz.numpy()[m]).mean()
        _, ny = knn(Yt, k, queries=Z[m], device="cpu")                 # nearest points of M2 to f(x)
        hit[b] = (ny.numpy() == np.nonzero(m)[0][:, None]).any(1).mean()
    return {"alignment_error": err, "knn_preserved": kept, "hit_at_k": hit}


def sample_pairs(n: int, n_pairs: int, seeds) -> np.ndarray:
    """(len(seeds), n_pairs) rows drawn without replacement, one NumPy generator per seed."""
    if not 1 <= n_pairs < n:
        raise ValueError(f"sample_pairs: n_pairs={n_pairs} must be in [1, {n - 1}]")
    return np.stack([np.random.default_rng(s).choice(n, size=n_pairs, replace=False) for s in seeds])


def figure1_experiment(X, Y, n_pairs_list, seeds=(0, 1, 2), beta: float = 1.0, k: int = 10, hidden: int = 64,
                       steps: int = 1500, lr: float = 1e-2, device=None, progress: bool = True) -> pd.DataFrame:
    """Sweep the number of paired points: for each size, every seed and both losses (MSE; MSE + beta * LPL),
    fit f on the same pairs and score the unpaired points (:func:`alignment_scores`).

    Returns a long DataFrame: n_pairs, seed, loss ("MSE" | "MSE+LPL"), alignment_error, knn_preserved, hit_at_k.
    """
    from tqdm.auto import tqdm

    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    seeds = list(seeds)
    rows = []
    for p in tqdm(list(n_pairs_list), desc="pairs sweep", disable=not progress):
        pairs = sample_pairs(n, int(p), seeds)
        P = np.concatenate([pairs, pairs])                              # same pairs for both losses
        betas = np.array([0.0] * len(seeds) + [beta] * len(seeds))
        mapped, _ = fit_alignment_batch(X, Y, P, betas, k=k, hidden=hidden, steps=steps, lr=lr,
                                        init_seeds=seeds + seeds, device=device)
        test = np.ones((len(P), n), dtype=bool)
        test[np.arange(len(P))[:, None], P] = False
        sc = alignment_scores(mapped, X, Y, test, k=k)
        for b in range(len(P)):
            rows.append({"n_pairs": int(p), "seed": seeds[b % len(seeds)],
                         "loss": "MSE" if betas[b] == 0 else "MSE+LPL",
                         **{key: float(v[b]) for key, v in sc.items()}})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- chapter 01: real words

def word_neighbourhood_projection(vectors, words, queries, k: int = 8, device=None) -> pd.DataFrame:
    """The k nearest words (euclidean) of each query word, all projected together onto the first two principal
    axes of the vocabulary (PCA fitted on ``vectors``). Returns a DataFrame: query, word, is_query, distance,
    pc1, pc2 (one row per query and per neighbour)."""
    from sklearn.decomposition import PCA

    V = np.asarray(vectors, dtype=np.float64)
    qi = word_rows_strict(words, queries, "word_neighbourhood_projection")
    dist, idx = knn(V, k + 1, queries=V[qi], device=device)
    idx, dist = idx.cpu().numpy(), dist.cpu().numpy()
    pca = PCA(n_components=2, random_state=0).fit(V)
    pts = pca.transform(V[idx.ravel()])
    words_arr = np.asarray(words, dtype=object)
    return pd.DataFrame({"query": np.repeat(np.asarray(queries, dtype=object), k + 1),
                         "word": words_arr[idx.ravel()], "is_query": (idx == qi[:, None]).ravel(),
                         "distance": dist.ravel(), "pc1": pts[:, 0], "pc2": pts[:, 1]})


def neighbourhood_linearity(vectors, k: int = 10, n_sample: int = 2000, seed: int = 0, reg: float = 1e-3,
                            device=None) -> dict[str, float]:
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
    for name, I in (("neighbours", idx), ("random words", rand)):
        W = lle_weights(V[rows], I, reg=reg, ref=V, device=device, dtype=torch.float64)
        out[name] = float((reconstruction_error(V[rows], I, W, ref=V, device=device).cpu().numpy() / norm2).mean())
    return out
