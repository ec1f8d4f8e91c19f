"""Phase 1 of LPA (the LPL paper's two phases): each training source word's k nearest source words (eq. 5's N_k)
and their LLE reconstruction weights (eq. 6), frozen before the map is trained (phase 2: :mod:`~lpa_utils.align.sgd`,
:mod:`~lpa_utils.align.batched`)."""

from __future__ import annotations

import torch

from lpa_utils.maths.lle import learn_lle_weights, lle_weights
from lpa_utils.maths.neighbors import knn


def lle_neighbourhoods(
    X: torch.Tensor,
    rows: torch.Tensor,
    k: int,
    n_ref: int | None = None,
    method: str = "brute",
    reg: float = 1e-3,
    weights: str = "closed",
    lle_steps: int = 300,
    seed: int = 0,
):
    """Phase 1 of LPA: neighbours (eq. 5's N_k) and LLE weights (eq. 6) of the source words ``rows``.

    The neighbours of ``X[rows]`` are searched among the first ``n_ref`` rows of ``X`` (the source vocabulary, most
    frequent first; all rows if None) with :func:`lpa_utils.maths.neighbors.knn` (euclidean; the word itself excluded by
    index), and the weights come from :func:`lpa_utils.maths.lle.lle_weights` (closed form) or
    :func:`lpa_utils.maths.lle.learn_lle_weights` (gradient descent, ``weights="learned"``).

    Returns ``(idx (r, k) int64 rows of X, W (r, k) float32 with rows summing to one)``.
    """

    R = X if n_ref is None else X[: int(n_ref)]
    if k + 1 > R.shape[0]:
        raise ValueError(f"LPA: k={k} neighbours need more than {k + 1} reference words, got {R.shape[0]}")
    Q = X[rows]
    _, idx = knn(R, k + 1, metric="euclidean", method=method, queries=Q, device=X.device)
    own = idx == rows[:, None]
    own[~own.any(1), -1] = True  # the word itself is not among them (outside n_ref): drop the last
    idx = idx[~own].reshape(len(rows), k)
    if weights == "closed":
        W = lle_weights(Q, idx, reg=reg, ref=R, device=X.device)
    elif weights == "learned":
        W, _ = learn_lle_weights(Q, idx, steps=lle_steps, ref=R, seed=seed, reg=reg, device=X.device)
    else:
        raise ValueError(f"LPA: weights must be 'closed' or 'learned', got {weights!r}")
    return idx, W.to(torch.float32)
