"""Exact top-k selections for :mod:`lpa_utils.maths.retrieval`, compiled with numba (CPU, float32).

Retrieval over (queries x targets) blocks of cosines costs one matrix product plus two selections per block: the
``k`` largest entries of every target's row (CSLS's ``r_S``) and, per query, a running top list over the targets.
``torch.topk`` copies every row into (double, index) pairs and sorts them, which costs several times the
product itself; these kernels read each block once or twice, mostly with vector instructions, and only touch the
few entries that can enter a top list with scalar code:

- :func:`row_topk_values` -- the ``k`` largest entries of each row, descending (exact, ties irrelevant: values).
  A row is viewed as ``L`` slices of ``W`` groups (column ``j`` of the ``(L, W)`` view, plus one tail entry); a
  vectorised pass keeps each group's two largest entries. The ``k``-th largest of ``G2 >= k`` super-group maxima
  (distinct entries) is a lower bound ``t0`` of the row's ``k``-th largest entry, so only groups whose maximum is
  ``>= t0`` can hold a top-k entry, and a group whose second entry is ``< t0`` holds exactly one (its maximum).
- :func:`cols_topk_update` -- per column of a (targets x queries) block, merge ``S[y, x] - shift[y]`` into the
  query's running descending top list (CSLS: ``shift = r_S / 2``; nearest neighbour: 0).
- :func:`rows_topk_update` -- per row of a (queries x targets) block, merge ``S[x, y]`` into the query's list
  (the inverted softmax's probabilities).

Ties in the top lists: the lower target index first (a later entry must be strictly larger to pass an earlier
one). Each kernel works on a range of rows or queries and releases the GIL (``nogil``): the caller splits a
block among threads of its own (:func:`lpa_utils.maths.retrieval._run_split`) rather than numba's OpenMP layer,
whose idle threads slowed torch's matrix products in the same process by a third (a second OpenMP runtime). The
kernels are compiled on first use and cached on disk (``cache=True``); importing this module needs numba, which
:mod:`~lpa_utils.maths.retrieval` imports lazily and does without (plain torch) when it is missing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: float32 lanes of an AVX-512 register: group counts are multiples of it
_LANES = 16
#: no NaN (inputs are checked finite) and no signed zeros; -inf stays meaningful (the empty top list)
_FM = {"nnan", "nsz"}
#: queries per chunk of a target row (one reject test per chunk) / targets per chunk of a query row
_QUERIES_PER_TASK = 64
_TARGETS_PER_CHUNK = 64


@njit(nogil=True, cache=True, inline="always")
def _push(top, k, v):
    """Insert ``v`` into the descending ``top[:k]``, dropping the last entry (the caller checked
    ``v > top[k - 1]``)."""
    p = k - 1
    while p > 0 and top[p - 1] < v:
        top[p] = top[p - 1]
        p -= 1
    top[p] = v


@njit(nogil=True, cache=True, fastmath=_FM)
def row_topk_values(S, k, out, i0, i1):
    """``out[i, :k]`` = the ``k`` largest entries of row ``i`` of ``S`` (n_rows, n), descending, for
    ``i0 <= i < i1``. Exact.

    S: C-contiguous float32 (n_rows, n); out: float32 (n_rows, k); 1 <= k <= n.
    """
    nr, n = S.shape
    G2 = _LANES * ((k + _LANES - 1) // _LANES)  # super-groups: at least k of them
    W = G2 * max(1, int(np.sqrt(k * n) / G2 + 0.5))  # groups; W ~ sqrt(k n) balances the two scalar scans
    L = n // W
    small = L < 4
    r = n - L * W
    top = np.empty(k, np.float32)
    m1 = np.empty(W, np.float32)
    m2 = np.empty(W, np.float32)
    g2 = np.empty(G2, np.float32)
    for i in range(i0, min(nr, i1)):
        row = S[i]
        for p in range(k):
            top[p] = -np.inf
        if small:
            for e in range(n):
                v = row[e]
                if v > top[k - 1]:
                    _push(top, k, v)
        else:
            # the two largest entries of each group j = {j, j + W, ..., j + (L - 1) W, and L W + j if j < r}
            seg = row[:W]
            seg1 = row[W : 2 * W]
            for j in range(W):
                a = seg[j]
                c = seg1[j]
                m1[j] = a if a > c else c
                m2[j] = c if a > c else a
            for ell in range(2, L + 1):
                seg = row[ell * W : ell * W + W]
                w = W if ell < L else r
                for j in range(w):
                    v = seg[j]
                    lo = v if v < m1[j] else m1[j]
                    m1[j] = v if v > m1[j] else m1[j]
                    m2[j] = lo if lo > m2[j] else m2[j]
            # t0: the k-th largest of G2 super-group maxima (G2 distinct entries) <= the row's k-th largest
            g2[:] = m1[:G2]
            for m in range(G2, W, G2):
                for j in range(G2):
                    v = m1[m + j]
                    g2[j] = v if v > g2[j] else g2[j]
            for j in range(G2):
                v = g2[j]
                if v > top[k - 1]:
                    _push(top, k, v)
            t0 = top[k - 1]
            for p in range(k):
                top[p] = -np.inf
            # every top-k entry is >= t0, so it sits in a group whose maximum is >= t0
            for j in range(W):
                if m1[j] >= t0:
                    if m2[j] >= t0:  # two or more candidates in this group: scan it
                        for e in range(j, n if j < r else L * W, W):
                            v = row[e]
                            if v >= t0 and v > top[k - 1]:
                                _push(top, k, v)
                    elif m1[j] > top[k - 1]:
                        _push(top, k, m1[j])
        for p in range(k):
            out[i, p] = top[p]


@njit(nogil=True, cache=True, fastmath=_FM)
def cols_topk_update(S, shift, offset, best_v, best_i, q0, q1):
    """Merge column ``x`` of the scores ``S[y, x] - shift[y]`` into the running top list of query ``x``, for the
    queries ``q0 <= x < q1``.

    S: C-contiguous float32 (b, q), rows = targets ``offset .. offset + b - 1``; shift: float32 (b,);
    best_v: float32 (q, kt) descending (``-inf`` where empty), best_i: int64 (q, kt); both updated in place.
    Ties: the lower target index first.
    """
    b, q = S.shape
    kt = best_v.shape[1]
    for x0 in range(q0, min(q, q1), _QUERIES_PER_TASK):
        x1 = min(q, q1, x0 + _QUERIES_PER_TASK)
        w = x1 - x0
        thr = np.empty(w, np.float32)
        for c in range(w):
            thr[c] = best_v[x0 + c, kt - 1]
        for y in range(b):
            seg = S[y, x0:x1]
            h = shift[y]
            hit = False
            for c in range(w):
                hit |= (seg[c] - h) > thr[c]
            if hit:
                for c in range(w):
                    v = seg[c] - h
                    if v > thr[c]:
                        x = x0 + c
                        p = kt - 1
                        while p > 0 and best_v[x, p - 1] < v:
                            best_v[x, p] = best_v[x, p - 1]
                            best_i[x, p] = best_i[x, p - 1]
                            p -= 1
                        best_v[x, p] = v
                        best_i[x, p] = y + offset
                        thr[c] = best_v[x, kt - 1]


@njit(nogil=True, cache=True, fastmath=_FM)
def rows_topk_update(S, offset, best_v, best_i, q0, q1):
    """Merge row ``x`` of ``S`` (q, b) (columns = targets ``offset ..``) into the running top list of query ``x``,
    for ``q0 <= x < q1``.

    best_v: float32 (q, kt) descending, best_i: int64 (q, kt); updated in place. Ties: the lower index first.
    """
    q, b = S.shape
    kt = best_v.shape[1]
    C = _TARGETS_PER_CHUNK
    for x in range(q0, min(q, q1)):
        row = S[x]
        thr = best_v[x, kt - 1]
        for y0 in range(0, b, C):
            seg = row[y0 : y0 + C]
            hit = False
            for c in range(seg.shape[0]):
                hit |= seg[c] > thr
            if hit:
                for c in range(seg.shape[0]):
                    v = seg[c]
                    if v > thr:
                        p = kt - 1
                        while p > 0 and best_v[x, p - 1] < v:
                            best_v[x, p] = best_v[x, p - 1]
                            best_i[x, p] = best_i[x, p - 1]
                            p -= 1
                        best_v[x, p] = v
                        best_i[x, p] = y0 + c + offset
                        thr = best_v[x, kt - 1]
