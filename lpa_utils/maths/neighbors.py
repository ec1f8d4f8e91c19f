"""k nearest neighbours of every row: exact batched brute force in torch, or scikit-learn's KD-tree.

The LPL paper builds "a standard KD-Tree with Euclidean distance" (section 4) to find the neighbourhoods
N_k(m_i) used by the LLE weights (eq. 1 / eq. 6) and by the locality preserving loss (eq. 5). Both methods here
return the same neighbours (up to ties) in the same layout, as torch tensors on the requested device:

    dist, idx = knn(X, k)                     # (n, k) distances, (n, k) int64 rows of X, ascending distance

Cosine distance is ``1 - cos(a, b)``; it is computed on unit-normalised rows, where the Euclidean order and the
cosine order agree (``||a - b||^2 = 2 - 2 cos``), so the KD-tree answers cosine queries too.
"""

from __future__ import annotations

import numpy as np
import torch

from lpa_utils.checks import as_tensor, check_matrix, device_of

METRICS = ("euclidean", "cosine")
METHODS = ("brute", "kdtree")


def _normalise_rows(X: torch.Tensor, name: str) -> torch.Tensor:
    norms = X.norm(dim=1, keepdim=True)
    zero = norms.squeeze(1) == 0
    if bool(zero.any()):
        first = int(torch.nonzero(zero)[0])
        raise ValueError(
            f"{name}: {int(zero.sum())} all-zero rows (first: row {first}) have no cosine "
            "distance; drop them or use metric='euclidean'"
        )
    return X / norms


def _auto_batch(m: int, k: int, budget_bytes: int = 1 << 28) -> int:
    """Rows per brute-force block so that the (b, m) float32 distance block stays within ``budget_bytes``."""
    return int(max(1, min(65536, budget_bytes // (4 * max(m, 1)))))


def _brute(Q: torch.Tensor, R: torch.Tensor, kk: int, self_offset: int | None, batch_size: int | None, progress: bool):
    """Exact euclidean kNN of rows of Q among rows of R, in blocks of queries.

    Candidates are found with the fast expansion ``|r|^2 - 2 q.r`` (+ the row constant ``|q|^2``) in float32 (a few
    extra candidates
    guard against its rounding), then their distances are recomputed exactly as ``|q - r|`` in float64 and
    re-sorted, so distances and order match a float64 reference.
    """
    m = R.shape[0]
    extra = min(m - kk, max(4, kk // 2))  # spare candidates against rounding in the fast expansion
    kc = kk + extra
    b = batch_size or _auto_batch(m, kc)
    Rf = R.to(torch.float32)
    R64 = R.to(torch.float64)
    rn = (Rf * Rf).sum(1)
    RfT = Rf.T.contiguous()
    out_d, out_i = [], []
    starts = range(0, Q.shape[0], b)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="knn (brute)", leave=False)
    for s in starts:
        q = Q[s : s + b]
        qf = q.to(torch.float32)
        # |q|^2 is constant along a row and does not change the ranking: rank by |r|^2 - 2 q.r
        d2 = torch.addmm(rn.expand(q.shape[0], m), qf, RfT, beta=1.0, alpha=-2.0)
        if self_offset is not None:
            rows = torch.arange(q.shape[0], device=q.device)
            d2[rows, rows + s] = float("inf")
        cand = torch.topk(d2, kc, dim=1, largest=False, sorted=False).indices  # (b, kc)
        diff = q.to(torch.float64)[:, None, :] - R64[cand]  # (b, kc, d)
        exact = diff.pow(2).sum(-1)
        if self_offset is not None:
            exact = torch.where(
                cand == (torch.arange(q.shape[0], device=q.device)[:, None] + s),
                torch.full_like(exact, float("inf")),
                exact,
            )
        order = torch.sort(exact, dim=1, stable=True).indices[:, :kk]
        out_d.append(exact.gather(1, order).sqrt())
        out_i.append(cand.gather(1, order))
    return torch.cat(out_d), torch.cat(out_i)


def knn(
    X,
    k: int,
    metric: str = "euclidean",
    method: str = "brute",
    queries=None,
    exclude_self: bool = True,
    device=None,
    batch_size: int | None = None,
    progress: bool = False,
):
    """The ``k`` nearest rows of ``X`` for every query row, ascending distance.

    Args:
        X: (n, d) reference points (NumPy or torch).
        k: number of neighbours (``k < n`` when the query point itself is excluded).
        metric: ``"euclidean"`` (``||a - b||``) or ``"cosine"`` (``1 - cos(a, b)``).
        method: ``"brute"`` (exact, batched torch matmul + exact re-ranking; runs on ``device``) or
            ``"kdtree"`` (``sklearn.neighbors.KDTree`` on the CPU in float64, as the paper does).
        queries: (q, d) query points; ``None`` means the rows of ``X`` themselves.
        exclude_self: with ``queries=None``, drop each row itself from its own neighbour list (by index, so an
            exact duplicate of a row at distance 0 is still a neighbour). Ignored when ``queries`` is given.
        device: where the result (and the brute-force computation) lives; ``None`` = CUDA if available else CPU.
        batch_size: query rows per brute-force block (default: a block of about 256 MB).
        progress: show a tqdm bar over blocks (brute force).

    Returns:
        ``(dist, idx)``: float32 (q, k) distances and int64 (q, k) row indices into ``X``, both torch on ``device``.
    """
    if metric not in METRICS:
        raise ValueError(f"knn: metric must be one of {METRICS}, got {metric!r}")
    if method not in METHODS:
        raise ValueError(f"knn: method must be one of {METHODS}, got {method!r}")
    dev = device_of(device)
    Xt = as_tensor(X, device=dev, dtype=None, name="knn: X")
    if not Xt.is_floating_point():
        Xt = Xt.to(torch.float32)
    check_matrix(Xt, "knn: X")
    self_query = queries is None
    if self_query:
        Qt = Xt
    else:
        Qt = as_tensor(queries, device=dev, dtype=Xt.dtype, name="knn: queries")
        check_matrix(Qt, "knn: queries")
        if Qt.shape[1] != Xt.shape[1]:
            raise ValueError(f"knn: queries have dimension {Qt.shape[1]} but X has {Xt.shape[1]}")
    excl = bool(exclude_self and self_query)
    n = Xt.shape[0]
    k = int(k)
    if k < 1 or k > n - int(excl):
        raise ValueError(
            f"knn: k={k} must be between 1 and {n - int(excl)} for {n} points"
            + (" (the point itself is excluded)" if excl else "")
        )
    if metric == "cosine":
        Xt = _normalise_rows(Xt, "knn: X")
        Qt = Xt if self_query else _normalise_rows(Qt, "knn: queries")

    if method == "brute":
        d, idx = _brute(Qt, Xt, k, 0 if excl else None, batch_size, progress)
    else:
        from sklearn.neighbors import KDTree

        Xn = Xt.detach().cpu().to(torch.float64).numpy()
        Qn = Xn if self_query else Qt.detach().cpu().to(torch.float64).numpy()
        tree = KDTree(Xn, metric="euclidean")
        dd, ii = tree.query(Qn, k=k + int(excl), return_distance=True, sort_results=True)
        if excl:
            # drop each row's own index; where a duplicate displaced it (self not in the list), drop the last
            own = ii == np.arange(n)[:, None]
            own[~own.any(axis=1), -1] = True
            keep = ~own
            dd = dd[keep].reshape(n, k)
            ii = ii[keep].reshape(n, k)
        d = torch.from_numpy(dd).to(dev)
        idx = torch.from_numpy(ii.astype(np.int64)).to(dev)

    if metric == "cosine":
        d = 0.5 * d.to(torch.float64) ** 2  # ||a - b||^2 / 2 = 1 - cos for unit vectors
    return d.to(torch.float32), idx


def knn_overlap(idx_a, idx_b) -> np.ndarray:
    """Per row, the fraction of the neighbours in ``idx_a`` (n, k) that also appear in ``idx_b`` (n, k')."""
    a = np.asarray(idx_a)
    b = np.asarray(idx_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"knn_overlap: idx_a {a.shape} and idx_b {b.shape} must be (n, k) with the same n")
    hits = (a[:, :, None] == b[:, None, :]).any(-1)
    return hits.mean(1)


def knn_kept(X_high, Y_low, k: int = 10) -> float:
    """Mean fraction of each point's k nearest neighbours in ``X_high`` (n, D) kept among its k nearest in
    ``Y_low`` (n, d) (euclidean, self excluded)."""
    _, ia = knn(X_high, k, device="cpu")
    _, ib = knn(Y_low, k, device="cpu")
    return float(knn_overlap(ia.numpy(), ib.numpy()).mean())


def neighbours_of_rows(V, rows, k: int, device=None):
    """k nearest rows of ``V`` (n, d) for the points ``V[rows]``, each point itself excluded (by index; where an
    exact duplicate displaced it, the farthest candidate is dropped instead). Returns (dist, idx) (q, k) NumPy."""
    V = np.asarray(V, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    d, i = knn(V, k + 1, queries=V[rows], device=device)
    d, i = d.cpu().numpy(), i.cpu().numpy()
    own = i == rows[:, None]
    own[~own.any(1), -1] = True
    keep = ~own
    return d[keep].reshape(len(rows), k), i[keep].reshape(len(rows), k)
