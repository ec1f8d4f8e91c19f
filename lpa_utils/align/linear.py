"""Linear maps between two embedding spaces, learned from a seed dictionary: algebraic baselines and LPA.

Every aligner has one scikit-learn-like interface::

    aligner.fit(X (n, ds), Y (m, dt), pairs (p, 2), val_pairs=None) -> self
    aligner.transform(X) -> (n, d') torch        # source vectors in the shared space
    aligner.transform_target(Y) -> (m, d') torch # target vectors in the shared space (identity for most)

``pairs`` holds integer rows ``(source row of X, target row of Y)`` of the training dictionary (a source word
with several translations appears several times). Retrieval compares ``transform(X)`` with
``transform_target(Y)`` (:mod:`lpa_utils.maths.retrieval`). Source and target dimensions may differ (50 -> 300).

Aligners:

- :class:`LeastSquares` (Mikolov et al. 2013): ``min_W ||X_d W - Y_d||^2`` (optionally ridge).
- :class:`Procrustes` (Xing et al. 2015; Artetxe et al. 2016): ``W = U V^T`` from the SVD
  ``X_d^T Y_d = U S V^T``, the orthogonal (semi-orthogonal when ds != dt) minimiser of ``||X_d W - Y_d||``.
- :class:`ShigetoRidge` (Shigeto et al. 2015): ridge regression from the *target* to the *source* space,
  ``min_B ||Y_d B - X_d||^2 + alpha ||B||^2``; retrieval happens in the source space
  (``transform(X) = X``, ``transform_target(Y) = Y B``), which reduces hubness.
- :class:`SGDAligner` ``loss="mse"`` (eq. 4 by gradient descent) or ``loss="lpa"`` (eq. 7: MSE + beta * LPL (eq. 5)
  + ortho * L_ortho) in the paper's two phases: phase 1 learns the LLE weights of the training source words over
  their k nearest neighbours in the source vocabulary (eq. 6, :mod:`lpa_utils.maths.lle`), phase 2 minimises eq. 7 with
  those weights frozen; early stopping on the validation pairs.

The Artetxe et al. (2018) framework (Table 1b of the LPL paper) as composable steps of a :class:`Pipeline`:
S0 :class:`Normalize` (unit length / mean centering), S1 :class:`Whiten`, S2 :class:`Procrustes`
(``space="common"`` maps both sides into the common space, as VecMap does), S3 :class:`ReWeight`,
S4 :class:`DeWhiten`, S5 :class:`DimReduce`. Steps see what earlier steps learned through a shared ``context``
dict (S3-S5 need S2's singular values and vectors, S4 needs S1's matrices). Table 1a's rows are compositions,
e.g. Artetxe 2018 = ``Pipeline([Normalize(("unit", "center")), Whiten(), Procrustes(space="common"),
ReWeight(tgt=1), DeWhiten("src", "tgt"), DimReduce(n)])``; see :func:`artetxe2018`, :func:`smith2017`,
:func:`artetxe2016`.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from lpa_utils.checks import as_matrix, as_pairs, device_of

# ------------------------------------------------------------------------------------------------ inputs


class Aligner:
    """Base class: ``fit(X, Y, pairs, val_pairs=None, context=None) -> self``, ``transform``, ``transform_target``.

    ``context`` is a dict shared by the steps of a :class:`Pipeline` (None when used alone). Subclasses set
    ``self.device_`` in ``fit``; ``transform`` returns float32 tensors on that device.
    """

    device = None

    def _setup(self, X, Y, pairs, name: str):
        dev = device_of(self.device)
        self.device_ = dev
        Xt = as_matrix(X, f"{name}.fit: X", dev)
        Yt = as_matrix(Y, f"{name}.fit: Y", dev)
        P = as_pairs(pairs, Xt.shape[0], Yt.shape[0], f"{name}.fit: pairs", dev)
        self.dim_in_, self.dim_target_ = Xt.shape[1], Yt.shape[1]
        return Xt, Yt, P

    def _check_fitted(self):
        if not hasattr(self, "device_"):
            raise RuntimeError(f"{type(self).__name__}: call fit(X, Y, pairs) before transform")

    def fit(self, X, Y, pairs, val_pairs=None, context=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, X) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform_target(self, Y) -> torch.Tensor:
        """Target vectors in the shared space: the identity for aligners that map the source side only."""
        self._check_fitted()
        return as_matrix(Y, f"{type(self).__name__}.transform_target: Y", self.device_)

    def fit_transform(self, X, Y, pairs, val_pairs=None, context=None):
        """``fit`` then ``(transform(X), transform_target(Y))``."""
        self.fit(X, Y, pairs, val_pairs=val_pairs, context=context)
        return self.transform(X), self.transform_target(Y)

    def __repr__(self) -> str:
        keys = [k for k in vars(self) if not k.endswith("_") and not k.startswith("_")]
        return f"{type(self).__name__}(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in keys) + ")"


class _LinearSource(Aligner):
    """Aligners whose source map is ``X @ W_`` (W_: (ds, dt)) and whose target side is the identity."""

    def transform(self, X) -> torch.Tensor:
        """X: (n, ds) -> X W: (n, dt)."""
        self._check_fitted()
        Xt = as_matrix(X, f"{type(self).__name__}.transform: X", self.device_)
        if Xt.shape[1] != self.W_.shape[0]:
            raise ValueError(
                f"{type(self).__name__}.transform: X has dimension {Xt.shape[1]}, the map expects {self.W_.shape[0]}"
            )
        return Xt @ self.W_


# ---------------------------------------------------------------------------------------- algebraic maps
class LeastSquares(_LinearSource):
    """Mikolov et al. (2013): ``W = argmin ||X_d W - Y_d||_F^2 + ridge ||W||_F^2`` (closed form, float64).

    ``X_d`` (p, ds), ``Y_d`` (p, dt) are the rows of the training pairs; ``W_``: (ds, dt). With ``ridge = 0`` the
    minimum-norm solution (as ``scipy.linalg.lstsq``).
    """

    def __init__(self, ridge: float = 0.0, device=None):
        if not (math.isfinite(float(ridge)) and float(ridge) >= 0):
            raise ValueError(f"LeastSquares: ridge must be a finite number >= 0, got {ridge!r}")
        self.ridge = float(ridge)
        self.device = device

    def fit(self, X, Y, pairs, val_pairs=None, context=None):
        Xt, Yt, P = self._setup(X, Y, pairs, "LeastSquares")
        A = Xt[P[:, 0]].double()
        B = Yt[P[:, 1]].double()
        if self.ridge > 0:
            G = A.T @ A + self.ridge * torch.eye(A.shape[1], dtype=A.dtype, device=A.device)
            W = torch.linalg.solve(G, A.T @ B)
        else:
            driver = "gelsd" if A.device.type == "cpu" else None
            W = torch.linalg.lstsq(A, B, driver=driver).solution
        self.W_ = W.float()
        return self


class Procrustes(_LinearSource):
    """Orthogonal Procrustes (Xing et al. 2015; Artetxe et al. 2016), S2 of Artetxe et al. (2018).

    SVD ``X_d^T Y_d = U diag(s) V^T`` (U: (ds, r), V: (dt, r), r = min(ds, dt)); ``W = U V^T`` minimises
    ``||X_d W - Y_d||_F`` over (semi-)orthogonal W (``scipy.linalg.orthogonal_procrustes`` when ds = dt).

    ``space="target"``: ``transform(X) = X U V^T`` (into the target space), ``transform_target(Y) = Y``.
    ``space="common"`` (VecMap's S2): ``transform(X) = X U``, ``transform_target(Y) = Y V``: both sides rotated into
    an r-dimensional common space whose axes are ordered by ``s`` (needed by S3 re-weighting and S5 dimensionality
    reduction). Dot products between mapped source and target agree in both spaces when ds = dt.
    Stores ``U_``, ``s_``, ``V_`` and puts them into ``context["orth"]``.
    """

    def __init__(self, space: str = "target", device=None):
        if space not in ("target", "common"):
            raise ValueError(f"Procrustes: space must be 'target' or 'common', got {space!r}")
        self.space = space
        self.device = device

    def fit(self, X, Y, pairs, val_pairs=None, context=None):
        Xt, Yt, P = self._setup(X, Y, pairs, "Procrustes")
        M = Xt[P[:, 0]].double().T @ Yt[P[:, 1]].double()  # (ds, dt)
        U, s, Vh = torch.linalg.svd(M, full_matrices=False)
        self.U_, self.s_, self.V_ = U.float(), s.float(), Vh.T.float()
        self.W_ = (U @ Vh).float() if self.space == "target" else self.U_
        if context is not None:
            context["orth"] = {"U": self.U_, "s": self.s_, "V": self.V_, "space": self.space}
        return self

    def transform_target(self, Y) -> torch.Tensor:
        Yt = super().transform_target(Y)
        return Yt if self.space == "target" else Yt @ self.V_


class ShigetoRidge(Aligner):
    """Shigeto et al. (2015): ridge regression from the target to the source space, retrieval in the source space.

    ``B = argmin ||Y_d B - X_d||_F^2 + alpha ||B||_F^2`` (B: (dt, ds)); ``transform(X) = X`` and
    ``transform_target(Y) = Y B``. Mapping the target side into the source space (rather than the source into the
    target) shrinks the mapped vectors towards the origin on the *searched* side, which reduces hubness.
    """

    def __init__(self, alpha: float = 1.0, device=None):
        if not (math.isfinite(float(alpha)) and float(alpha) >= 0):
            raise ValueError(f"ShigetoRidge: alpha must be a finite number >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.device = device

    def fit(self, X, Y, pairs, val_pairs=None, context=None):
        Xt, Yt, P = self._setup(X, Y, pairs, "ShigetoRidge")
        A = Yt[P[:, 1]].double()
        Bt = Xt[P[:, 0]].double()
        G = A.T @ A + self.alpha * torch.eye(A.shape[1], dtype=A.dtype, device=A.device)
        self.B_ = (
            torch.linalg.lstsq(G, A.T @ Bt).solution.float()
            if self.alpha == 0
            else torch.linalg.solve(G, A.T @ Bt).float()
        )
        return self

    def transform(self, X) -> torch.Tensor:
        self._check_fitted()
        Xt = as_matrix(X, "ShigetoRidge.transform: X", self.device_)
        if Xt.shape[1] != self.B_.shape[1]:
            raise ValueError(f"ShigetoRidge.transform: X has dimension {Xt.shape[1]}, expected {self.B_.shape[1]}")
        return Xt

    def transform_target(self, Y) -> torch.Tensor:
        Yt = super().transform_target(Y)
        if Yt.shape[1] != self.B_.shape[0]:
            raise ValueError(
                f"ShigetoRidge.transform_target: Y has dimension {Yt.shape[1]}, expected {self.B_.shape[0]}"
            )
        return Yt @ self.B_


# ---------------------------------------------------------------------- Artetxe et al. (2018) framework steps
class Normalize(Aligner):
    """S0: embedding normalisation, applied to both sides: a sequence of ``"unit"`` (rows to unit length) and
    ``"center"`` (subtract the mean row, computed on the vocabulary passed to ``fit`` and then frozen).

    VecMap's supervised recipe uses ``("unit", "center", "unit")``; Artetxe et al. (2016) ``("unit", "center")``.
    """

    OPS = ("unit", "center")

    def __init__(self, ops: Sequence[str] = ("unit", "center", "unit"), device=None):
        ops = (ops,) if isinstance(ops, str) else tuple(ops)
        bad = [o for o in ops if o not in self.OPS]
        if bad:
            raise ValueError(f"Normalize: unknown operation(s) {bad}; use any sequence of {self.OPS}")
        self.ops = ops
        self.device = device

    @staticmethod
    def _apply(Z: torch.Tensor, ops, means) -> torch.Tensor:
        for op, mu in zip(ops, means):
            Z = Z / Z.norm(dim=1, keepdim=True).clamp_min(1e-12) if op == "unit" else Z - mu
        return Z

    @staticmethod
    def _fit_means(Z: torch.Tensor, ops):
        means = []
        for op in ops:
            if op == "unit":
                means.append(None)
                Z = Z / Z.norm(dim=1, keepdim=True).clamp_min(1e-12)
            else:
                mu = Z.mean(0, keepdim=True)
                means.append(mu)
                Z = Z - mu
        return means

    def fit(self, X, Y, pairs=None, val_pairs=None, context=None):
        dev = device_of(self.device)
        self.device_ = dev
        Xt = as_matrix(X, "Normalize.fit: X", dev)
        Yt = as_matrix(Y, "Normalize.fit: Y", dev)
        self.src_means_ = self._fit_means(Xt, self.ops)
        self.tgt_means_ = self._fit_means(Yt, self.ops)
        return self

    def transform(self, X) -> torch.Tensor:
        self._check_fitted()
        return self._apply(as_matrix(X, "Normalize.transform: X", self.device_), self.ops, self.src_means_)

    def transform_target(self, Y) -> torch.Tensor:
        self._check_fitted()
        return self._apply(as_matrix(Y, "Normalize.transform_target: Y", self.device_), self.ops, self.tgt_means_)


def _inv_sqrt_and_sqrt(A: torch.Tensor, eps: float, name: str):
    """``(C^{-1/2}, C^{1/2})`` of ``C = A^T A / 1`` (A: (p, d), float64) by an eigendecomposition.

    ``eps`` adds ``eps * trace(C) / d`` to the diagonal; with ``eps = 0`` a singular C raises a clear error.
    """
    C = A.T @ A
    d = C.shape[0]
    if eps > 0:
        C = C + eps * torch.trace(C) / d * torch.eye(d, dtype=C.dtype, device=C.device)
    vals, vecs = torch.linalg.eigh(C)
    if float(vals.min()) <= 1e-10 * float(vals.max()):
        raise ValueError(
            f"{name}: the {A.shape[0]} training pairs span fewer than d = {d} dimensions, so "
            "whitening is singular; use more pairs than dimensions or Whiten(eps=1e-3)"
        )
    return (vecs * vals.rsqrt()) @ vecs.T, (vecs * vals.sqrt()) @ vecs.T


class Whiten(Aligner):
    """S1: whitening of each side on the training pairs: ``X <- X (X_d^T X_d)^{-1/2}``, ``Y <- Y (Y_d^T Y_d)^{-1/2}``.

    As VecMap's ``whitening_transformation`` (``V diag(1/s) V^T`` from the SVD of the dictionary rows). Needs more
    training pairs than dimensions (``eps > 0`` regularises). Puts ``Wx``, ``Wz`` and their inverses into
    ``context["whiten"]`` for S4 de-whitening.
    """

    def __init__(self, eps: float = 0.0, device=None):
        self.eps = float(eps)
        self.device = device

    def fit(self, X, Y, pairs, val_pairs=None, context=None):
        Xt, Yt, P = self._setup(X, Y, pairs, "Whiten")
        wx, wx_inv = _inv_sqrt_and_sqrt(Xt[P[:, 0]].double(), self.eps, "Whiten (source side)")
        wz, wz_inv = _inv_sqrt_and_sqrt(Yt[P[:, 1]].double(), self.eps, "Whiten (target side)")
        self.Wx_, self.Wz_ = wx.float(), wz.float()
        self.Wx_inv_, self.Wz_inv_ = wx_inv.float(), wz_inv.float()
        if context is not None:
            context["whiten"] = {"Wx": self.Wx_, "Wz": self.Wz_, "Wx_inv": self.Wx_inv_, "Wz_inv": self.Wz_inv_}
        return self

    def transform(self, X) -> torch.Tensor:
        self._check_fitted()
        return as_matrix(X, "Whiten.transform: X", self.device_) @ self.Wx_

    def transform_target(self, Y) -> torch.Tensor:
        self._check_fitted()
        return as_matrix(Y, "Whiten.transform_target: Y", self.device_) @ self.Wz_


def _need_common(context, name: str):
    orth = (context or {}).get("orth")
    if orth is None or orth["space"] != "common":
        raise ValueError(
            f"{name} works in the common space of the orthogonal mapping: put "
            "Procrustes(space='common') before it in the Pipeline"
        )
    return orth


class ReWeight(Aligner):
    """S3: re-weighting of the common-space axes by the singular values of S2: ``X <- X diag(s^src)``,
    ``Y <- Y diag(s^tgt)`` (VecMap ``--src_reweight`` / ``--trg_reweight``; Artetxe 2018 uses tgt = 1)."""

    def __init__(self, src: float = 0.0, tgt: float = 1.0, device=None):
        self.src, self.tgt = float(src), float(tgt)
        self.device = device

    def fit(self, X, Y, pairs=None, val_pairs=None, context=None):
        orth = _need_common(context, "ReWeight")
        self.device_ = device_of(self.device)
        s = orth["s"].to(self.device_).clamp_min(0)
        self.src_scale_, self.tgt_scale_ = s**self.src, s**self.tgt
        return self

    def transform(self, X) -> torch.Tensor:
        self._check_fitted()
        return as_matrix(X, "ReWeight.transform: X", self.device_) * self.src_scale_

    def transform_target(self, Y) -> torch.Tensor:
        self._check_fitted()
        return as_matrix(Y, "ReWeight.transform_target: Y", self.device_) * self.tgt_scale_


class DeWhiten(Aligner):
    """S4: de-whitening in the common space. ``src`` / ``tgt``: whose whitening to undo on that side, ``"src"``,
    ``"tgt"`` or ``None``. With ``"src"``: ``Z <- Z U^T (X_d^T X_d)^{1/2} U``; with ``"tgt"``:
    ``Z <- Z V^T (Y_d^T Y_d)^{1/2} V`` (VecMap ``--src_dewhiten`` / ``--trg_dewhiten``; Artetxe 2018: src, tgt)."""

    def __init__(self, src: str | None = "src", tgt: str | None = "tgt", device=None):
        for side, v in (("src", src), ("tgt", tgt)):
            if v not in ("src", "tgt", None):
                raise ValueError(f"DeWhiten: {side} must be 'src', 'tgt' or None, got {v!r}")
        self.src, self.tgt = src, tgt
        self.device = device

    def fit(self, X, Y, pairs=None, val_pairs=None, context=None):
        orth = _need_common(context, "DeWhiten")
        wh = (context or {}).get("whiten")
        if wh is None:
            raise ValueError("DeWhiten undoes S1: put Whiten() before Procrustes(space='common') in the Pipeline")
        self.device_ = device_of(self.device)
        U, V = orth["U"].to(self.device_), orth["V"].to(self.device_)
        mats = {"src": U.T @ wh["Wx_inv"].to(self.device_) @ U, "tgt": V.T @ wh["Wz_inv"].to(self.device_) @ V}
        self.src_mat_ = mats.get(self.src)
        self.tgt_mat_ = mats.get(self.tgt)
        return self

    def transform(self, X) -> torch.Tensor:
        self._check_fitted()
        Xt = as_matrix(X, "DeWhiten.transform: X", self.device_)
        return Xt if self.src_mat_ is None else Xt @ self.src_mat_

    def transform_target(self, Y) -> torch.Tensor:
        self._check_fitted()
        Yt = as_matrix(Y, "DeWhiten.transform_target: Y", self.device_)
        return Yt if self.tgt_mat_ is None else Yt @ self.tgt_mat_


class DimReduce(Aligner):
    """S5: keep the first ``n_components`` axes of the common space (the largest singular values of S2).

    ``n_components``: an int, a fraction in (0, 1] of the common dimension, or None (keep all).
    """

    def __init__(self, n_components: int | float | None = None, device=None):
        self.n_components = n_components
        self.device = device

    def fit(self, X, Y, pairs=None, val_pairs=None, context=None):
        orth = _need_common(context, "DimReduce")
        self.device_ = device_of(self.device)
        r = int(orth["s"].shape[0])
        n = self.n_components
        if n is None:
            keep = r
        elif isinstance(n, float):
            if not 0 < n <= 1:
                raise ValueError(f"DimReduce: a fractional n_components must be in (0, 1], got {n}")
            keep = max(1, int(round(n * r)))
        else:
            keep = int(n)
            if not 1 <= keep <= r:
                raise ValueError(f"DimReduce: n_components={keep} must be between 1 and the common dimension {r}")
        self.keep_ = keep
        return self

    def transform(self, X) -> torch.Tensor:
        self._check_fitted()
        return as_matrix(X, "DimReduce.transform: X", self.device_)[:, : self.keep_]

    def transform_target(self, Y) -> torch.Tensor:
        self._check_fitted()
        return as_matrix(Y, "DimReduce.transform_target: Y", self.device_)[:, : self.keep_]


class Pipeline(Aligner):
    """A composition of steps/aligners, fitted in order, each on the output of the previous ones.

    ``fit`` passes both sides through each fitted step (``transform`` / ``transform_target``) and gives every step
    the same ``context`` dict; ``transform(X)`` and ``transform_target(Y)`` apply all steps in order.
    """

    def __init__(self, steps: Sequence[Aligner], name: str | None = None):
        if not steps:
            raise ValueError("Pipeline needs at least one step")
        self.steps = list(steps)
        self.name = name

    def fit(self, X, Y, pairs, val_pairs=None, context=None):
        ctx = {} if context is None else context
        dev = device_of(getattr(self.steps[0], "device", None))
        Xc = as_matrix(X, "Pipeline.fit: X", dev)
        Yc = as_matrix(Y, "Pipeline.fit: Y", dev)
        for step in self.steps:
            step.fit(Xc, Yc, pairs, val_pairs=val_pairs, context=ctx)
            Xc, Yc = step.transform(Xc), step.transform_target(Yc)
        self.context_ = ctx
        self.device_ = dev
        return self

    def transform(self, X) -> torch.Tensor:
        self._check_fitted()
        Z = X
        for step in self.steps:
            Z = step.transform(Z)
        return Z

    def transform_target(self, Y) -> torch.Tensor:
        self._check_fitted()
        Z = Y
        for step in self.steps:
            Z = step.transform_target(Z)
        return Z

    def __getitem__(self, i):
        return self.steps[i]

    def __repr__(self) -> str:
        return "Pipeline([" + ", ".join(map(repr, self.steps)) + "])"


def artetxe2016(device=None) -> Pipeline:
    """Artetxe et al. (2016): S0 (unit, center) + S2 orthogonal mapping (Table 1a "MSE (Artetxe 2016)")."""
    return Pipeline([Normalize(("unit", "center"), device=device), Procrustes(device=device)], name="Artetxe 2016")


def smith2017(n_components=None, device=None) -> Pipeline:
    """Smith et al. (2017) as framed by Artetxe et al. (2018): S0 (unit) + S2 + S5 (retrieve with the inverted
    softmax)."""
    return Pipeline(
        [
            Normalize(("unit",), device=device),
            Procrustes(space="common", device=device),
            DimReduce(n_components, device=device),
        ],
        name="Smith 2017",
    )


def artetxe2018(n_components=None, src_reweight: float = 0.0, tgt_reweight: float = 1.0, device=None) -> Pipeline:
    """Artetxe et al. (2018) supervised S0-S5: unit + center, whitening, orthogonal mapping, target re-weighting,
    de-whitening (source by source, target by target), dimensionality reduction (their AAAI 2018 best setting)."""
    return Pipeline(
        [
            Normalize(("unit", "center"), device=device),
            Whiten(device=device),
            Procrustes(space="common", device=device),
            ReWeight(src_reweight, tgt_reweight, device=device),
            DeWhiten("src", "tgt", device=device),
            DimReduce(n_components, device=device),
        ],
        name="Artetxe 2018",
    )
