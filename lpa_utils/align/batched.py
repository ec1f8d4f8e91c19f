"""Runs as a batch dimension: R SGD alignment runs of one cell trained as ONE model (issue 17, item 1).

A chapter trains many runs of the same cell (one pair of embedding spaces X, Y): seeds, redrawn or smaller
training dictionaries, values of beta / k / ortho, the ridge baseline. :func:`fit_runs` trains them together:
the R maps are one tensor ``W`` of shape (R, ds, dt), every step gathers an (R, B) block of training-pair rows (each
run its own pairs, in its own seeded order) and evaluates all R losses with batched matrix products
(:func:`torch.bmm`). Run r minimises, with the equations of the LPL paper (``x W`` the map, p_r its pairs)::

    L_r = L_mse (eq. 4) + beta_r * L_lpl (eq. 5) + ortho_r * ||W_r^T W_r - I||_F^2 + weight_decay_r * ||W_r||_F^2

with ``loss="lpa"`` (eq. 7, plus the optional ridge term) or without the LPL term (``loss="mse"``); L_ortho is taken
on the smaller side (``W W^T`` when dt > ds), as :func:`lpa_utils.maths.losses.ortho_loss`. L_mse and L_lpl
are means over the pairs of the mini-batch (:mod:`lpa_utils.maths.losses`). Because the map is linear, LPL (eq. 5)
is evaluated on the precomputed reconstructions ``x~_i = sum_j w_ij x_j`` of the source words (LLE weights of eq. 6,
phase 1, frozen): ``sum_j w_ij f(x_j) = f(x~_i)``, the same loss k times cheaper (as :class:`SGDAligner`).

**Why the batched runs equal the solo runs.** The objective is ``sum_r L_r``; run r's gradient only involves W_r, so
each block of the gradient is that run's solo gradient. Adam is elementwise, so one Adam over the (R, ds, dt) tensor
updates every W_r exactly as a solo Adam would, *provided every run takes a step at every step*. Two things break
that, and both are handled by masking:

- a run that has stopped early (patience), and a run that has no batch left in the current epoch (its dictionary is
  smaller than another run's): a plain :class:`torch.optim.Adam` would still move such a W_r with a zero gradient
  (the running first moment m is not zero), and would advance its bias-correction step count. The small masked Adam
  here (:class:`MaskedAdam`) keeps W_r, m_r, v_r and the step count t_r of a masked run untouched, with the update
  rule of ``torch.optim.Adam`` (betas 0.9, 0.999, eps 1e-8, ``lerp`` / ``addcmul`` / bias corrections per run).
- a stopped run is moreover dropped from the batch (the live tensors are compacted at the validation point where it
  stops), so it costs nothing afterwards; its result is its best checkpoint (``BatchedFit.W``), and the weights it
  had when it stopped are kept as ``BatchedFit.W_last``.

Gradients are written out by hand (no autograd): with ``A`` = the rows ``[x_i; x~_i]`` of a batch and ``E = A W - y``,
``dL/dW = 2 A^T diag(c) E`` (c: 1/batch size for the MSE rows, beta/batch size for the LPL rows; stored as rows
``sqrt(beta) x~_i`` and targets ``sqrt(beta) y_i``, so that one GEMM serves both terms), plus
``4 W (W^T W - I)`` (dt <= ds) or ``4 (W W^T - I) W`` (dt > ds) for L_ortho, plus ``2 wd W`` for the ridge term. The
tests check them against the autograd loop of :class:`SGDAligner` (``lpl_exact=True``, the literal form of eq. 5).

**Scale of L_ortho.** The paper writes eq. 7 with *sums* over the pairs and ``+ L_ortho`` (weight 1). Here, as in
:class:`SGDAligner`, L_mse and L_lpl are *means* over pairs while ``||W W^T - I||^2`` is not, so ``ortho=1`` weighs
the orthogonality term about p times more than the paper's literal eq. 7 (p = the number of training pairs; dividing
the paper's sum-form loss by p gives means and ``L_ortho / p``). ``RunSpec(ortho_scale="paper")`` uses the weight
``ortho / p_r`` for run r (p_r its own number of training pairs), i.e. exactly the paper's eq. 7 divided by p_r;
``ortho_scale="mean"`` (default, the chapters' convention and :class:`SGDAligner`'s) uses ``ortho`` as given.

**Ridge.** ``weight_decay = wd`` minimises ``(1/p) ||X_d W - Y_d||^2 + wd ||W||_F^2`` (full batch, MSE, no ortho),
whose minimiser is the closed form ``W = (X_d^T X_d + p wd I)^{-1} X_d^T Y_d``, i.e. ``LeastSquares(ridge=p * wd)``.

**Epochs or steps.** ``epochs=E`` (default): every run makes E passes over its own pairs (a new seeded permutation
per epoch, batches of ``min(batch_size, p_r)`` pairs, the last one shorter), the runs advancing epoch by epoch in
lockstep; validation every ``val_every`` epochs and patience in epochs, as :class:`SGDAligner`. ``steps=S``: every
run takes exactly S optimiser steps, cycling through its own seeded permutations with the same batch size (a run
with fewer pairs makes more passes); validation every ``val_every`` *steps* and patience in steps. For R = 1 and the
same seed, epoch mode reproduces :class:`SGDAligner` (``lpl_exact=True``) to float tolerance.

**Cost.** A step costs each run about ``2 * slots * B * ds * dt`` multiply-adds (slots = 2 with LPL: the rows x_i
and x~_i; 1 without), plus ``2 * ds * dt * min(ds, dt)`` for L_ortho. On a CPU this work is the bulk and grows with
R; batching saves the per-step overhead of R separate loops, phase 1 is shared (:func:`_phase1`) and validation is
pruned (:class:`_Validation`). The runs of one call share the largest batch (smaller ones are padded with a zero
row) and, if any run has LPL, every run carries the LPL rows (zero for MSE runs): put very different runs in
separate calls when that matters. ``tools/bench_runs.py`` times R runs against one.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from lpa_utils.align.phase1 import lle_neighbourhoods
from lpa_utils.checks import as_matrix, as_pairs, device_of, whole_number

LOSSES = ("mse", "lpa")
INITS = ("zeros", "orthogonal", "small")
ORTHO_SCALES = ("mean", "paper")

#: Elements of one block of validation scores (query rows x target rows), about 64 MB in float32.
VAL_BLOCK_ELEMENTS = 1 << 24


# ------------------------------------------------------------------------------------------------ the runs
@dataclass
class RunSpec:
    """One run of a cell: its training pairs, validation pairs, loss and seed.

    Attributes:
        pairs: (p_r, 2) integer rows (source row of X, target row of Y) of the run's training dictionary.
        val_pairs: (q_r, 2) validation pairs for early stopping on P@1, or None (the last weights are kept).
        loss: ``"mse"`` (eq. 4) or ``"lpa"`` (eq. 7: MSE + beta * LPL (eq. 5) + ortho * L_ortho).
        beta: weight of LPL (``loss="lpa"``; beta = 0 drops the term and phase 1).
        k: LPL neighbourhood size (eq. 5's N_k, phase 1 of eq. 6); >= 1 for ``loss="lpa"``.
        ortho: weight of ``L_ortho = ||W W^T - I||_F^2`` (see ``ortho_scale``).
        weight_decay: ridge weight ``wd``: ``+ wd * ||W||_F^2`` (the ridge-MSE baseline; 0 = none).
        seed: seeds the run's own generator: the initial W (``init="orthogonal"`` / ``"small"``) then the order of its
            mini-batches (one ``torch.randperm`` per pass), in the same order as :class:`SGDAligner`.
        ortho_scale: ``"mean"`` (weight ``ortho``, the chapters' convention) or ``"paper"`` (weight ``ortho / p_r``:
            eq. 7 with sums over pairs, divided by p_r). See the module docstring.
        name: a free label, copied into :meth:`BatchedFit.history_frame`.
    """

    pairs: Any
    val_pairs: Any = None
    loss: str = "mse"
    beta: float = 1.0
    k: int = 10
    ortho: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    ortho_scale: str = "mean"
    name: str = ""

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"RunSpec: loss must be 'mse' or 'lpa', got {self.loss!r}")
        if self.ortho_scale not in ORTHO_SCALES:
            raise ValueError(f"RunSpec: ortho_scale must be 'mean' or 'paper', got {self.ortho_scale!r}")
        for key in ("beta", "ortho", "weight_decay"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"RunSpec: {key} must be a finite number >= 0, got {value!r}")
            if not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"RunSpec: {key} must be a finite number >= 0, got {value!r}")
            setattr(self, key, float(value))
        self.k = whole_number(self.k, "RunSpec: k", minimum=1 if self.loss == "lpa" else 0)
        self.seed = whole_number(self.seed, "RunSpec: seed", minimum=0)

    @property
    def uses_lpl(self) -> bool:
        """Whether the run has an LPL term (``loss="lpa"`` and beta != 0), hence a phase 1."""
        return self.loss == "lpa" and self.beta != 0


@dataclass
class BatchedFit:
    """What :func:`fit_runs` returns; index r follows the order of ``runs``.

    Attributes:
        W: (R, ds, dt) the kept maps ``f(x) = x W[r]``: the best validation checkpoint (highest P@1, ties to the lower
            validation MSE), or the last weights for a run without validation pairs.
        W_last: (R, ds, dt) the weights each run had when it stopped training (early stop or the end).
        best_epoch: (R,) the epoch (``unit="epoch"``) or step (``unit="step"``) of ``W``.
        stopped_at: (R,) the epoch / step at which each run stopped training.
        steps_taken: (R,) optimiser steps each run took.
        best_val_p1: (R,) validation P@1 of ``W`` (NaN without validation pairs).
        history: per run, a list of dicts, one per epoch (epoch mode) or per validation period (steps mode):
            ``epoch`` / ``step``, ``loss`` (the minimised total), ``mse``, ``lpl``, ``ortho`` (||W W^T - I||^2, 0 when
            the run has no ortho term), ``ridge`` (||W||^2, 0 without weight decay) -- averages over the period's
            pairs -- and ``val_p@1``, ``val_mse`` at validation points. Steps mode adds ``passes``.
        recon: per run, phase-1 statistics (None for runs without LPL): ``k``, ``n_words`` (distinct training source
            words), ``recon_mse`` (mean ``||x_i - x~_i||^2``), ``recon_rel`` (mean ``||x_i - x~_i||^2 / ||x_i||^2``),
            ``shared_with`` (the first run whose neighbourhoods this run reuses, or None).
        neighbourhoods: per run ``(rows (r,), idx (r, k), weights (r, k))`` of phase 1, or None.
        unit: ``"epoch"`` or ``"step"``.
        runs: the RunSpecs.
        val_stats: ``{"scored": queries scored against all targets, "certified": queries whose nearest target was
            certified from their previous candidates}`` over all validations (see ``val_prune``).
    """

    W: torch.Tensor
    W_last: torch.Tensor
    best_epoch: np.ndarray
    stopped_at: np.ndarray
    steps_taken: np.ndarray
    best_val_p1: np.ndarray
    history: list
    recon: list
    neighbourhoods: list
    unit: str
    runs: list = field(repr=False)
    val_stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.W.shape[0]

    def history_frame(self):
        """All histories as one :class:`pandas.DataFrame` with columns ``run`` and ``name`` first."""
        import pandas as pd

        rows = [{"run": r, "name": self.runs[r].name, **rec} for r, h in enumerate(self.history) for rec in h]
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- masked Adam
class MaskedAdam:
    """Adam (the update of :class:`torch.optim.Adam`, no weight decay) on a stack of R parameter blocks, with a
    per-run step count and a per-step mask of the runs that take a step.

    A run masked out at a step keeps its parameters, moments and step count exactly: a plain
    :class:`torch.optim.Adam` given a zero gradient would still move it by ``lr * m_hat / (sqrt(v_hat) + eps)``
    (momentum) and advance its bias correction, so a run idling while others train would drift from its solo
    trajectory. Args: param (R, ...) tensor updated in place; lr; betas; eps.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, float(lr), betas, float(eps)
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = np.zeros(param.shape[0], dtype=np.int64)  # steps taken by each run
        self._shape = (-1,) + (1,) * (param.ndim - 1)

    def step(self, grad: torch.Tensor, active: np.ndarray | None = None) -> None:
        """One step; ``active`` (R,) bool marks the runs that step (None: all of them)."""
        b1, b2 = self.betas
        if active is None:
            self.t += 1
            m, v = self.m.lerp_(grad, 1 - b1), self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        else:
            self.t += active
            a = torch.from_numpy(active).to(self.param.device).view(self._shape)
            m = torch.where(a, self.m.lerp(grad, 1 - b1), self.m)
            v = torch.where(a, self.v.mul(b2).addcmul_(grad, grad, value=1 - b2), self.v)
            self.m.copy_(m)
            self.v.copy_(v)
        dev, dtype = self.param.device, self.param.dtype
        t = np.maximum(self.t, 1).astype(np.float64)
        if (t == t[0]).all():  # the usual case: Python floats, as torch.optim.Adam
            step_size, bc2_sqrt = self.lr / (1 - b1 ** float(t[0])), math.sqrt(1 - b2 ** float(t[0]))
        else:  # per run, float64 as torch's Python-float bias corrections
            step_size = torch.from_numpy(self.lr / (1 - b1**t)).to(dev, dtype).view(self._shape)
            bc2_sqrt = torch.from_numpy(np.sqrt(1 - b2**t)).to(dev, dtype).view(self._shape)
        denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
        update = (m / denom).mul_(step_size)
        if active is None:
            self.param.sub_(update)
        else:
            self.param.copy_(torch.where(a, self.param - update, self.param))

    def keep(self, rows) -> None:
        """Compact the state to the runs ``rows`` (the caller compacts ``param`` the same way)."""
        self.m, self.v, self.t = self.m[rows], self.v[rows], self.t[rows]


# -------------------------------------------------------------------------------------------- batch order
class _Batches:
    """The mini-batch stream of one run: positions (into its own pairs) of consecutive batches, epoch after epoch,
    each epoch a ``torch.randperm(p, generator=g)`` split into batches of ``b`` (the last one shorter) -- the order
    of :class:`SGDAligner`."""

    def __init__(self, p: int, b: int, g: torch.Generator):
        self.p, self.b, self.g = p, b, g
        self.queue: deque = deque()
        self.per_epoch = -(-p // b)

    def _refill(self):
        self.queue.extend(torch.randperm(self.p, generator=self.g).split(self.b))

    def take(self, n: int) -> list:
        while len(self.queue) < n:
            self._refill()
        return [self.queue.popleft() for _ in range(n)]


def _block(batch_lists, offsets, b_max: int, pad_row: int, dev):
    """Padded (S, R, b_max) rows of the pair tables (padding: the all-zero row ``pad_row``) and (S, R) batch sizes
    (0: the run is idle at that step), from per-run lists of position tensors (a run may have fewer than S)."""
    S = max(len(bl) for bl in batch_lists)
    rows = torch.full((S, len(batch_lists), b_max), pad_row, dtype=torch.int64)
    counts = np.zeros((S, len(batch_lists)), dtype=np.int64)
    for j, (bl, off) in enumerate(zip(batch_lists, offsets)):
        for s, pos in enumerate(bl):
            rows[s, j, : len(pos)] = pos + off
            counts[s, j] = len(pos)
    return rows.to(dev), counts


# ----------------------------------------------------------------------------------------------- phase 1
def _phase1(Xt, runs, P, n_ref, knn_method, lle, lle_reg, lle_steps):
    """Phase 1 (eq. 6) of every LPL run: per run (x~ of each training pair (p_r, ds) or None, its neighbourhoods,
    its reconstruction stats).

    With closed-form weights a word's neighbours and weights depend only on the word, k and the reference rows, so
    they are computed once per k for the union of the source words of all runs with that k (runs on redrawn or
    smaller dictionaries share the work) and each run takes its own rows. Learned weights (``lle="learned"``) come
    from a seeded joint optimisation, so they are computed per (source-word set, k, seed). Both are cached within
    the call."""

    lpl = [r for r, run in enumerate(runs) if run.uses_lpl]
    own = {r: torch.unique(P[r][:, 0], return_inverse=True) for r in lpl}  # rows (sorted), pair -> row
    groups: dict = {}
    for r in lpl:
        key = (runs[r].k,) if lle == "closed" else (runs[r].k, own[r][0].cpu().numpy().tobytes(), runs[r].seed)
        groups.setdefault(key, []).append(r)
    out_rec, out_nb, out_stats = [None] * len(runs), [None] * len(runs), [None] * len(runs)
    for key, members in groups.items():
        k = key[0]
        rows = torch.unique(torch.cat([own[r][0] for r in members]))  # sorted union
        seed = runs[members[0]].seed
        idx, Wl = lle_neighbourhoods(Xt, rows, k, n_ref, knn_method, lle_reg, lle, lle_steps, seed=seed)
        Xrec = torch.einsum("rk,rkd->rd", Wl, Xt[idx])  # (r, ds) reconstructions x~ (eq. 6)
        err = (Xt[rows] - Xrec).pow(2).sum(1)
        rel = err / Xt[rows].pow(2).sum(1).clamp_min(1e-12)
        for r in members:
            mine, inverse = own[r]
            at = torch.searchsorted(rows, mine)  # positions of the run's rows in the union
            out_rec[r] = Xrec[at][inverse]
            out_nb[r] = (mine, idx[at], Wl[at])
            out_stats[r] = {
                "k": k,
                "n_words": int(len(mine)),
                "recon_mse": float(err[at].mean()),
                "recon_rel": float(rel[at].mean()),
                "shared_with": None if r == members[0] else members[0],
            }
    return out_rec, out_nb, out_stats


# ---------------------------------------------------------------------------------------------- validation
class _Validation:
    """Validation P@1 and MSE (eq. 4) of the validation pairs for many runs at once, as
    :meth:`SGDAligner._val_score`: a query (distinct validation source word) is mapped, and it is a hit when its
    nearest target by cosine over *all* rows of Y is one of its gold targets. Queries are padded to (R, q_max, ds);
    the (queries x targets) scores are computed in blocks of ``block_elements`` (R x q x n_tgt would not fit).

    ``prune=True`` decides most hits and misses from a few scores, exactly (up to float32 rounding): when a query is
    scored against all targets, its ``K`` best targets C, the best score outside them, tau, and its unit mapped vector
    u0 are kept. At a later validation, with u its new unit vector and g its best gold score:

    - every target t outside C (unit rows) scores ``<u, t> <= <u0, t> + ||u - u0|| <= tau + ||u - u0||``, so the
      query is a *hit* if g beats every non-gold candidate in C and ``tau + ||u - u0||``;
    - it is a *miss* if some non-gold candidate in C beats g (then the nearest target is not a gold one);

    each by ``margin`` = 1e-4 (float32 rounding of the two ways of computing a score). Only the other queries (and
    a query's first validation) are scored against all targets, refreshing their C, tau, u0. On the benchmark's
    realistic case (tools/bench_runs.py) about nine queries in ten are decided without full scoring."""

    K = 32
    MARGIN = 1e-4
    CAND_BLOCK = 1 << 22  # elements of the gathered (queries, K, dt) candidate rows at once

    def __init__(self, Xt, Yt, V, block_elements: int, prune: bool = True):
        dev = Xt.device
        self.Yn = Yt / Yt.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.block = max(1, int(block_elements) // max(1, Yt.shape[0]))
        self.prune = bool(prune)
        R, ds, dt = len(V), Xt.shape[1], Yt.shape[1]
        qs, vs = [], []
        self.vpos, self.vtgt = [], []
        for v in V:
            if v is None:
                v = torch.zeros(0, 2, dtype=torch.int64, device=dev)
            vq, pos = torch.unique(v[:, 0], return_inverse=True)
            qs.append(vq)
            vs.append(v)
            self.vpos.append(pos)
            self.vtgt.append(v[:, 1])
        self.nq = torch.tensor([len(q) for q in qs], device=dev)
        self.nv = torch.tensor([len(v) for v in vs], device=dev)
        self.qstart = torch.cumsum(self.nq, 0) - self.nq  # of each run's queries in the flat candidate state
        qmax, vmax = max(1, int(self.nq.max())), max(1, int(self.nv.max()))
        self.Q = torch.zeros(R, qmax, ds, device=dev)
        self.qmask = torch.zeros(R, qmax, dtype=torch.bool, device=dev)
        self.VX = torch.zeros(R, vmax, ds, device=dev)
        self.VY = torch.zeros(R, vmax, dt, device=dev)
        self.vmask = torch.zeros(R, vmax, device=dev)
        for r, (q, v) in enumerate(zip(qs, vs)):
            self.Q[r, : len(q)] = Xt[q]
            self.qmask[r, : len(q)] = True
            self.VX[r, : len(v)] = Xt[v[:, 0]]
            self.VY[r, : len(v)] = Yt[v[:, 1]]
            self.vmask[r, : len(v)] = 1.0
        n_all, self.k_cand = int(self.nq.sum()), min(self.K, Yt.shape[0])
        self.cand = torch.zeros(n_all, self.k_cand, dtype=torch.int64, device=dev)  # C, ascending rows
        self.tau = torch.full((n_all,), math.inf, device=dev)  # +inf: never certified (not scored yet)
        self.u0 = torch.zeros(n_all, dt, device=dev)
        self.n_scored = self.n_certified = 0  # queries scored against all targets / certified from C

    def _full(self, U: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Nearest targets of the unit queries U (n, dt) over all of Y; refreshes the candidate state at rows g."""
        top = torch.empty(len(U), dtype=torch.int64, device=U.device)
        for s in range(0, len(U), self.block):
            S = U[s : s + self.block] @ self.Yn.T
            if not self.prune:
                top[s : s + self.block] = S.argmax(1)  # the first maximum, as SGDAligner._val_score
            else:
                kk = self.k_cand + (self.k_cand < S.shape[1])
                val, ind = S.topk(kk, dim=1)
                first = ind[:, 0].clone()
                if kk > 1:  # a tie for the maximum: the first one, as argmax
                    tied = (val[:, 1] == val[:, 0]).nonzero().squeeze(1)
                    first[tied] = S[tied].argmax(1)
                top[s : s + self.block] = first
                gs = g[s : s + self.block]
                self.cand[gs] = ind[:, : self.k_cand]
                self.tau[gs] = val[:, self.k_cand] if kk > self.k_cand else -math.inf
                self.u0[gs] = U[s : s + self.block]
        self.n_scored += len(U)
        return top

    def _certify(self, U, g, gq, tgt, gold):
        """(n,) int8: 1 certified hit, 0 certified miss, -1 undecided (see the class docstring)."""
        out = torch.full((len(U),), -1, dtype=torch.int8, device=U.device)
        C = self.cand[g]  # (n, K)
        is_gold = torch.zeros(C.shape, dtype=torch.int32, device=U.device)
        is_gold.index_add_(0, gq, (C[gq] == tgt.unsqueeze(1)).int())
        step = max(1, self.CAND_BLOCK // (C.shape[1] * U.shape[1]))
        for s in range(0, len(U), step):
            c = C[s : s + step]
            rows = self.Yn.index_select(0, c.reshape(-1)).view(*c.shape, -1)  # (b, K, dt)
            cs = torch.bmm(rows, U[s : s + step].unsqueeze(2)).squeeze(2)  # (b, K) candidate scores
            other = cs.masked_fill(is_gold[s : s + step] > 0, -math.inf).max(1).values  # best non-gold candidate
            gb = gold[s : s + step]
            bound = self.tau[g[s : s + step]] + (U[s : s + step] - self.u0[g[s : s + step]]).norm(dim=1)
            hit = gb > torch.maximum(other, bound) + self.MARGIN
            miss = other > gb + self.MARGIN
            out[s : s + step][hit] = 1
            out[s : s + step][miss] = 0
        return out

    @torch.no_grad()
    def __call__(self, W: torch.Tensor, ids: Sequence[int]):
        """P@1 and MSE (numpy (n,) float64) of the runs ``ids`` (all with validation pairs), W: (n, ds, dt)."""
        dev = W.device
        ids_t = torch.as_tensor(list(ids), device=dev)
        M = torch.bmm(self.Q[ids_t], W)  # (n, q_max, dt)
        M = M / M.norm(dim=2, keepdim=True).clamp_min(1e-12)
        U = M[self.qmask[ids_t]]  # (sum q, dt) unit mapped queries, run after run
        nq = self.nq[ids_t]
        g = torch.cat([torch.arange(int(self.qstart[i]), int(self.qstart[i] + self.nq[i]), device=dev) for i in ids])
        starts = torch.cumsum(nq, 0) - nq
        gq = torch.cat([self.vpos[i] + starts[j] for j, i in enumerate(ids)])  # query of each val pair
        tgt = torch.cat([self.vtgt[i] for i in ids])
        hit = torch.zeros(len(U), device=dev)
        rest = torch.arange(len(U), device=dev)
        if self.prune:
            gold = torch.full((len(U),), -math.inf, device=dev)
            gold.scatter_reduce_(0, gq, (U[gq] * self.Yn[tgt]).sum(1), "amax")  # best gold score per query
            known = self.tau[g] < math.inf  # scored against all targets before
            decided = torch.full((len(U),), -1, dtype=torch.int8, device=dev)
            k_idx = known.nonzero().squeeze(1)
            if len(k_idx):
                pair_known = known[gq]
                remap = torch.cumsum(known.long(), 0) - 1  # query -> position among the known ones
                decided[k_idx] = self._certify(U[k_idx], g[k_idx], remap[gq[pair_known]], tgt[pair_known], gold[k_idx])
            hit[decided == 1] = 1.0
            rest = (decided < 0).nonzero().squeeze(1)
            self.n_certified += len(U) - len(rest)
        if len(rest):
            top = torch.full((len(U),), -1, dtype=torch.int64, device=dev)
            top[rest] = self._full(U[rest], g[rest])
            hit[gq[top[gq] == tgt]] = 1.0
        run_of_q = torch.repeat_interleave(torch.arange(len(ids), device=dev), nq)
        p1 = torch.zeros(len(ids), device=dev).index_add_(0, run_of_q, hit) / nq
        E = torch.bmm(self.VX[ids_t], W) - self.VY[ids_t]
        mse = (E.pow(2).sum(2) * self.vmask[ids_t]).sum(1) / self.nv[ids_t]
        return p1.double().cpu().numpy(), mse.double().cpu().numpy()


# ------------------------------------------------------------------------------------------------- fit_runs
def fit_runs(
    X,
    Y,
    runs: Sequence[RunSpec],
    *,
    epochs: int | None = None,
    steps: int | None = None,
    lr: float = 1e-2,
    batch_size: int | None = 256,
    patience: int | None = 20,
    val_every: int = 1,
    init: str = "zeros",
    n_ref: int | None = None,
    knn_method: str = "brute",
    lle: str = "closed",
    lle_reg: float = 1e-3,
    lle_steps: int = 300,
    device=None,
    progress: bool = False,
    val_block_elements: int = VAL_BLOCK_ELEMENTS,
    val_prune: bool = True,
) -> BatchedFit:
    """Train the R runs ``runs`` of one cell (X, Y) as one batched model; see the module docstring.

    Args:
        X: (n, ds) source vectors; Y: (m, dt) target vectors (arrays or tensors; float32 on ``device``).
        runs: the :class:`RunSpec` of each run (pairs may differ in number and content, and so may loss, beta, k,
            ortho, weight_decay, seed).
        epochs: passes over each run's pairs (epoch mode; the default is 100 when ``steps`` is not given).
        steps: optimiser steps per run (steps mode); give ``epochs`` or ``steps``, not both.
        lr: Adam learning rate (betas 0.9, 0.999, eps 1e-8; one Adam for all runs, masked, see :class:`MaskedAdam`).
        batch_size: pairs per step (each run ``min(batch_size, p_r)``; None: all of a run's pairs).
        patience: stop a run after this many epochs (steps, in steps mode) without a better validation score
            (None: never stop early).
        val_every: validate every this many epochs (steps, in steps mode), and at the end.
        init: ``"zeros"``, ``"orthogonal"`` or ``"small"`` (0.01 x orthogonal) starting W, drawn with each run's seed
            (see :class:`SGDAligner`).
        n_ref, knn_method, lle, lle_reg, lle_steps: phase 1 (:func:`lle_neighbourhoods`): neighbours among the first
            ``n_ref`` rows of X, ``"brute"``/``"kdtree"``, ``"closed"``/``"learned"`` LLE weights, regulariser, steps.
        device: None = CUDA if available.  progress: a tqdm bar over epochs (steps).
        val_block_elements: bound on the (queries x targets) validation scores held at once.
        val_prune: decide most validation hits and misses from each query's previous top-32 targets instead of scoring
            all targets again (exact up to float32 rounding; see :class:`_Validation`). False: score all, every time.

    Returns:
        :class:`BatchedFit`: ``W`` (R, ds, dt), ``best_epoch`` (R,), ``history`` per run, phase-1 ``recon`` stats...
    """

    runs = list(runs)
    if not runs:
        raise ValueError("fit_runs: runs is empty; give at least one RunSpec")
    for r, run in enumerate(runs):
        if not isinstance(run, RunSpec):
            raise ValueError(f"fit_runs: runs[{r}] must be a RunSpec, got {type(run).__name__}")
    if steps is not None and epochs is not None:
        raise ValueError(f"fit_runs: give epochs or steps, not both (got epochs={epochs}, steps={steps})")
    by_steps = steps is not None
    n_iter = whole_number(steps if by_steps else (100 if epochs is None else epochs), "fit_runs: epochs/steps", 1)
    if not (math.isfinite(float(lr)) and float(lr) > 0):
        raise ValueError(f"fit_runs: lr must be a finite number > 0, got {lr!r}")
    batch_size = whole_number(batch_size, "fit_runs: batch_size", minimum=1, allow_none=True)
    patience = whole_number(patience, "fit_runs: patience", minimum=1, allow_none=True)
    val_every = whole_number(val_every, "fit_runs: val_every", minimum=1)
    if init not in INITS:
        raise ValueError(f"fit_runs: init must be one of {INITS}, got {init!r}")
    if knn_method not in ("brute", "kdtree") or lle not in ("closed", "learned"):
        raise ValueError(
            f"fit_runs: knn_method must be 'brute'/'kdtree' and lle 'closed'/'learned', got {knn_method!r}, {lle!r}"
        )
    if not (math.isfinite(float(lle_reg)) and float(lle_reg) >= 0):
        raise ValueError(f"fit_runs: lle_reg must be a finite number >= 0, got {lle_reg!r}")
    k_max = max((run.k for run in runs if run.uses_lpl), default=0)
    n_ref = whole_number(n_ref, "fit_runs: n_ref", minimum=k_max + 1, allow_none=True)

    dev = device_of(device)
    Xt = as_matrix(X, "fit_runs: X", dev)
    Yt = as_matrix(Y, "fit_runs: Y", dev)
    (n_src, ds), (n_tgt, dt) = Xt.shape, Yt.shape
    if any(run.uses_lpl for run in runs) and (n_ref or n_src) < k_max + 1:
        raise ValueError(f"fit_runs: k={k_max} neighbours need more than {k_max + 1} source words, got {n_src}")
    P = [as_pairs(run.pairs, n_src, n_tgt, f"fit_runs: runs[{r}].pairs", dev) for r, run in enumerate(runs)]
    V = [
        None if run.val_pairs is None else as_pairs(run.val_pairs, n_src, n_tgt, f"fit_runs: runs[{r}].val_pairs", dev)
        for r, run in enumerate(runs)
    ]
    R = len(runs)
    p = np.array([len(Pr) for Pr in P])
    b = p if batch_size is None else np.minimum(batch_size, p)

    # phase 1 (eq. 6), then the tables of the training rows, one row per pair of every run plus an all-zero row for
    # padding: A = [x_i, sqrt(beta) x~_i] (slots 2; slot 1 only if no run has LPL) and -[y_i, sqrt(beta) y_i], so
    # that one GEMM gives E = A W - y = [x_i W - y_i, sqrt(beta) (x~_i W - y_i)] (eq. 4, eq. 5), ||E||^2 the
    # per-pair MSE + beta LPL, and A^T E half their gradient; padding rows contribute nothing.
    Xrec, neighbourhoods, recon = _phase1(Xt, runs, P, n_ref, knn_method, lle, lle_reg, lle_steps)
    slots = 2 if any(run.uses_lpl for run in runs) else 1
    pad_row = int(p.sum())
    tabX = torch.zeros(pad_row + 1, slots, ds, device=dev)
    tabY = torch.zeros(pad_row + 1, slots, dt, device=dev)
    offsets = np.concatenate([[0], np.cumsum(p)[:-1]])
    for r, Pr in enumerate(P):
        at = slice(offsets[r], offsets[r] + p[r])
        tabX[at, 0] = Xt[Pr[:, 0]]
        tabY[at, 0] = -Yt[Pr[:, 1]]
        if Xrec[r] is not None:
            tabX[at, 1] = math.sqrt(runs[r].beta) * Xrec[r]
            tabY[at, 1] = -math.sqrt(runs[r].beta) * Yt[Pr[:, 1]]
    tabX, tabY = tabX.view(pad_row + 1, slots * ds), tabY.view(pad_row + 1, slots * dt)
    beta = np.array([run.beta if run.uses_lpl else 0.0 for run in runs])
    ortho = np.array([run.ortho / (p[r] if run.ortho_scale == "paper" else 1.0) for r, run in enumerate(runs)])
    wd = np.array([run.weight_decay for run in runs])

    # initial maps, each from its own generator (then the same generator orders the batches)
    gens = [torch.Generator(device="cpu").manual_seed(run.seed) for run in runs]
    W = torch.zeros(R, ds, dt)
    if init != "zeros":
        for r, g in enumerate(gens):
            W0 = torch.zeros(dt, ds)  # (dt, ds) as SGDAligner's linear-layer weight
            torch.nn.init.orthogonal_(W0, generator=g)
            W[r] = W0.T * (0.01 if init == "small" else 1.0)
    W = W.to(dev)
    streams = [_Batches(int(p[r]), int(b[r]), gens[r]) for r in range(R)]
    val = _Validation(Xt, Yt, V, val_block_elements, val_prune) if any(v is not None for v in V) else None

    # state of every run (numpy / lists, updated at validation points) and of the live ones (tensors, compacted)
    W_best, W_last = W.clone(), W.clone()
    best_key = [(-math.inf, -math.inf)] * R
    best_at, stopped_at, bad = np.zeros(R, dtype=np.int64), np.zeros(R, dtype=np.int64), np.zeros(R, dtype=np.int64)
    taken, seen = np.zeros(R, dtype=np.int64), np.zeros(R, dtype=np.int64)  # steps, pairs
    best_p1 = np.full(R, np.nan)
    history: list = [[] for _ in range(R)]
    live = list(range(R))
    opt = MaskedAdam(W, lr)
    eye = torch.eye(min(ds, dt), device=dev)

    def live_consts():
        o = torch.as_tensor(ortho[live], dtype=torch.float32, device=dev)
        w = torch.as_tensor(wd[live], dtype=torch.float32, device=dev)
        return o, w, bool((ortho[live] > 0).any()), bool((wd[live] > 0).any())

    o_c, wd_c, any_o, any_wd = live_consts()

    def train_block(batch_lists):
        """The steps of one block (an epoch, or a validation period) for the live runs. Returns (n_live, slots + 2)
        averages over the block's pairs of: MSE (eq. 4), beta * LPL (eq. 5, if slots = 2), L_ortho, ||W||^2."""
        rows, counts = _block(batch_lists, offsets[live], int(b[live].max()), pad_row, dev)
        n, B = len(live), rows.shape[2]
        c = torch.from_numpy(1.0 / np.maximum(counts, 1)).float().to(dev)  # (S, n) 1 / batch size
        frac = torch.from_numpy(counts / np.maximum(counts.sum(0), 1)).float().to(dev)  # (S, n) pair shares
        vals = torch.zeros(rows.shape[0], n, slots + 2, device=dev)  # per step: batch means, L_ortho, ||W||^2
        A = torch.empty(n, B * slots, ds, device=dev)  # buffers reused by every step of the block
        E = torch.empty(n, B * slots, dt, device=dev)
        G = torch.empty(n, ds, dt, device=dev)
        for s in range(rows.shape[0]):
            active = counts[s] > 0
            r_s = rows[s].view(-1)
            torch.index_select(tabX, 0, r_s, out=A.view(n * B, slots * ds))  # rows [x_i; sqrt(beta) x~_i]
            torch.index_select(tabY, 0, r_s, out=E.view(n * B, slots * dt))  # -[y_i; sqrt(beta) y_i]
            E.baddbmm_(A, W)  # A W - y
            sq = torch.linalg.vector_norm(E.view(n, B, slots, dt), dim=(1, 3))  # (n, slots)
            vals[s, :, :slots] = sq * sq  # sums over the batch of eq. 4 / beta eq. 5
            torch.bmm(A.transpose(1, 2), E, out=G)
            G.mul_((2 * c[s]).view(-1, 1, 1))  # (n, ds, dt) = 2 c A^T E
            if any_o:  # L_ortho on the smaller side, as lpa_utils.maths.losses.ortho_loss of the (dt, ds) weight
                o4 = (4 * o_c).view(-1, 1, 1)
                if dt <= ds:
                    Gm = torch.bmm(W.transpose(1, 2), W).sub_(eye)  # W^T W - I: (n, dt, dt)
                    G.baddbmm_(W, Gm * o4)  # + 4 ortho W (W^T W - I)
                else:
                    Gm = torch.bmm(W, W.transpose(1, 2)).sub_(eye)  # W W^T - I: (n, ds, ds)
                    G.baddbmm_(Gm * o4, W)  # + 4 ortho (W W^T - I) W
                vals[s, :, slots] = Gm.pow(2).sum((1, 2))
            if any_wd:  # ridge: + wd ||W||^2
                G.add_(W * (2 * wd_c).view(-1, 1, 1))
                vals[s, :, slots + 1] = W.pow(2).sum((1, 2))
            opt.step(G, None if active.all() else active)
        vals[:, :, :slots] *= c.unsqueeze(2)  # sums -> batch means
        taken[live] += (counts > 0).sum(0)
        seen[live] += counts.sum(0)
        return (vals * frac.unsqueeze(2)).sum(0).double().cpu().numpy()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_iter, desc=f"fit_runs ({R} runs)", leave=False)
    done = 0
    while done < n_iter and live:
        if by_steps:
            n_steps = min(val_every - done % val_every, n_iter - done)
            batch_lists = [streams[r].take(n_steps) for r in live]
            now = done + n_steps
        else:
            batch_lists = [streams[r].take(streams[r].per_epoch) for r in live]
            now = done + 1
        acc = train_block(batch_lists)
        due = now % val_every == 0 or now == n_iter
        ids_val = [r for r in live if V[r] is not None] if (val is not None and due) else []
        scores = {}
        if ids_val:
            js = [live.index(r) for r in ids_val]
            p1, vmse = val(W[torch.as_tensor(js, device=dev)], ids_val)
            scores = {r: (p1[i], vmse[i]) for i, r in enumerate(ids_val)}
        stop = []
        for j, r in enumerate(live):
            run = runs[r]
            lpl = acc[j, 1] / beta[r] if run.uses_lpl else 0.0  # acc holds beta * LPL
            o_v = acc[j, slots] if ortho[r] > 0 else 0.0
            r_v = acc[j, slots + 1] if wd[r] > 0 else 0.0
            rec = {"step" if by_steps else "epoch": now}
            if by_steps:
                rec["passes"] = float(seen[r] / p[r])
            rec.update(
                loss=float(acc[j, 0] + beta[r] * lpl + ortho[r] * o_v + wd[r] * r_v),
                mse=float(acc[j, 0]),
                lpl=float(lpl),
                ortho=float(o_v),
                ridge=float(r_v),
            )
            if r in scores:
                rec["val_p@1"], rec["val_mse"] = float(scores[r][0]), float(scores[r][1])
                key = (rec["val_p@1"], -rec["val_mse"])
                if key > best_key[r]:
                    best_key[r], best_at[r], bad[r], best_p1[r] = key, now, 0, rec["val_p@1"]
                    W_best[r] = W[j]
                else:
                    bad[r] += n_steps if by_steps else val_every
                if patience is not None and bad[r] >= patience:
                    stop.append(j)
            history[r].append(rec)
        done = now
        if bar is not None:
            bar.update(n_steps if by_steps else 1)
            bar.set_postfix(live=len(live) - len(stop))
        if stop or done >= n_iter:
            ended = stop if done < n_iter else list(range(len(live)))
            for j in ended:
                r = live[j]
                W_last[r], stopped_at[r] = W[j], done
                if V[r] is None:
                    W_best[r], best_at[r] = W[j], done
            keep = [j for j in range(len(live)) if j not in set(ended)]
            if keep and stop:
                rows_keep = torch.as_tensor(keep, device=dev)
                W = W[rows_keep].contiguous()
                opt.param = W
                opt.keep(rows_keep.cpu().numpy())
                live = [live[j] for j in keep]
                o_c, wd_c, any_o, any_wd = live_consts()
            elif not keep:
                live = []
    if bar is not None:
        bar.close()
    return BatchedFit(
        W=W_best,
        W_last=W_last,
        best_epoch=best_at,
        stopped_at=stopped_at,
        steps_taken=taken,
        best_val_p1=best_p1,
        history=history,
        recon=recon,
        neighbourhoods=neighbourhoods,
        unit="step" if by_steps else "epoch",
        runs=runs,
        val_stats={"scored": val.n_scored, "certified": val.n_certified} if val is not None else {},
    )
