"""How isomorphic two embedding spaces are, measured without any bilingual signal.

Unsupervised maps (adversarial or not) assume that two languages' vector clouds are nearly isometric. Two measures
of how far they are from it, both invariant to rotations and to the order of the rows, so they compare the n most
frequent words of each side without a dictionary:

- :func:`eigenvector_similarity` (Søgaard, Ruder and Vulić 2018, sec. 4.3): the k-nearest-neighbour graph of each
  cloud, the eigenvalues of its Laplacian L = D - A sorted in decreasing order, and the sum of squared differences
  of the largest ``k`` of them, ``k`` the smaller of the two numbers of leading eigenvalues that hold 90 % of the
  spectrum's sum. 0 for isometric clouds (identical graphs), larger the less alike the graphs are.
- :func:`gromov_hausdorff_bound`: half the bottleneck distance between the 0-dimensional persistence diagrams of the
  two clouds' Rips filtrations, a lower bound on their Gromov-Hausdorff distance (Chazal et al. 2009:
  d_B(Dgm R(X), Dgm R(Y)) <= 2 d_GH(X, Y)); Patra et al. (2019) estimate d_GH from these diagrams. The
  0-dimensional diagram of a Rips filtration is born at 0 and dies at the edge lengths of a minimum spanning tree
  (single linkage): :func:`h0_deaths`; :func:`bottleneck_h0` is the exact bottleneck distance of two such diagrams.

Helpers: :func:`knn_graph` (symmetric 0/1 adjacency), :func:`laplacian_spectrum`, :func:`energy_k`. Rows are
normalised to unit length first by default (``unit=True``): cosine geometry, as retrieval uses.
"""

from __future__ import annotations

import numpy as np
import torch

from lpa_utils.checks import as_matrix, positive_int

__all__ = [
    "knn_graph",
    "laplacian_spectrum",
    "energy_k",
    "eigenvector_similarity",
    "h0_deaths",
    "bottleneck_h0",
    "gromov_hausdorff_bound",
]


def _rows(X, name: str, unit: bool) -> np.ndarray:
    """X (n, d) as float64 NumPy, rows scaled to unit length if ``unit``."""
    x = as_matrix(X, name, torch.device("cpu"), dtype=torch.float64, min_rows=2).numpy()
    if unit:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.maximum(norms, 1e-12)
    return x


def _sq_distances(x: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n, n) of the rows of x, clipped at 0, exact zeros on the diagonal."""
    sq = (x * x).sum(1)
    D = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    np.fill_diagonal(D, 0.0)
    return D


def knn_graph(X, k: int = 10, unit: bool = True) -> np.ndarray:
    """Symmetric 0/1 adjacency (n, n) float64 of the k-nearest-neighbour graph of the rows of X (n, d): i ~ j when
    j is among the k nearest other rows of i or i among those of j (Euclidean on unit rows = cosine order)."""
    k = positive_int(k, "knn_graph: k")
    x = _rows(X, "knn_graph(X)", unit)
    n = len(x)
    if k >= n:
        raise ValueError(f"knn_graph: k = {k} needs more than k rows, got {n}")
    D = _sq_distances(x)
    np.fill_diagonal(D, np.inf)
    nbrs = np.argpartition(D, k - 1, axis=1)[:, :k]
    A = np.zeros((n, n))
    A[np.repeat(np.arange(n), k), nbrs.reshape(-1)] = 1.0
    return np.maximum(A, A.T)


def laplacian_spectrum(A) -> np.ndarray:
    """Eigenvalues (n,) of the combinatorial Laplacian L = D - A of a symmetric adjacency A (n, n), in decreasing
    order (``numpy.linalg.eigvalsh``)."""
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or not np.allclose(A, A.T):
        raise ValueError(f"laplacian_spectrum: need a symmetric square matrix, got shape {A.shape}")
    L = np.diag(A.sum(1)) - A
    return np.linalg.eigvalsh(L)[::-1].copy()


def energy_k(spectrum, energy: float = 0.9) -> int:
    """The smallest k such that the k first values of ``spectrum`` (decreasing, non-negative) hold at least
    ``energy`` of its sum (the whole length if the sum is 0)."""
    s = np.asarray(spectrum, dtype=np.float64)
    if not 0 < energy <= 1:
        raise ValueError(f"energy_k: energy must be in (0, 1], got {energy}")
    total = s.sum()
    if total <= 0:
        return len(s)
    return int(min(len(s), np.searchsorted(np.cumsum(s), energy * total * (1 - 1e-12)) + 1))


def eigenvector_similarity(X, Y, k: int = 10, energy: float = 0.9, unit: bool = True) -> dict:
    """Søgaard et al. (2018)'s eigenvector similarity of two clouds X (n, d) and Y (m, d') (d, d', n, m may
    differ): Laplacian spectra of their k-NN graphs (:func:`knn_graph`, :func:`laplacian_spectrum`), the number of
    leading eigenvalues kept ``k_used = min(energy_k(X), energy_k(Y))``, and
    ``delta = sum_{i < k_used} (lambda_X,i - lambda_Y,i)^2`` (0: same spectra; larger: less isomorphic).
    Returns {"delta", "k_used", "spectrum_x", "spectrum_y"}."""
    sx = laplacian_spectrum(knn_graph(X, k, unit))
    sy = laplacian_spectrum(knn_graph(Y, k, unit))
    kk = min(energy_k(sx, energy), energy_k(sy, energy))
    delta = float(np.sum((sx[:kk] - sy[:kk]) ** 2))
    return {"delta": delta, "k_used": int(kk), "spectrum_x": sx, "spectrum_y": sy}


def h0_deaths(X, unit: bool = True) -> np.ndarray:
    """Death times (n - 1,) of the finite points of the 0-dimensional persistence diagram of the Rips filtration
    of the rows of X (n, d), all born at 0: the edge lengths of a Euclidean minimum spanning tree (Prim's
    algorithm on the dense distance matrix, O(n^2); duplicate rows give deaths of 0). Sorted increasingly."""
    x = _rows(X, "h0_deaths(X)", unit)
    D = np.sqrt(_sq_distances(x))
    n = len(D)
    in_tree = np.zeros(n, dtype=bool)
    in_tree[0] = True
    best = D[0].copy()
    deaths = np.empty(n - 1)
    for i in range(n - 1):
        cand = np.where(in_tree, np.inf, best)
        j = int(np.argmin(cand))
        deaths[i] = cand[j]
        in_tree[j] = True
        np.minimum(best, D[j], out=best)
    return np.sort(deaths)


def bottleneck_h0(a, b) -> float:
    """Exact bottleneck distance between two persistence diagrams whose points are all born at 0, given by their
    death times a (p,) and b (q,) (finite, >= 0). Costs (L-infinity): a point to a point |a_i - b_j|, a point to
    the diagonal a_i / 2. An optimal matching pairs the r largest deaths of each side in sorted order and sends
    the others to the diagonal, for the best r: the minimum over r of max(max_{i<r} |a_(i) - b_(i)|, a_(r) / 2,
    b_(r) / 2) with both lists sorted decreasingly (a_(r) = 0 past the end). Checked against a general
    bipartite-matching computation in the tests."""
    a = np.sort(np.asarray(a, dtype=np.float64).reshape(-1))[::-1]
    b = np.sort(np.asarray(b, dtype=np.float64).reshape(-1))[::-1]
    for name, v in (("a", a), ("b", b)):
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"bottleneck_h0: {name} must hold finite death times >= 0")
    p, q = len(a), len(b)
    best = np.inf
    matched = 0.0  # max |a_(i) - b_(i)| over the r pairs so far
    for r in range(min(p, q) + 1):
        rest = max(a[r] / 2 if r < p else 0.0, b[r] / 2 if r < q else 0.0)
        best = min(best, max(matched, rest))
        if r < min(p, q):
            matched = max(matched, abs(a[r] - b[r]))
    return float(best)


def gromov_hausdorff_bound(X, Y, unit: bool = True) -> float:
    """A lower bound on the Gromov-Hausdorff distance between the rows of X (n, d) and of Y (m, d') as metric
    spaces: ``bottleneck_h0(h0_deaths(X), h0_deaths(Y)) / 2`` (Chazal et al. 2009; the 0-dimensional part of
    Patra et al. 2019's estimate). 0 for isometric clouds."""
    return 0.5 * bottleneck_h0(h0_deaths(X, unit), h0_deaths(Y, unit))
