"""Chapter 02: LLE weights (eqs. 1, 2, 6) -- invariances, reconstruction against k and the regulariser, word
reconstructions, our LLE embedding against scikit-learn's, and how linear word neighbourhoods are."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lpa_utils.checks import word_rows_strict
from lpa_utils.maths.lle import lle_embedding, lle_weights, reconstruction_error
from lpa_utils.maths.neighbors import knn_kept, neighbours_of_rows

# --------------------------------------------------------------------------- chapter 02 helpers

def weight_invariances(X, idx, reg: float = 1e-3, seed: int = 0, scale: float = 3.7) -> pd.DataFrame:
    """Max |W(T X) - W(X)| of the closed-form weights (eq. 1) for a random rotation, a scaling, a translation and
    all three together: the weights describe the neighbourhood's shape, not its position, size or orientation.
    X: (n, d), idx: (n, k). Returns a DataFrame (transform, max_abs_diff) computed in float64."""
    from scipy.stats import ortho_group

    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    Q = ortho_group.rvs(X.shape[1], random_state=rng)
    shift = rng.normal(size=X.shape[1]) * 10.0
    W0 = lle_weights(X, idx, reg=reg, device="cpu", dtype=torch.float64)
    transforms = {"rotation": X @ Q, f"scaling x{scale}": scale * X, "translation": X + shift,
                  "all three": scale * X @ Q + shift}
    rows = [{"transform": name, "max_abs_diff": float((lle_weights(T, idx, reg=reg, device="cpu",
                                                                   dtype=torch.float64) - W0).abs().max())}
            for name, T in transforms.items()]
    return pd.DataFrame(rows)


def reconstruction_vs_k(V, rows, ks, reg: float = 1e-3, device=None) -> pd.DataFrame:
    """Eq. 1 reconstruction error of the points ``V[rows]`` from their k nearest other rows of ``V`` (n, d),
    for each k in ``ks``: mean and median of ``||x - sum_j W_j x_j||^2 / ||x||^2`` (relative, so words of any
    norm weigh alike). One neighbour search with max(ks); the k-neighbourhood is its first k columns."""

    V = np.asarray(V, dtype=np.float64)
    X = V[np.asarray(rows)]
    _, idx = neighbours_of_rows(V, rows, int(max(ks)), device=device)
    norm2 = (X ** 2).sum(1)
    out = []
    for k in ks:
        sub = idx[:, :k]
        W = lle_weights(X, sub, reg=reg, ref=V, device=device, dtype=torch.float64)
        rel = reconstruction_error(X, sub, W, ref=V, device=device).cpu().numpy() / norm2
        out.append({"k": int(k), "mean relative error": float(rel.mean()),
                    "median relative error": float(np.median(rel))})
    return pd.DataFrame(out)


def regulariser_effect(V, rows, k: int, regs, device=None) -> pd.DataFrame:
    """For each ``reg``: mean relative reconstruction error of ``V[rows]`` from k neighbours in V, mean L2 norm of
    the weight rows and the largest |weight|: the regulariser trades a slightly worse fit for smaller,
    better-conditioned weights."""

    V = np.asarray(V, dtype=np.float64)
    X = V[np.asarray(rows)]
    _, idx = neighbours_of_rows(V, rows, k, device=device)
    norm2 = (X ** 2).sum(1)
    out = []
    for r in regs:
        W = lle_weights(X, idx, reg=float(r), ref=V, device=device, dtype=torch.float64)
        rel = reconstruction_error(X, idx, W, ref=V, device=device).cpu().numpy() / norm2
        out.append({"reg": float(r), "mean relative error": float(rel.mean()),
                    "mean ||w||": float(W.norm(dim=1).mean()), "max |w|": float(W.abs().max())})
    return pd.DataFrame(out)


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
    table = pd.DataFrame({"query": np.repeat(np.asarray(queries, dtype=object), k),
                          "rank": np.tile(np.arange(1, k + 1), len(queries)),
                          "neighbour": words_arr[idx.ravel()], "distance": dist.ravel(),
                          "weight": W.cpu().numpy().ravel()})
    errors = pd.DataFrame({"query": list(queries), "relative error (LLE weights)": err / norm2,
                           "relative error (uniform 1/k)": uni / norm2})
    return table, errors


def embedding_vs_sklearn(X, n_neighbors: int = 12, n_components: int = 2, reg: float = 1e-3,
                         eigen_solver: str = "arpack", seed: int = 0):
    """Our eq. 2 embedding (:func:`lpa_utils.maths.lle.lle_embedding`) beside ``sklearn.manifold.LocallyLinearEmbedding``
    (standard, the same ``eigen_solver``: "arpack" (sparse shift-invert, fast) or "dense") on the same points. Returns ``(ours, theirs, gap, knn_agreement)``: the two (n, c)
    embeddings, the max abs difference after the best orthogonal alignment (Procrustes: the columns are unique
    only up to sign), relative to the largest coordinate, and the fraction of 10-NN the two embeddings share."""
    from scipy.linalg import orthogonal_procrustes
    from sklearn.manifold import LocallyLinearEmbedding


    X = np.asarray(X, dtype=np.float64)
    ours = lle_embedding(X, n_neighbors, n_components, reg=reg, eigen_solver=eigen_solver, device="cpu",
                         dtype=torch.float64).numpy()
    theirs = LocallyLinearEmbedding(n_neighbors=n_neighbors, n_components=n_components, reg=reg, tol=1e-10,
                                    eigen_solver=eigen_solver, random_state=seed).fit_transform(X)
    R, _ = orthogonal_procrustes(ours, theirs)
    gap = float(np.abs(ours @ R - theirs).max() / np.abs(theirs).max())
    return ours, theirs, gap, knn_kept(ours, theirs, 10)




