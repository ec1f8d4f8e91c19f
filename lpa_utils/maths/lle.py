"""Locally linear embedding (Roweis & Saul 2000) as used by the LPL paper: reconstruction weights and embedding.

Equation numbers refer to the LPL paper [ganesan2020lpl] (book/references.bib):

- eq. 1 / eq. 6: ``L_i = || x_i - sum_{j in N(i)} W_ij x_j ||^2`` with ``sum_j W_ij = 1``. Because the weights sum
  to one, ``x_i - sum_j W_ij x_j = sum_j W_ij (x_i - x_j)``, so ``L_i = w_i^T G_i w_i`` with the local Gram matrix
  ``G_i[a, b] = (x_i - x_a) . (x_i - x_b)`` (k, k). The constrained minimiser is ``w_i = G_i^{-1} 1 / (1^T G_i^{-1}
  1)``.
  ``G_i`` is singular when k > d (or for degenerate neighbourhoods), so, exactly as scikit-learn's
  ``barycenter_weights``, it is regularised: ``G_i + R_i I`` with ``R_i = reg * trace(G_i)`` (``reg`` if the trace
  is 0). :func:`lle_weights` solves all n systems at once (batched ``torch.linalg.solve``).
- phase 1 of the paper's training ("W is learned by minimizing L_lle alone and the weights are frozen"):
  :func:`learn_lle_weights` does this by gradient descent under the sum-to-one constraint and converges to the
  closed form above.
- eq. 2: ``phi(Y) = sum_i || y_i - sum_j W_ij y_j ||^2`` minimised over embeddings Y with unit covariance:
  the bottom eigenvectors (after the constant one) of ``M = (I - W)^T (I - W)`` (:func:`lle_embedding`).
"""

from __future__ import annotations

import numpy as np
import torch

from lpa_utils.checks import as_tensor, device_of
from lpa_utils.maths.neighbors import knn


def _gather_neighbourhoods(X: torch.Tensor, idx: torch.Tensor, ref: torch.Tensor | None):
    """Validate shapes; return (X, idx, R) where R holds the points the indices refer to."""
    if X.ndim != 2:
        raise ValueError(f"lle: X must be (n, d), got shape {tuple(X.shape)}")
    R = X if ref is None else ref
    if R.ndim != 2 or R.shape[1] != X.shape[1]:
        raise ValueError(f"lle: ref must be (m, {X.shape[1]}) like X's columns, got shape {tuple(R.shape)}")
    if idx.ndim != 2 or idx.shape[0] != X.shape[0]:
        raise ValueError(f"lle: idx must be (n, k) with n = {X.shape[0]} rows of X, got shape {tuple(idx.shape)}")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= R.shape[0]):
        raise ValueError(
            f"lle: neighbour indices must lie in [0, {R.shape[0]}) (rows of "
            f"{'ref' if ref is not None else 'X'}), got [{int(idx.min())}, {int(idx.max())}]"
        )
    if not torch.isfinite(X).all() or not torch.isfinite(R).all():
        raise ValueError("lle: X (or ref) contains NaN or infinite values")
    return X, idx, R


def local_gram(X, idx, ref=None, device=None, dtype=torch.float64) -> torch.Tensor:
    """Local Gram matrices ``G_i = Z_i Z_i^T`` with ``Z_i[a] = x_i - r_{idx[i, a]}``: (n, k, k) of ``dtype``.

    ``X``: (n, d); ``idx``: (n, k) rows of ``ref`` (m, d), or of ``X`` when ``ref`` is None.
    """
    dev = device_of(device)
    Xt = as_tensor(X, device=dev, dtype=dtype, name="lle: X")
    it = as_tensor(idx, device=dev, dtype=torch.int64, name="lle: idx")
    Rt = None if ref is None else as_tensor(ref, device=dev, dtype=dtype, name="lle: ref")
    Xt, it, Rt = _gather_neighbourhoods(Xt, it, Rt)
    Z = Xt[:, None, :] - Rt[it]  # (n, k, d)
    return Z @ Z.transpose(1, 2)  # (n, k, k)


def _regularise(G: torch.Tensor, reg: float) -> torch.Tensor:
    """``G + R I`` with ``R = reg * trace(G)`` per matrix (``reg`` where the trace is 0), as scikit-learn."""
    tr = torch.diagonal(G, dim1=1, dim2=2).sum(-1)
    R = torch.where(tr > 0, reg * tr, torch.full_like(tr, reg))
    k = G.shape[-1]
    return G + R[:, None, None] * torch.eye(k, dtype=G.dtype, device=G.device)


def lle_weights(
    X, idx, reg: float = 1e-3, ref=None, device=None, dtype=torch.float32, chunk_size: int = 8192
) -> torch.Tensor:
    """Closed-form LLE reconstruction weights (eq. 1 / eq. 6), rows summing to one.

    Args:
        X: (n, d) points to reconstruct.
        idx: (n, k) int neighbour indices, rows of ``ref`` if given, else rows of ``X`` (e.g. from ``knn``).
        reg: Tikhonov regulariser relative to the trace of each local Gram matrix (scikit-learn's convention).
        ref: optional (m, d) points the neighbours are taken from (e.g. the whole vocabulary while X holds only
            the training words).
        device: computation/result device; dtype: of the result (the solve runs in float64).
        chunk_size: rows per batched solve (bounds the (chunk, k, d) neighbourhood tensor).

    Returns:
        W: (n, k) torch tensor, ``W[i] = argmin_w ||x_i - sum_a w_a r_{idx[i,a]}||^2 + R_i ||w||^2`` s.t.
        ``sum_a w_a = 1``; equal to ``sklearn.manifold._locally_linear.barycenter_weights``.
    """
    dev = device_of(device)
    Xt = as_tensor(X, device=dev, dtype=torch.float64, name="lle_weights: X")
    it = as_tensor(idx, device=dev, dtype=torch.int64, name="lle_weights: idx")
    Rt = None if ref is None else as_tensor(ref, device=dev, dtype=torch.float64, name="lle_weights: ref")
    Xt, it, Rt = _gather_neighbourhoods(Xt, it, Rt)
    n, k = it.shape
    out = torch.empty((n, k), dtype=torch.float64, device=dev)
    ones = torch.ones((1, k, 1), dtype=torch.float64, device=dev)
    for s in range(0, n, chunk_size):
        Z = Xt[s : s + chunk_size, None, :] - Rt[it[s : s + chunk_size]]  # (b, k, d)
        G = _regularise(Z @ Z.transpose(1, 2), reg)  # (b, k, k)
        w = torch.linalg.solve(G, ones.expand(G.shape[0], k, 1)).squeeze(-1)  # (b, k)
        out[s : s + chunk_size] = w / w.sum(1, keepdim=True)
    return out.to(dtype)


def reconstruction_error(X, idx, W, ref=None, device=None) -> torch.Tensor:
    """Per-point eq. 1 / eq. 6 loss ``||x_i - sum_a W_ia r_{idx[i,a]}||^2``: (n,) float64 tensor."""
    dev = device_of(device)
    Xt = as_tensor(X, device=dev, dtype=torch.float64, name="reconstruction_error: X")
    it = as_tensor(idx, device=dev, dtype=torch.int64, name="reconstruction_error: idx")
    Wt = as_tensor(W, device=dev, dtype=torch.float64, name="reconstruction_error: W")
    Rt = None if ref is None else as_tensor(ref, device=dev, dtype=torch.float64, name="reconstruction_error: ref")
    Xt, it, Rt = _gather_neighbourhoods(Xt, it, Rt)
    if Wt.shape != it.shape:
        raise ValueError(f"reconstruction_error: W has shape {tuple(Wt.shape)} but idx has {tuple(it.shape)}")
    rec = torch.einsum("nk,nkd->nd", Wt, Rt[it])
    return (Xt - rec).pow(2).sum(1)


def learn_lle_weights(
    X,
    idx,
    steps: int = 300,
    lr: float = 1.0,
    ref=None,
    seed: int = 0,
    reg: float = 1e-3,
    momentum: float = 0.9,
    init_scale: float = 0.1,
    device=None,
    dtype=torch.float32,
    progress: bool = False,
):
    """Phase 1 of the paper's training: learn W by gradient descent on eq. 6 under ``sum_j W_ij = 1``.

    Each row starts on the constraint plane at ``1/k`` plus a small random offset inside the plane (``seed``) and
    moves by projected gradient steps: ``w <- w - eta_i P grad``, with ``P = I - 11^T / k`` the projection onto the
    plane ``sum w = 0`` (so every iterate keeps ``sum_j W_ij = 1`` exactly) and Nesterov momentum. The objective per
    row is ``L_i(w) = ||x_i - sum_a w_a r_a||^2 + R_i ||w||^2 = w^T (G_i + R_i I) w`` (the regularised eq. 6, the
    same ``R_i`` as :func:`lle_weights`), whose gradient is ``2 (G_i + R_i I) w``. The step is ``eta_i = lr / L_i``
    with ``L_i = 2 lambda_max(G_i + R_i I)`` the Lipschitz constant of the row's gradient, so ``lr`` in (0, 1] is
    stable for every row whatever the scale of the data. The iterates converge to the closed form of
    :func:`lle_weights` (the unique minimiser of this strictly convex problem on the plane).

    Args:
        X: (n, d); idx: (n, k) neighbour rows of ``ref`` (m, d) or of ``X``.
        steps: gradient steps; lr: relative step size; momentum: Nesterov momentum in [0, 1).
        seed: for the random start; reg: regulariser as in :func:`lle_weights`.

    Returns:
        ``(W, history)``: W (n, k) torch tensor (``dtype``) with rows summing to one, and history, a dict of
        lists with one entry per step (the start included): ``"step"``, ``"loss"`` (mean over rows of the
        unregularised eq. 6 reconstruction error), ``"objective"`` (mean regularised objective) and
        ``"max_abs_diff"`` (max |W - W_closed_form|).
    """
    if steps < 0:
        raise ValueError(f"learn_lle_weights: steps must be >= 0, got {steps}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"learn_lle_weights: momentum must be in [0, 1), got {momentum}")
    dev = device_of(device)
    G = local_gram(X, idx, ref=ref, device=dev)  # (n, k, k) float64
    n, k, _ = G.shape
    A = _regularise(G, reg)
    L = 2.0 * torch.linalg.eigvalsh(A)[:, -1]  # (n,) Lipschitz constants
    eta = (lr / L)[:, None]
    ones = torch.ones((1, k, 1), dtype=torch.float64, device=dev)
    w_star = torch.linalg.solve(A, ones.expand(n, k, 1)).squeeze(-1)
    w_star = w_star / w_star.sum(1, keepdim=True)

    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    noise = torch.randn((n, k), generator=gen, dtype=torch.float64).to(dev)
    noise = noise - noise.mean(1, keepdim=True)
    w = torch.full((n, k), 1.0 / k, dtype=torch.float64, device=dev) + init_scale / k * noise
    v = torch.zeros_like(w)

    def quad(M, x):
        return torch.einsum("na,nab,nb->n", x, M, x)

    history = {"step": [], "loss": [], "objective": [], "max_abs_diff": []}

    def record(t, w):
        history["step"].append(t)
        history["loss"].append(float(quad(G, w).mean()))
        history["objective"].append(float(quad(A, w).mean()))
        history["max_abs_diff"].append(float((w - w_star).abs().max()))

    record(0, w)
    it = range(1, steps + 1)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="phase 1: LLE weights", leave=False)
    for t in it:
        look = w + momentum * v  # Nesterov look-ahead
        g = 2.0 * torch.einsum("nab,nb->na", A, look)
        g = g - g.mean(1, keepdim=True)  # project onto sum(w) = 0 directions
        v = momentum * v - eta * g
        w = w + v
        record(t, w)
    return w.to(dtype), history


def lle_embedding(
    X,
    n_neighbors: int,
    n_components: int,
    reg: float = 1e-3,
    method: str = "brute",
    eigen_solver: str = "auto",
    device=None,
    dtype=torch.float32,
) -> torch.Tensor:
    """LLE embedding step (eq. 2): ``Y = argmin_Y sum_i ||y_i - sum_j W_ij y_j||^2`` s.t. ``Y^T Y = I``.

    Neighbours: ``knn(X, n_neighbors)`` (self excluded); weights: :func:`lle_weights`. With the sparse
    ``W`` (n, n) the cost is ``tr(Y^T M Y)``, ``M = (I - W)^T (I - W)``; the minimiser is made of the eigenvectors
    of ``M`` for the 2nd .. (n_components+1)-th smallest eigenvalues (the smallest, 0, belongs to the constant
    vector). As ``sklearn.manifold.LocallyLinearEmbedding(method="standard")``; the columns are unique up to sign
    (and rotation within repeated eigenvalues).

    Args:
        X: (n, d); n_neighbors: k; n_components: output dimension.
        eigen_solver: ``"dense"`` (``scipy.linalg.eigh``), ``"arpack"`` (``scipy.sparse.linalg.eigsh``, shift-invert
            at 0) or ``"auto"`` (dense up to 2,000 points).

    Returns:
        Y: (n, n_components) torch tensor on ``device``.
    """
    import scipy.linalg
    import scipy.sparse
    import scipy.sparse.linalg

    dev = device_of(device)
    Xt = as_tensor(X, device=dev, dtype=torch.float64, name="lle_embedding: X")
    n = Xt.shape[0]
    if not 1 <= n_components < n:
        raise ValueError(f"lle_embedding: n_components={n_components} must be in [1, {n - 1}] for {n} points")
    _, idx = knn(Xt, n_neighbors, method=method, device=dev)
    W = lle_weights(Xt, idx, reg=reg, device=dev, dtype=torch.float64).cpu().numpy()
    cols = idx.cpu().numpy()
    Ws = scipy.sparse.csr_matrix(
        (W.ravel(), cols.ravel(), np.arange(0, n * n_neighbors + 1, n_neighbors)), shape=(n, n)
    )
    IW = scipy.sparse.identity(n, format="csr") - Ws
    M = (IW.T @ IW).tocsr()
    solver = eigen_solver
    if solver == "auto":
        solver = "dense" if n <= 2000 else "arpack"
    if solver == "dense":
        vals, vecs = scipy.linalg.eigh(M.toarray(), subset_by_index=(1, n_components))
    elif solver == "arpack":
        v0 = np.random.default_rng(0).uniform(-1, 1, n)
        vals, vecs = scipy.sparse.linalg.eigsh(M, k=n_components + 1, sigma=0.0, tol=1e-10, maxiter=1000, v0=v0)
        order = np.argsort(vals)
        vecs = vecs[:, order[1:]]
    else:
        raise ValueError(f"lle_embedding: eigen_solver must be 'auto', 'dense' or 'arpack', got {eigen_solver!r}")
    return torch.from_numpy(np.ascontiguousarray(vecs)).to(device=dev, dtype=dtype)
