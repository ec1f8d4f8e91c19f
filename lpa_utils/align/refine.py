"""Self-learning refinement: mutual nearest neighbours of the current map as a synthetic dictionary,
orthogonal Procrustes on it, repeated (MUSE's refinement; Artetxe et al. 2017)."""
from __future__ import annotations

import numpy as np
import torch

from lpa_utils.align.linear import Procrustes
from lpa_utils.checks import as_matrix
from lpa_utils.maths.retrieval import translate


def mutual_nn_pairs(mapped, target, n_src: int | None = None, n_tgt: int | None = None,
                    method: str = "csls", k: int = 10) -> np.ndarray:
    """Mutual nearest neighbours between mapped source rows and target rows (MUSE's synthetic dictionary).

    Only the first ``n_src`` source and ``n_tgt`` target rows (the most frequent words) take part. Returns
    (p, 2) int64 pairs (src_row, tgt_row) such that tgt_row is the best match of src_row and vice versa, with
    ``retrieval.translate(method=method, k=k)`` in both directions.
    """
    mapped = as_matrix(mapped, "mutual_nn_pairs(mapped)")
    target = as_matrix(target, "mutual_nn_pairs(target)", mapped.device)
    S = mapped[: n_src or len(mapped)]
    T = target[: n_tgt or len(target)]
    fwd = torch.as_tensor(translate(S, T, method=method, k=k, topk=1))[:, 0].long().cpu()
    bwd = torch.as_tensor(translate(T, S, method=method, k=k, topk=1))[:, 0].long().cpu()
    src = torch.arange(len(S))
    mutual = bwd[fwd] == src
    return torch.stack([src[mutual], fwd[mutual]], 1).numpy().astype(np.int64)


def procrustes_refine(X_std, Y_std, mapped, n_iter: int = 5, n_src: int = 15000, n_tgt: int = 15000,
                      method: str = "csls", k: int = 10):
    """MUSE-style refinement (beyond the paper): repeat ``n_iter`` times -- build a dictionary of mutual nearest
    neighbours of the current map (:func:`mutual_nn_pairs`), fit orthogonal Procrustes on it
    (``lpa_utils.align.Procrustes``), re-map. X_std (n, d_s), Y_std (m, d_t): the standardised spaces the AAE
    works in; mapped (n, d_t): the AAE's map of X_std. Returns ``(mapped_refined (n, d_t), history)`` where
    history lists the number of pairs per iteration.
    """

    X_std = as_matrix(X_std, "procrustes_refine(X_std)")
    Y_std = as_matrix(Y_std, "procrustes_refine(Y_std)")
    cur = as_matrix(mapped, "procrustes_refine(mapped)")
    hist = []
    for it in range(n_iter):
        pairs = mutual_nn_pairs(cur, Y_std, n_src, n_tgt, method=method, k=k)
        hist.append({"iteration": it + 1, "pairs": int(len(pairs))})
        if len(pairs) < 2:
            break
        cur = torch.as_tensor(Procrustes().fit(X_std, Y_std, pairs).transform(X_std)).float()
    return cur, hist


