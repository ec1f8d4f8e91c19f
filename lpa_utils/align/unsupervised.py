"""A fully unsupervised map without adversarial training: Artetxe, Labaka and Agirre (2018), "A robust self-learning
method for fully unsupervised cross-lingual mappings of word embeddings" (ACL), as VecMap's ``--unsupervised``
recipe runs it (read for the details, github.com/artetxem/vecmap; no code copied).

:class:`UnsupervisedSelfLearning` follows the :class:`lpa_utils.align.linear.Aligner` interface, except that
``fit(X, Y)`` takes no pairs (``pairs`` is ignored). Its steps:

1. normalise both sides: unit length, mean centring, unit length (:class:`~lpa_utils.align.linear.Normalize`);
2. initial dictionary from the similarity distributions (:func:`initial_dictionary`): for the ``init_vocab`` most
   frequent words of each side, the square root of the similarity matrix, ``sqrt(X X^T) = U S U^T`` from the SVD
   ``X = U S V^T``, each row sorted (a word's profile of similarities, independent of the language's axes),
   normalised like the embeddings; the two sides' sorted profiles compared by dot product, CSLS-corrected, and
   every word of each side paired with its best match on the other (both directions, "union");
3. self-learning (:meth:`UnsupervisedSelfLearning.fit`): orthogonal Procrustes on the current dictionary, then a
   new dictionary among the ``vocab`` most frequent words of each side by CSLS nearest neighbours in both
   directions, with *stochastic dictionary induction*: each similarity is kept with probability ``keep_prob``
   (dropped to 0 otherwise), ``keep_prob`` doubles whenever the objective (mean similarity of the chosen
   translations) has not improved by ``threshold`` for ``interval`` iterations, and the loop ends after a
   stagnant interval at ``keep_prob = 1``;
4. a final map on the last dictionary with whitening, orthogonal mapping, symmetric re-weighting (0.5 / 0.5) and
   de-whitening (the :mod:`lpa_utils.align.linear` steps S1-S4).

VecMap's defaults are ``init_vocab`` 4,000, ``vocab`` 20,000, CSLS k = 10, ``keep_prob`` 0.1, multiplier 2,
interval 50; chapters state the smaller values they use. ``max_stage_iter`` (not in VecMap; None: no cap) ends a
``keep_prob`` stage after that many iterations even if the objective still improves, to bound the cost; ``max_iter``
bounds the whole loop. Each iteration costs four (vocab x vocab x d) products.
The only randomness is the dropout of step 3, drawn from a ``torch.Generator`` seeded with ``seed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lpa_utils.align.linear import Aligner, DeWhiten, Normalize, Pipeline, Procrustes, ReWeight, Whiten
from lpa_utils.checks import as_matrix, device_of, positive_int

__all__ = ["sqrt_similarity_profiles", "initial_dictionary", "UnsupervisedSelfLearning"]

_BLOCK = 2048


def _unit_center_unit(M: torch.Tensor) -> torch.Tensor:
    """Rows to unit length, columns centred, rows to unit length again (VecMap's ``unit center unit``)."""
    return Normalize(("unit", "center", "unit"), device=M.device).fit(M, M).transform(M)


def sqrt_similarity_profiles(X) -> torch.Tensor:
    """The sorted rows of the square root of the similarity matrix of the rows of X (n, d): ``sqrt(X X^T) = U S
    U^T`` from the thin SVD ``X = U S V^T`` (n, n), each row sorted increasingly, then unit-centre-unit
    normalised. Returns (n, n) float32. A row is a word's profile of similarities to the other words, which does
    not depend on the orientation of the space, so profiles can be compared across languages."""
    x = as_matrix(X, "sqrt_similarity_profiles(X)").double()
    U, S, _ = torch.linalg.svd(x, full_matrices=False)
    M = (U * S) @ U.T
    return _unit_center_unit(M.sort(dim=1).values.float())


def _topk_mean(S: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Mean of the k largest values of S along ``dim``."""
    return S.topk(min(k, S.shape[dim]), dim=dim).values.mean(dim)


def initial_dictionary(X, Y, n: int = 4000, csls_k: int = 10) -> np.ndarray:
    """Artetxe et al. (2018)'s unsupervised initial dictionary (step 2 of the module docstring). X (n_x, d),
    Y (n_y, d'): normalised embeddings, rows in frequency order; the first ``min(n, n_x, n_y)`` rows of each side
    take part. Similarity of source word i and target word j: the dot product of their
    :func:`sqrt_similarity_profiles`, minus half the mean of each one's ``csls_k`` best (CSLS). Returns (2 n', 2)
    int64 pairs (source row, target row): every source word with its best target, then every target word with
    its best source."""
    x = as_matrix(X, "initial_dictionary(X)")
    y = as_matrix(Y, "initial_dictionary(Y)", x.device)
    m = min(int(n), len(x), len(y))
    px, py = sqrt_similarity_profiles(x[:m]), sqrt_similarity_profiles(y[:m])
    sim = px @ py.T
    sim = sim - _topk_mean(sim, csls_k, 1)[:, None] / 2 - _topk_mean(sim, csls_k, 0)[None, :] / 2
    rows = torch.arange(m)
    fwd = torch.stack([rows, sim.argmax(1).cpu()], 1)
    bwd = torch.stack([sim.argmax(0).cpu(), rows], 1)
    return torch.cat([fwd, bwd]).numpy().astype(np.int64)


class UnsupervisedSelfLearning(Aligner):
    """Artetxe et al. (2018)'s fully unsupervised map (module docstring). ``fit(X (n, d), Y (m, d'))`` with rows in
    frequency order; ``transform(X)`` and ``transform_target(Y)`` give both sides in the common space of the
    final map. Fitted: ``init_pairs_`` (p0, 2) the initial dictionary, ``pairs_`` (p, 2) the last one,
    ``history_`` (DataFrame: iteration, objective, keep_prob, pairs), ``n_iter_``, ``objective_``."""

    def __init__(
        self,
        init_vocab: int = 4000,
        vocab: int = 20000,
        csls_k: int = 10,
        keep_prob: float = 0.1,
        multiplier: float = 2.0,
        interval: int = 50,
        threshold: float = 1e-6,
        reweight: float = 0.5,
        max_iter: int = 1000,
        max_stage_iter: int | None = None,
        seed: int = 0,
        device=None,
    ):
        self.init_vocab = positive_int(init_vocab, "UnsupervisedSelfLearning: init_vocab", minimum=2)
        self.vocab = positive_int(vocab, "UnsupervisedSelfLearning: vocab", minimum=2)
        self.csls_k = positive_int(csls_k, "UnsupervisedSelfLearning: csls_k")
        self.interval = positive_int(interval, "UnsupervisedSelfLearning: interval")
        self.max_iter = positive_int(max_iter, "UnsupervisedSelfLearning: max_iter")
        self.max_stage_iter = (
            None if max_stage_iter is None else positive_int(max_stage_iter, "UnsupervisedSelfLearning: max_stage_iter")
        )
        if not 0 < keep_prob <= 1 or multiplier <= 1:
            raise ValueError(
                f"UnsupervisedSelfLearning: need 0 < keep_prob <= 1 and multiplier > 1, got {keep_prob}, {multiplier}"
            )
        self.keep_prob, self.multiplier, self.threshold = float(keep_prob), float(multiplier), float(threshold)
        self.reweight, self.seed, self.device = float(reweight), int(seed), device

    # -- one dictionary induction ------------------------------------------------------------------------------
    def _induce(self, xw: torch.Tensor, zw: torch.Tensor, keep: float, g: torch.Generator):
        """CSLS nearest neighbours in both directions among xw (a, r) and zw (b, r) with stochastic dropout.
        Returns ((a + b, 2) int64 pairs: every source row with its target, then every target row with its source;
        the objective: the mean of both directions' mean best similarity). Blocks of rows; both directions read
        rows (S and S^T are computed separately: reductions along rows are the fast ones)."""
        k = self.csls_k

        def rows(A, Bm):  # (S blocks of A @ Bm^T)
            for s in range(0, len(A), _BLOCK):
                yield s, A[s : s + _BLOCK] @ Bm.T

        knn_fwd = torch.cat([_topk_mean(S, k, 1) for _, S in rows(xw, zw)])  # each source word's k best targets
        knn_bwd = torch.cat([_topk_mean(S, k, 1) for _, S in rows(zw, xw)])  # each target word's k best sources

        def direction(A, Bm, knn_other):
            arg, best = torch.empty(len(A), dtype=torch.int64), torch.empty(len(A))
            for s, S in rows(A, Bm):
                best[s : s + len(S)] = S.max(1).values.cpu()
                S = S.sub_(knn_other[None, :] / 2)  # ranks as CSLS (the query's own term is constant)
                if keep < 1:  # VecMap's dropout: a dropped similarity becomes 0
                    S = S.mul_(torch.rand(S.shape, generator=g, device=g.device).to(S.device) < keep)
                arg[s : s + len(S)] = S.argmax(1).cpu()
            return arg, best

        fwd, best_fwd = direction(xw, zw, knn_bwd)
        bwd, best_bwd = direction(zw, xw, knn_fwd)
        a, b = len(xw), len(zw)
        pairs = torch.cat([torch.stack([torch.arange(a), fwd], 1), torch.stack([bwd, torch.arange(b)], 1)])
        objective = float((best_fwd.mean() + best_bwd.mean()) / 2)
        return pairs.numpy().astype(np.int64), objective

    # -- fit ----------------------------------------------------------------------------------------------------
    def fit(self, X, Y, pairs=None, val_pairs=None, context=None):
        """Learn the map from X (n, d) and Y (m, d') alone (``pairs`` and ``val_pairs`` are ignored)."""
        dev = device_of(self.device)
        self.device_ = dev
        Xt = as_matrix(X, "UnsupervisedSelfLearning.fit: X", dev, min_rows=2)
        Yt = as_matrix(Y, "UnsupervisedSelfLearning.fit: Y", dev, min_rows=2)
        self.normalize_ = Normalize(("unit", "center", "unit"), device=dev).fit(Xt, Yt)
        x, z = self.normalize_.transform(Xt), self.normalize_.transform_target(Yt)
        self.init_pairs_ = initial_dictionary(x, z, self.init_vocab, self.csls_k)
        a, b = min(self.vocab, len(x)), min(self.vocab, len(z))
        g = torch.Generator(device=dev if dev.type == "cuda" else "cpu").manual_seed(self.seed)
        P = self.init_pairs_
        keep, best_obj, last_improvement, end = self.keep_prob, -np.inf, 0, False
        rows = []
        it = stage_start = 1
        while True:
            stalled = it - last_improvement > self.interval
            capped = self.max_stage_iter is not None and it - stage_start >= self.max_stage_iter
            if stalled or capped:
                if keep >= 1.0:
                    end = True
                keep = min(1.0, self.multiplier * keep)
                last_improvement = stage_start = it
            if end or it > self.max_iter:
                break
            orth = Procrustes(device=dev).fit(x, z, P)
            xw = orth.transform(x[:a])
            P, obj = self._induce(xw, z[:b], keep, g)
            rows.append({"iteration": it, "objective": obj, "keep_prob": keep, "pairs": len(P)})
            if obj - best_obj >= self.threshold:
                last_improvement, best_obj = it, obj
            it += 1
        self.pairs_ = P
        self.history_ = pd.DataFrame(rows)
        self.n_iter_ = len(rows)
        self.objective_ = float(best_obj)
        self.map_ = Pipeline(
            [
                Whiten(device=dev),
                Procrustes(space="common", device=dev),
                ReWeight(self.reweight, self.reweight, device=dev),
                DeWhiten("src", "tgt", device=dev),
            ],
            name="Artetxe 2018 (unsupervised)",
        ).fit(x, z, P)
        return self

    def transform(self, X) -> torch.Tensor:
        """X (n, d) -> the common space (n, d)."""
        self._check_fitted()
        return self.map_.transform(self.normalize_.transform(X))

    def transform_target(self, Y) -> torch.Tensor:
        """Y (m, d') -> the common space (m, d')."""
        self._check_fitted()
        return self.map_.transform_target(self.normalize_.transform_target(Y))
