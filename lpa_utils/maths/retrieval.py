"""Word-translation retrieval and its evaluation: nearest neighbour, inverted softmax, CSLS; precision@k.

Given mapped source vectors ``Q`` (the queries, e.g. ``aligner.transform(X)[rows]``) and target vectors ``T``
(``aligner.transform_target(Y)``), every method scores all (query, target) pairs from the cosine similarity
``S = cos(Q, T)`` and returns, per query, the best ``topk`` target rows:

- ``"nn"``  nearest neighbour: ``score = S``.
- ``"isf"`` inverted softmax (Smith et al. 2017): ``P(y | x) = exp(beta S_xy) / sum_{x'} exp(beta S_x'y)``, the sum
  running over the source side (``src_ref``; by default the queries themselves), ``beta`` the inverse
  temperature. Scores are the log-probabilities ``beta S_xy - logsumexp_x'(beta S_x'y)``.
- ``"csls"`` cross-domain similarity local scaling (Conneau et al. 2017):
  ``CSLS(x, y) = 2 S_xy - r_T(x) - r_S(y)``, ``r_T(x)`` the mean cosine of ``x`` to its ``k`` nearest targets,
  ``r_S(y)`` the mean cosine of ``y`` to its ``k`` nearest mapped source vectors (``src_ref``; default the queries).

Everything is computed in blocks of target rows (``batch_size``), so 1,500 queries against 200,000 targets in
300 dimensions needs a few hundred MB, not the 1.2 GB of the full score matrix; per query only a running top-k
is kept. ``r_T(x)`` is constant along a query's row and does not change its ranking, so CSLS needs one pass over
the targets when ``src_ref`` is the query set (two when a separate ``src_ref`` is given: one for ``r_S``).

On the CPU the selections run in :mod:`~lpa_utils.maths.topk_kernels` (numba) when numba is installed: each block
of cosines is computed once (one matrix product), the ``k`` largest entries of every target's row give ``r_S`` and
the same block, shifted by ``r_S / 2``, updates each query's running top list, so CSLS costs little more than the
product itself (``python -m tools.bench``). The scores and the chosen rows are those of the plain torch path
(``torch.topk``, used on other devices and without numba), bit for bit; ties go to the lower target row.

:func:`evaluate_translation` implements the MUSE / VecMap protocol: test pairs with a word outside either
vocabulary are dropped and counted, coverage is the share of test source words with at least one pair in both
vocabularies, each source word is scored once, and a prediction is correct if it is any of its gold
translations.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from lpa_utils.checks import as_matrix, check_matrix, infer_device, whole_number

METHODS = ("nn", "csls", "isf")

#: elements of one (queries x target-block) score block; 2**22 floats = 16 MB (smaller blocks stay in cache for
#: the element-wise CSLS / softmax work, which on a CPU costs as much as the matmul)
_BLOCK_ELEMENTS = 1 << 22
#: the same for the numba path: 1.5 M floats (6 MB; 1,048 targets against 1,500 queries) measured best on a
#: 2-core machine, between the per-block costs of small blocks and the cache misses of large ones
_KERNEL_BLOCK_ELEMENTS = 3 << 19

#: set to False to force the plain torch selections (tests compare the two paths)
USE_KERNELS = True
_KERNELS: list = []


def _kernels():
    """The numba top-k kernels (:mod:`lpa_utils.maths.topk_kernels`), or None without numba / when disabled."""
    if not USE_KERNELS:
        return None
    if not _KERNELS:
        try:
            from lpa_utils.maths import topk_kernels  # reason: numba is optional; without it the torch path runs
        except ImportError:  # numba missing: the torch path does the same work, slower
            topk_kernels = None
        _KERNELS.append(topk_kernels)
    return _KERNELS[0]


def kernel_path(device="cpu") -> str:
    """Which selection code :func:`translate` uses on ``device``: ``"numba"`` or ``"torch"``."""
    return "numba" if torch.device(device).type == "cpu" and _kernels() is not None else "torch"


_POOL: list = []


def _run_split(fn, n: int, *args) -> None:
    """``fn(*args, lo, hi)`` over ``[0, n)`` cut into one contiguous part per torch thread: the first on this
    thread, the others on a small thread pool, in parallel (the kernels release the GIL); on one thread, a plain
    call."""
    parts = max(1, min(torch.get_num_threads(), n))
    if parts == 1:
        fn(*args, 0, n)
        return
    if not _POOL or _POOL[0]._max_workers < parts:
        from concurrent.futures import ThreadPoolExecutor

        _POOL[:] = [ThreadPoolExecutor(max_workers=max(parts, os.cpu_count() or 1), thread_name_prefix="lpa-topk")]
    cuts = [n * j // parts for j in range(parts + 1)]
    futures = [_POOL[0].submit(fn, *args, lo, hi) for lo, hi in zip(cuts[1:-1], cuts[2:]) if hi > lo]
    fn(*args, cuts[0], cuts[1])  # the first part on this thread
    for f in futures:
        f.result()


# ----------------------------------------------------------------------------------------------- helpers
def unit_rows(X: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rows scaled to unit Euclidean length (all-zero rows stay zero). X: (n, d) -> (n, d)."""
    return X / X.norm(dim=1, keepdim=True).clamp_min(eps)


def _block_rows(n_rows: int, n_other: int, batch_size: int | None, elements: int = _BLOCK_ELEMENTS) -> int:
    if batch_size is not None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return int(batch_size)
    return int(max(1, min(1 << 16, elements // max(1, n_other))))


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"retrieval method must be one of {METHODS}, got {method!r}")


def _prepare(Q, T, src_ref, device, normalise_targets: bool = True, return_norms: bool = False):
    """Checked inputs: ``(device, unit queries, targets (unit rows if normalise_targets), unit src_ref or None)``,
    plus the targets' row norms if ``return_norms``. The targets' finiteness is read off their row norms (a NaN or
    infinite entry makes its row's norm non-finite; :func:`~lpa_utils.checks.check_matrix` then names the rows),
    which saves a float64 copy and sum of a 200,000 x 300 matrix (a fifth of a CSLS retrieval's time)."""
    dev = infer_device(device, Q, T)
    Qn = unit_rows(as_matrix(Q, "queries Q", dev))
    Tn = as_matrix(T, "targets T", dev, finite=False)
    norms = Tn.norm(dim=1, keepdim=True)
    if not bool(torch.isfinite(norms).all()):
        check_matrix(Tn, "targets T")  # raises naming the rows (or passes: a norm overflowed on finite entries)
    if normalise_targets:
        Tn = Tn / norms.clamp_min(1e-12)  # = unit_rows(Tn)
    if Qn.shape[1] != Tn.shape[1]:
        raise ValueError(
            f"queries have dimension {Qn.shape[1]} but targets have {Tn.shape[1]}: map the source "
            "into the target space first (aligner.transform / transform_target)"
        )
    Rn = None
    if src_ref is not None:
        Rn = unit_rows(as_matrix(src_ref, "src_ref", dev))
        if Rn.shape[1] != Qn.shape[1]:
            raise ValueError(f"src_ref has dimension {Rn.shape[1]} but the queries have {Qn.shape[1]}")
    if return_norms:
        return dev, Qn, Tn, Rn, norms[:, 0]
    return dev, Qn, Tn, Rn


def _target_stat_vs_ref(
    Tn: torch.Tensor,
    Rn: torch.Tensor,
    method: str,
    k: int,
    beta: float,
    batch_size: int | None,
    progress: bool = False,
) -> torch.Tensor:
    """Per target row: ``r_S(y)`` (CSLS, mean of the top-k cosines to ``Rn``) or ``logsumexp(beta cos)`` (isf).

    Tn: (m, d), Rn: (n, d) unit rows -> (m,). Blocks of target rows against all of ``Rn``.
    """
    m = Tn.shape[0]
    out = torch.empty(m, dtype=torch.float32, device=Tn.device)
    b = _block_rows(m, Rn.shape[0], batch_size)
    Tn, Rn = _low_rank(Tn, Rn)
    RnT = Rn.T.contiguous()
    kk = min(k, Rn.shape[0])
    K = _kernels() if Tn.device.type == "cpu" and Tn.dtype == torch.float32 and method == "csls" else None
    vals = np.empty((b, kk), dtype=np.float32) if K is not None else None
    starts = range(0, m, b)
    if progress:
        starts = tqdm(starts, desc=f"{method}: target side vs {Rn.shape[0]:,} sources", leave=False)
    for s in starts:
        S = Tn[s : s + b] @ RnT  # (b, n)
        if K is not None:
            v = vals[: S.shape[0]]
            _run_split(K.row_topk_values, S.shape[0], S.detach().numpy(), kk, v)
            out[s : s + b] = torch.from_numpy(v).mean(1)  # the same values and reduction as topk's
        elif method == "csls":
            out[s : s + b] = S.topk(kk, dim=1).values.mean(1)
        else:
            out[s : s + b] = _logsumexp_cos(S, beta)
    return out


def _logsumexp_cos(S: torch.Tensor, beta: float, dim: int = 1) -> torch.Tensor:
    """``logsumexp(beta * S, dim)`` for cosines ``S <= 1`` (S is overwritten). For ``0 <= beta <= 40`` it uses
    ``beta + log sum exp(beta (S - 1))`` in place (no max pass: ``S - 1 <= 0`` cannot overflow and the largest
    terms cannot all underflow in float32); otherwise ``torch.logsumexp``."""
    if 0 <= beta <= 40:
        return S.sub_(1.0).mul_(beta).exp_().sum(dim).log_().add_(beta)
    return torch.logsumexp(S.mul_(beta), dim=dim)


def _low_rank(Tn: torch.Tensor, Rn: torch.Tensor, rel_tol: float = 1e-6):
    """If ``Rn`` (n, d) has numerical rank r <= d / 2 (e.g. a 50-d vocabulary mapped linearly into 300 d), return
    ``(Tn V_r, Rn V_r)`` with ``V_r`` (d, r) an orthonormal basis of Rn's row space (eigenvectors of ``Rn^T Rn``):
    their products equal ``Tn Rn^T`` (up to rounding), and the (m x n) similarity pass costs r instead of d
    multiply-adds per entry. Otherwise return the inputs unchanged."""
    n, d = Rn.shape
    if n < 2 * d or d < 16:
        return Tn, Rn
    G = Rn.double().T @ Rn.double()  # (d, d): cheap, and its rank is Rn's
    vals, vecs = torch.linalg.eigh(G)
    keep = vals > rel_tol * vals[-1].clamp_min(1e-300)
    r = int(keep.sum())
    if r > d // 2:
        return Tn, Rn
    V = vecs[:, keep].to(Rn.dtype)  # (d, r) orthonormal basis of Rn's rows
    return Tn @ V, Rn @ V


# ------------------------------------------------------------------------------------ full score matrices
def nn_scores(Q, T, device=None) -> torch.Tensor:
    """Cosine similarities ``S = cos(Q, T)``. Q: (q, d), T: (m, d) -> (q, m) torch (full matrix: small inputs)."""
    _, Qn, Tn, _ = _prepare(Q, T, None, device)
    return Qn @ Tn.T


def csls_scores(Q, T, k: int = 10, src_ref=None, device=None) -> torch.Tensor:
    """CSLS (Conneau et al. 2017): ``2 cos(x, y) - r_T(x) - r_S(y)``. Q: (q, d), T: (m, d) -> (q, m).

    ``r_T(x)``: mean cosine of query ``x`` to its ``k`` nearest rows of ``T``; ``r_S(y)``: mean cosine of target
    ``y`` to its ``k`` nearest rows of ``src_ref`` (n, d) (default: the queries ``Q``). ``k`` is capped at the
    number of rows available. Full (q, m) matrix: for large inputs use :func:`translate`.
    """
    _check_k(k)
    _, Qn, Tn, Rn = _prepare(Q, T, src_ref, device)
    S = Qn @ Tn.T
    r_t = S.topk(min(k, S.shape[1]), dim=1).values.mean(1)
    if Rn is None:
        r_s = S.topk(min(k, S.shape[0]), dim=0).values.mean(0)
    else:
        r_s = _target_stat_vs_ref(Tn, Rn, "csls", k, 0.0, None)
    return 2 * S - r_t[:, None] - r_s[None, :]


def inverted_softmax_scores(Q, T, beta: float = 10.0, src_ref=None, device=None) -> torch.Tensor:
    """Inverted softmax (Smith et al. 2017), as log-probabilities. Q: (q, d), T: (m, d) -> (q, m).

    ``log P(y | x) = beta cos(x, y) - log sum_{x' in src_ref} exp(beta cos(x', y))``: the softmax is normalised
    over the source side (``src_ref`` (n, d), default the queries) for each target, which penalises "hub"
    targets close to many source words. ``beta`` is the inverse temperature.
    """
    _, Qn, Tn, Rn = _prepare(Q, T, src_ref, device)
    S = Qn @ Tn.T
    logz = torch.logsumexp(beta * S, dim=0) if Rn is None else _target_stat_vs_ref(Tn, Rn, "isf", 0, beta, None)
    return beta * S - logz[None, :]


def _check_k(k: int) -> None:
    if int(k) < 1:
        raise ValueError(f"CSLS needs k >= 1 neighbours, got k={k}")


# ------------------------------------------------------------------------------------------- translate
def translate(
    Q,
    T,
    method: str = "csls",
    k: int = 10,
    topk: int = 10,
    batch_size: int | None = None,
    beta: float = 10.0,
    src_ref=None,
    device=None,
    return_scores: bool = False,
    progress: bool = False,
):
    """The ``topk`` best target rows for every query, best first, computed in blocks of targets.

    Args:
        Q: (q, d) mapped source vectors (queries).  T: (m, d) target vectors.  Cosine similarity throughout.
        method: ``"nn"`` | ``"csls"`` | ``"isf"`` (inverted softmax); see the module docstring.
        k: CSLS neighbourhood size (Conneau et al. use 10).
        topk: how many candidates to return per query (capped at ``m``).
        batch_size: target rows per block (default: a (q x block) block of 2**22 floats, 16 MB).
        beta: inverse temperature of the inverted softmax.
        src_ref: (n, d) mapped source vocabulary over which ``r_S`` (CSLS) or the softmax normaliser (isf) is
            taken; ``None`` = the queries themselves (one pass; with ``src_ref`` a first pass computes the
            per-target statistic against it).
        device: where to compute; ``None`` = the device of ``Q`` if it is a tensor, else the CPU.
        return_scores: also return the (q, topk) scores (for CSLS including the ``-r_T(x)`` term).

    Returns:
        (q, topk) int64 tensor of target rows (and the (q, topk) float32 scores if ``return_scores``).
    """
    _check_method(method)
    if method == "csls":
        _check_k(k)
    dev, Qn, T_raw, Rn, t_norm = _prepare(Q, T, src_ref, device, normalise_targets=False, return_norms=True)
    q, m = Qn.shape[0], T_raw.shape[0]
    kt = min(int(topk), m)
    if kt < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    t_inv = 1.0 / t_norm.clamp_min(1e-12)  # (m,): targets normalised per block
    col_stat = None
    if Rn is not None and method != "nn":
        col_stat = _target_stat_vs_ref(T_raw * t_inv[:, None], Rn, method, k, beta, batch_size, progress)
    fast_isf = method == "isf" and col_stat is None and 0 <= beta <= 40
    K = _kernels() if dev.type == "cpu" and Qn.dtype == torch.float32 else None
    if K is not None:
        best_v, best_i, r_t = _translate_kernels(
            K, Qn, T_raw, t_inv, method, k, kt, batch_size, beta, col_stat, fast_isf, return_scores, progress
        )
        if not return_scores:
            return best_i
        return best_i, _final_scores(best_v, method, fast_isf, None if r_t is None else r_t[:, None])
    b = _block_rows(m, q, batch_size)
    best_v = torch.full((q, kt), -math.inf, device=dev)
    best_i = torch.zeros((q, kt), dtype=torch.int64, device=dev)
    r_t_best = torch.full((q, min(k, m)), -math.inf, device=dev) if (method == "csls" and return_scores) else None
    starts = range(0, m, b)
    if progress:
        starts = tqdm(starts, desc=f"translate ({method})", leave=False)
    for s in starts:
        S = Qn @ (T_raw[s : s + b] * t_inv[s : s + b, None]).T  # (q, b) cosines
        if method == "nn":
            score = S
        elif method == "csls":
            r_s = (
                col_stat[s : s + b] if col_stat is not None else S.T.contiguous().topk(min(k, q), dim=1).values.mean(1)
            )  # contiguous rows: faster than dim=0
            if r_t_best is not None:
                r_t_best = (
                    torch.cat([r_t_best, S.topk(min(k, S.shape[1]), dim=1).values], 1)
                    .topk(r_t_best.shape[1], dim=1)
                    .values
                )
            score = S.sub_(0.5 * r_s[None, :])  # in place: ranks as 2 S - r_S (scores doubled below)
        elif fast_isf:
            # in place: E = exp(beta (S - 1)), P(y | x) = E / sum_x E (columns); ranked as P, logged below
            E = S.sub_(1.0).mul_(beta).exp_()
            score = E.div_(E.sum(0, keepdim=True))
        else:
            logz = col_stat[s : s + b] if col_stat is not None else _logsumexp_cos(S.clone(), beta, dim=0)
            score = S.mul_(beta).sub_(logz[None, :])  # in place: beta S - log Z
        bv, bi = score.topk(min(kt, score.shape[1]), dim=1)
        cat_v = torch.cat([best_v, bv], 1)
        cat_i = torch.cat([best_i, bi + s], 1)
        best_v, pos = cat_v.topk(kt, dim=1)
        best_i = cat_i.gather(1, pos)
    if not return_scores:
        return best_i
    return best_i, _final_scores(best_v, method, fast_isf, None if r_t_best is None else r_t_best.mean(1, keepdim=True))


def _final_scores(best_v: torch.Tensor, method: str, fast_isf: bool, r_t) -> torch.Tensor:
    """The reported scores from the ranked ones (both paths of :func:`translate`): the inverted softmax's
    probabilities back to logs, CSLS's ``S - r_S / 2`` doubled and less ``r_T`` ((q, 1), when known)."""
    if fast_isf:
        best_v = best_v.log()
    if method == "csls":
        best_v = 2 * best_v
        if r_t is not None:
            best_v = best_v - r_t
    return best_v


def _translate_kernels(K, Qn, T_raw, t_inv, method, k, kt, batch_size, beta, col_stat, fast_isf, want_rt, progress):
    """:func:`translate`'s block loop with the numba selections (CPU, float32). Returns ``(best_v, best_i, r_t)``:
    the (q, kt) ranking scores (CSLS: ``S - r_S / 2``; isf fast path: probabilities), their target rows and, for
    CSLS with ``want_rt``, ``r_T`` (q,) (else None).

    CSLS and NN compute each block as (targets x queries), the orientation in which ``r_S`` is a row selection
    and the queries' lists are updated along contiguous rows; the inverted softmax keeps the torch path's
    (queries x targets) blocks so that its normaliser is summed in the same order. The cosines are the same
    products as the torch path's (MKL gives the same bits in either orientation; the tests compare the paths).
    """
    q, m = Qn.shape[0], T_raw.shape[0]
    kq = min(k, q)
    best_v = np.full((q, kt), -np.inf, dtype=np.float32)
    best_i = np.zeros((q, kt), dtype=np.int64)
    want_rt = want_rt and method == "csls"
    rt_v = np.full((q, min(k, m)), -np.inf, dtype=np.float32) if want_rt else None
    rt_i = np.zeros((q, min(k, m)), dtype=np.int64) if want_rt else None
    b = _block_rows(m, q, batch_size, _KERNEL_BLOCK_ELEMENTS)
    vals = np.empty((b, kq), dtype=np.float32) if method == "csls" and col_stat is None else None
    zero = np.zeros(b, dtype=np.float32)
    QnT = Qn.T
    # buffers reused by every block: a fresh 16 MB score block per step costs page faults worth a third of the
    # product (the values are those of the torch path's expressions; ``out=`` only says where they go)
    t_buf = torch.empty((min(b, m), Qn.shape[1]), dtype=torch.float32)
    s_buf = torch.empty((min(b, m) * q,), dtype=torch.float32)
    starts = range(0, m, b)
    if progress:
        starts = tqdm(starts, desc=f"translate ({method})", leave=False)
    with torch.no_grad():
        for s in starts:
            bb = min(b, m - s)
            Tb = torch.mul(T_raw[s : s + b], t_inv[s : s + b, None], out=t_buf[:bb])  # unit rows, as the torch path
            if method == "isf":
                S = torch.mm(Qn, Tb.T, out=s_buf[: q * bb].view(q, bb))  # (q, bb): the torch path's orientation
                if fast_isf:
                    E = S.sub_(1.0).mul_(beta).exp_()
                    score = E.div_(E.sum(0, keepdim=True))
                else:
                    logz = col_stat[s : s + b] if col_stat is not None else _logsumexp_cos(S.clone(), beta, dim=0)
                    score = S.mul_(beta).sub_(logz[None, :])
                _run_split(K.rows_topk_update, q, score.numpy(), s, best_v, best_i)
                continue
            S = torch.mm(Tb, QnT, out=s_buf[: bb * q].view(bb, q))  # (bb, q): rows = targets
            Sn = S.numpy()
            if method == "nn":
                shift = zero[:bb]
            else:
                if col_stat is not None:
                    r_s = col_stat[s : s + b]
                else:
                    v = vals[:bb]
                    _run_split(K.row_topk_values, bb, Sn, kq, v)
                    r_s = torch.from_numpy(v).mean(1)  # the torch path's topk(...).values.mean(1)
                shift = (0.5 * r_s).numpy()  # ranks as S - r_S / 2, the torch path's in-place S.sub_(0.5 r_S)
                if want_rt:
                    _run_split(K.cols_topk_update, q, Sn, zero[:bb], s, rt_v, rt_i)
            _run_split(K.cols_topk_update, q, Sn, shift, s, best_v, best_i)
    r_t = torch.from_numpy(rt_v).mean(1) if want_rt else None
    return torch.from_numpy(best_v), torch.from_numpy(best_i), r_t


# ------------------------------------------------------------------------------------------ evaluation
def word_rows(vocabulary: Sequence[str], words: Sequence[str]) -> np.ndarray:
    """Row of each of ``words`` in ``vocabulary`` (first occurrence), -1 if absent. Vectorised (pandas)."""
    index = pd.Index(list(vocabulary))
    if not index.is_unique:
        index = index[~index.duplicated(keep="first")]
        rows_of_unique = np.flatnonzero(~pd.Index(list(vocabulary)).duplicated(keep="first"))
        pos = index.get_indexer(list(words))
        return np.where(pos >= 0, rows_of_unique[np.clip(pos, 0, None)], -1).astype(np.int64)
    return index.get_indexer(list(words)).astype(np.int64)


def gold_table(src_words: Sequence[str], tgt_words: Sequence[str], pairs: pd.DataFrame, name: str = "test pairs"):
    """Map a ["src", "tgt"] pair table onto vocabulary rows (MUSE / VecMap protocol).

    Returns a dict: ``queries`` (n_q,) source rows, one per distinct in-vocabulary source word (first-seen order);
    ``pair_query`` (p,) position of each kept pair's query; ``pair_tgt`` (p,) target row of each kept pair;
    ``n_pairs`` kept (distinct) pairs, ``n_oov_pairs`` dropped pairs, ``n_oov_words`` source words with no
    kept pair, ``coverage`` = n_queries / (n_queries + n_oov_words).
    """
    if not isinstance(pairs, pd.DataFrame) or not {"src", "tgt"} <= set(pairs.columns):
        raise ValueError(
            f"{name}: expected a DataFrame with columns 'src' and 'tgt', got "
            f"{type(pairs).__name__} with columns {list(getattr(pairs, 'columns', []))}"
        )
    if len(pairs) == 0:
        raise ValueError(f"{name}: no pairs to evaluate")
    df = pairs[["src", "tgt"]].astype(str).drop_duplicates()
    s_rows = word_rows(src_words, df["src"].tolist())
    t_rows = word_rows(tgt_words, df["tgt"].tolist())
    ok = (s_rows >= 0) & (t_rows >= 0)
    kept_src = s_rows[ok]
    src_all = df["src"].to_numpy()
    all_words = pd.Index(pd.unique(src_all))
    n_oov_words = int((~all_words.isin(src_all[ok])).sum())
    pair_query, first = pd.factorize(kept_src)  # first-seen order: deterministic and readable
    first = np.asarray(first)
    n_q = len(first)
    return {
        "queries": first.astype(np.int64),
        "pair_query": pair_query.astype(np.int64),
        "pair_tgt": t_rows[ok].astype(np.int64),
        "n_pairs": int(ok.sum()),
        "n_oov_pairs": int((~ok).sum()),
        "n_queries": n_q,
        "n_oov_words": n_oov_words,
        "coverage": n_q / (n_q + n_oov_words) if (n_q + n_oov_words) else float("nan"),
    }


def hits_at(top: torch.Tensor | np.ndarray, pair_query: np.ndarray, pair_tgt: np.ndarray) -> np.ndarray:
    """(n_q, K) boolean: is the candidate at rank j of query i one of its gold targets? Vectorised.

    top: (n_q, K) predicted target rows; pair_query, pair_tgt: (p,) gold pairs as (query position, target row).
    """
    top = top.cpu().numpy() if isinstance(top, torch.Tensor) else np.asarray(top)
    match = top[pair_query] == pair_tgt[:, None]  # (p, K)
    hits = np.zeros(top.shape, dtype=np.int64)
    np.add.at(hits, pair_query, match.astype(np.int64))
    return hits > 0


def evaluate_translation(
    mapped_src,
    tgt,
    src_words: Sequence[str],
    tgt_words: Sequence[str],
    test_pairs_df: pd.DataFrame,
    method: str = "csls",
    ks: Sequence[int] = (1, 5, 10),
    k: int = 10,
    beta: float = 10.0,
    src_ref="all",
    batch_size: int | None = None,
    device=None,
    return_predictions: bool = False,
    progress: bool = False,
) -> dict:
    """Precision@k of word translation with the MUSE / VecMap protocol.

    Args:
        mapped_src: (n, d) source vocabulary in the shared space (``aligner.transform(X)``), rows = ``src_words``.
        tgt: (m, d) target vocabulary in the shared space (``aligner.transform_target(Y)``), rows = ``tgt_words``.
        test_pairs_df: DataFrame ["src", "tgt"]; several gold targets per source word allowed.
        method: ``"csls"`` | ``"nn"`` | ``"isf"``; ``k`` the CSLS neighbourhood, ``beta`` the isf inverse temperature.
        ks: the precisions to report.
        src_ref: ``"all"`` (MUSE / VecMap: ``r_S`` / the softmax normaliser over the whole mapped source
            vocabulary), ``"queries"`` (over the test source words only), or an (n', d) array.
        progress: show progress bars over the blocks of targets (the long step on large vocabularies).
        return_predictions: also return ``"top"`` ((n_q, max ks) target rows) and ``"query_words"``.

    Returns:
        dict with ``"p@1"``, ``"p@5"``, ``"p@10"`` (fractions in [0, 1], one per ``ks``), ``"n_pairs"`` (test pairs
        with both words in the vocabularies), ``"n_queries"`` (distinct source words scored), ``"n_oov_pairs"``
        (pairs dropped), ``"n_oov_words"`` and ``"coverage"`` (n_queries / distinct test source words).

    Raises ``ValueError`` when no test pair has both words in the vocabularies (nothing to score), when ``ks``,
    ``k`` or ``beta`` are out of range, and (naming the rows) when ``mapped_src`` or ``tgt`` has NaN / inf rows.
    """
    _check_method(method)
    if len(src_words) != _nrows(mapped_src):
        raise ValueError(f"mapped_src has {_nrows(mapped_src)} rows but src_words has {len(src_words)} words")
    if len(tgt_words) != _nrows(tgt):
        raise ValueError(f"tgt has {_nrows(tgt)} rows but tgt_words has {len(tgt_words)} words")
    ks = _check_ks(ks)
    k = whole_number(k, "k (the CSLS neighbourhood)", 1)
    if not (isinstance(beta, (int, float, np.integer, np.floating)) and math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta (the inverted-softmax inverse temperature) must be a finite number > 0, got {beta!r}")
    g = gold_table(src_words, tgt_words, test_pairs_df)
    out = {f"p@{x}": float("nan") for x in ks}
    out.update({kk: g[kk] for kk in ("n_pairs", "n_queries", "n_oov_pairs", "n_oov_words", "coverage")})
    if g["n_queries"] == 0:
        raise ValueError(
            f"test_pairs_df: none of the {g['n_oov_pairs']} test pairs has its source word in src_words "
            f"({len(src_words)} words) and its target word in tgt_words ({len(tgt_words)} words), so "
            "there is nothing to score; check the languages, the casing and the vocabulary sizes"
        )
    dev = infer_device(device, mapped_src, tgt)
    S = as_matrix(mapped_src, "mapped_src", dev)
    T = as_matrix(tgt, "tgt", dev)  # NaN / infinite rows named here, with the argument's name
    Q = S[torch.as_tensor(g["queries"], device=dev)]
    if isinstance(src_ref, str):
        if src_ref not in ("all", "queries"):
            raise ValueError(f"src_ref must be 'all', 'queries' or an array, got {src_ref!r}")
        ref = S if src_ref == "all" else None
    else:
        ref = src_ref
    top = translate(
        Q,
        T,
        method=method,
        k=k,
        topk=max(ks),
        batch_size=batch_size,
        beta=beta,
        src_ref=ref,
        device=dev,
        progress=progress,
    )
    hits = hits_at(top, g["pair_query"], g["pair_tgt"])
    for x in ks:
        out[f"p@{x}"] = float(hits[:, :x].any(axis=1).mean())
    if return_predictions:
        out["top"] = top.cpu().numpy()
        out["query_words"] = np.asarray(src_words, dtype=object)[g["queries"]].tolist()
    return out


def _check_ks(ks) -> tuple[int, ...]:
    """The precisions to report: a non-empty sequence of integers >= 1 (integral floats accepted)."""
    if isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__"):
        raise TypeError(f"ks must be a sequence of integers >= 1, got {ks!r}")
    ks = tuple(ks)
    if not ks:
        raise ValueError("ks must be positive integers, got ()")
    try:
        return tuple(whole_number(x, "ks", 1) for x in ks)
    except (TypeError, ValueError):
        raise ValueError(f"ks must be positive integers, got {ks}") from None


def _nrows(x) -> int:
    return int(x.shape[0]) if hasattr(x, "shape") else len(x)
