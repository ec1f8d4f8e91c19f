"""SGD aligners: the MSE map of eq. 4 and LPA (eq. 7 = MSE + beta * LPL (eq. 5) + ortho), in the paper's two
phases (phase 1: LLE weights of eq. 6; phase 2: the map, early-stopped on validation pairs)."""

from __future__ import annotations

import math

import torch

from lpa_utils.align.batched import RunSpec, fit_runs
from lpa_utils.align.linear import _LinearSource
from lpa_utils.align.phase1 import lle_neighbourhoods
from lpa_utils.checks import as_pairs, whole_number
from lpa_utils.maths.losses import lpa_loss, mse_loss
from lpa_utils.maths.retrieval import hits_at, unit_rows


# ------------------------------------------------------------------------------------------- SGD aligners
class SGDAligner(_LinearSource):
    """A linear map ``f(x) = x W`` (W: (ds, dt)) trained by gradient descent on eq. 4 (MSE) or eq. 7 (LPA).

    ``loss="mse"``: ``L = L_mse + ortho * L_ortho``.
    ``loss="lpa"``: ``L = L_mse + beta * L_lpl + ortho * L_ortho`` (eq. 7), in the paper's two phases:
    phase 1 (:func:`lle_neighbourhoods`) fixes, for every distinct source word of the training pairs, its ``k``
    nearest source-vocabulary neighbours and LLE weights (eq. 6); phase 2 minimises eq. 7 with them frozen. Because
    f is linear, ``sum_j W_ij f(x_j) = f(sum_j W_ij x_j)``, so LPL (eq. 5) is evaluated on the precomputed
    reconstructions ``x~_i = sum_j W_ij x_j`` — exactly eq. 5, k times cheaper.

    ``fit`` is the one-run front of the batched core :func:`lpa_utils.align.batched.fit_runs` (which trains R runs
    of a cell as one model; use it directly for seeds / sweeps). ``lpl_exact=True`` instead runs the original
    per-run loop (autograd, ``torch.optim.Adam``, the (p, k, dt) form of :func:`lpa_utils.maths.losses.lpl_loss`
    literally): a slow reference; the tests check both agree to float tolerance. Note on eq. 7's scale: the losses
    are means over pairs but ``L_ortho`` is not, so ``ortho=1`` is about p times stronger than the paper's
    sum-over-pairs eq. 7 (``ortho = 1 / p`` is the paper's scale; see :mod:`lpa_utils.align.batched`).

    Training: Adam on mini-batches of pairs, shuffled with ``seed``. W starts at zero (``init="zeros"``: the first
    MSE gradient is then the cross-covariance ``X_d^T Y_d``, the direction of the Procrustes solution), at a random
    (semi-)orthogonal matrix drawn with ``seed`` (``init="orthogonal"``; with L_ortho, a start on the wrong side of
    det W = 0 has to cross the barrier of L_ortho), or at such a matrix scaled by 0.01 (``init="small"``; L_ortho
    then inflates the random start). On a planted rotation only the zero start recovers the map for every seed,
    so it is the default; the seed then sets the order of the mini-batches. Every ``val_every`` epochs the
    validation pairs (if given) are scored
    by P@1 (nearest neighbour by cosine over all rows of Y, any gold translation counts); the weights of the best
    epoch (highest P@1, ties to the
    lower validation MSE) are kept, and training stops after ``patience`` epochs without improvement. Without
    validation pairs the last epoch is kept. ``history_`` holds one dict per epoch.

    Args:
        loss: ``"mse"`` or ``"lpa"``.  k: LPL neighbourhood size.  beta: weight of LPL.  ortho: weight of L_ortho.
        epochs: maximum epochs.  lr: Adam learning rate.  batch_size: pairs per step (None: all).
        patience: early-stopping patience in epochs (None: never stop early).
        val_every: score the validation pairs every this many epochs (and at the last epoch).
        init: ``"zeros"`` (default), ``"small"`` or ``"orthogonal"`` starting W (see above).
        n_ref: neighbours are searched among the first ``n_ref`` source rows (None: all of X).
        knn_method: ``"brute"`` or ``"kdtree"`` (the paper's KD-tree; same neighbours).
        lle: ``"closed"`` or ``"learned"`` phase-1 weights; lle_reg: their regulariser.
        seed: initial W and the order of mini-batches.  device: None = CUDA if available.
    """

    def __init__(
        self,
        loss: str = "mse",
        k: int = 10,
        beta: float = 1.0,
        ortho: float = 0.0,
        epochs: int = 100,
        lr: float = 1e-2,
        batch_size: int | None = 256,
        patience: int | None = 20,
        n_ref: int | None = None,
        knn_method: str = "brute",
        lle: str = "closed",
        lle_reg: float = 1e-3,
        lpl_exact: bool = False,
        seed: int = 0,
        device=None,
        progress: bool = False,
        val_every: int = 1,
        init: str = "zeros",
    ):
        if loss not in ("mse", "lpa"):
            raise ValueError(f"SGDAligner: loss must be 'mse' or 'lpa', got {loss!r}")
        if loss == "lpa" and int(k) < 1:
            raise ValueError(f"SGDAligner: LPA needs k >= 1 neighbours, got {k}")
        if epochs < 1 or lr <= 0:
            raise ValueError(f"SGDAligner: need epochs >= 1 and lr > 0, got epochs={epochs}, lr={lr}")
        k = whole_number(k, "SGDAligner: k", minimum=0)
        epochs = whole_number(epochs, "SGDAligner: epochs", minimum=1)
        batch_size = whole_number(batch_size, "SGDAligner: batch_size", minimum=1, allow_none=True)
        patience = whole_number(patience, "SGDAligner: patience", minimum=1, allow_none=True)
        n_ref = whole_number(n_ref, "SGDAligner: n_ref", minimum=k + 1, allow_none=True)
        for name, value in (("beta", beta), ("ortho", ortho), ("lle_reg", lle_reg)):
            if not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"SGDAligner: {name} must be a finite number >= 0, got {value!r}")
        if knn_method not in ("brute", "kdtree") or lle not in ("closed", "learned"):
            raise ValueError(
                f"SGDAligner: knn_method must be 'brute' or 'kdtree' and lle 'closed' or 'learned', "
                f"got {knn_method!r}, {lle!r}"
            )
        self.loss, self.k, self.beta, self.ortho = loss, int(k), float(beta), float(ortho)
        self.epochs, self.lr, self.batch_size, self.patience = int(epochs), float(lr), batch_size, patience
        self.n_ref, self.knn_method, self.lle, self.lle_reg = n_ref, knn_method, lle, float(lle_reg)
        self.lpl_exact, self.seed, self.device, self.progress = bool(lpl_exact), int(seed), device, progress
        if int(val_every) < 1:
            raise ValueError(f"SGDAligner: val_every must be >= 1, got {val_every}")
        self.val_every = int(val_every)
        if init not in ("zeros", "orthogonal", "small"):
            raise ValueError(f"SGDAligner: init must be 'zeros', 'orthogonal' or 'small', got {init!r}")
        self.init = init

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, X, Y, pairs, val_pairs=None, context=None):
        """Fit the map on ``pairs`` (p, 2), early-stopped on ``val_pairs`` if given. Runs the batched core
        :func:`lpa_utils.align.batched.fit_runs` with one run (the same seed gives the same batches and W as the
        original per-run loop, to float tolerance); ``lpl_exact=True`` runs that original autograd loop instead,
        with eq. 5 in its literal (p, k, dt) form -- the slow reference the tests compare the core against."""

        if self.lpl_exact:
            return self._fit_reference(X, Y, pairs, val_pairs)

        Xt, Yt, P = self._setup(X, Y, pairs, "SGDAligner")
        if val_pairs is not None:
            val_pairs = as_pairs(val_pairs, Xt.shape[0], Yt.shape[0], "SGDAligner.fit: val_pairs", self.device_)
        run = RunSpec(P, val_pairs, loss=self.loss, beta=self.beta, k=self.k, ortho=self.ortho, seed=self.seed)
        fit = fit_runs(
            Xt,
            Yt,
            [run],
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            patience=self.patience,
            val_every=self.val_every,
            init=self.init,
            n_ref=self.n_ref,
            knn_method=self.knn_method,
            lle=self.lle,
            lle_reg=self.lle_reg,
            device=self.device_,
            progress=self.progress,
        )
        if fit.neighbourhoods[0] is not None:
            self.lle_rows_, self.neighbors_, self.lle_weights_ = fit.neighbourhoods[0]
        self.W_ = fit.W[0].contiguous()  # (ds, dt)
        self.best_epoch_ = int(fit.best_epoch[0])
        self.history_ = [{k: v for k, v in rec.items() if k != "ridge"} for rec in fit.history[0]]
        return self

    def _fit_reference(self, X, Y, pairs, val_pairs=None):
        """The original single-run loop: autograd through :func:`lpa_utils.maths.losses.lpa_loss` and
        ``torch.optim.Adam``, LPL in the literal form of eq. 5 (mapped neighbours, (b, k, dt)). Slow; a reference."""

        Xt, Yt, P = self._setup(X, Y, pairs, "SGDAligner")
        dev = self.device_
        ds, dt = Xt.shape[1], Yt.shape[1]
        g = torch.Generator(device="cpu").manual_seed(self.seed)

        # phase 1: neighbourhoods and LLE weights of the distinct training source words (frozen afterwards)
        use_lpl = self.loss == "lpa" and self.beta != 0
        if use_lpl:
            rows, inverse = torch.unique(P[:, 0], return_inverse=True)
            idx, Wl = lle_neighbourhoods(
                Xt, rows, self.k, self.n_ref, self.knn_method, self.lle_reg, self.lle, seed=self.seed
            )
            self.lle_rows_, self.neighbors_, self.lle_weights_ = rows, idx, Wl
            pair_lle = inverse  # (p,) row of each pair in rows
        Xs, Yp = Xt[P[:, 0]], Yt[P[:, 1]]

        # validation: distinct source words and their gold targets
        val = None
        if val_pairs is not None:
            V = as_pairs(val_pairs, Xt.shape[0], Yt.shape[0], "SGDAligner.fit: val_pairs", dev)
            vq, vpos = torch.unique(V[:, 0], return_inverse=True)
            val = (Xt[vq], vpos.cpu().numpy(), V[:, 1].cpu().numpy(), Xt[V[:, 0]], Yt[V[:, 1]])
            Yn = Yt / Yt.norm(dim=1, keepdim=True).clamp_min(1e-12)

        # phase 2: eq. 4 / eq. 7 by Adam, W frozen
        W0 = torch.zeros(dt, ds)  # (dt, ds) as a linear layer's weight
        if self.init in ("orthogonal", "small"):
            torch.nn.init.orthogonal_(W0, generator=g)
            if self.init == "small":
                W0 *= 0.01
        weight = torch.nn.Parameter(W0.to(dev))
        opt = torch.optim.Adam([weight], lr=self.lr)
        p = P.shape[0]
        bs = p if self.batch_size is None else max(1, min(int(self.batch_size), p))
        best = (-math.inf, -math.inf)
        best_w, best_epoch, bad = weight.detach().clone(), 0, 0
        history = []
        epochs = range(1, self.epochs + 1)
        if self.progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc=f"SGD ({self.loss})", leave=False)
        for epoch in epochs:
            order = torch.randperm(p, generator=g).to(dev)
            tot = {"loss": 0.0, "mse": 0.0, "lpl": 0.0, "ortho": 0.0}
            for s in range(0, p, bs):
                b = order[s : s + bs]
                mapped = Xs[b] @ weight.T
                nb, Wb = None, None
                if use_lpl:  # eq. 5 literally: the mapped neighbours f(x_j) and their LLE weights
                    nb = Xt[self.neighbors_[pair_lle[b]]] @ weight.T  # (b, k, dt)
                    Wb = Wl[pair_lle[b]]
                total, parts = lpa_loss(
                    mapped,
                    Yp[b],
                    nb,
                    Wb,
                    beta=self.beta if use_lpl else 0.0,
                    weight=weight if self.ortho else None,
                    ortho=self.ortho,
                    return_parts=True,
                )
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                frac = len(b) / p
                tot["loss"] += parts["total"] * frac
                tot["mse"] += parts["mse"] * frac
                tot["lpl"] += parts["lpl"] * frac
                tot["ortho"] += parts["ortho"] * frac
            rec = {"epoch": epoch, **tot}
            if val is not None and (epoch % self.val_every == 0 or epoch == self.epochs):
                with torch.no_grad():
                    rec["val_p@1"], rec["val_mse"] = self._val_score(weight.detach(), val, Yn, mse_loss)
                key = (rec["val_p@1"], -rec["val_mse"])
                if key > best:
                    best, best_w, best_epoch, bad = key, weight.detach().clone(), epoch, 0
                else:
                    bad += self.val_every
            history.append(rec)
            if val is not None and self.patience is not None and bad >= self.patience:
                break
        if val is None:
            best_w, best_epoch = weight.detach().clone(), len(history)
        self.W_ = best_w.T.contiguous()  # (ds, dt)
        self.best_epoch_ = best_epoch
        self.history_ = history
        return self

    @staticmethod
    def _val_score(weight, val, Yn, mse_loss):
        """Validation P@1 (NN by cosine over all target rows, any gold target counts) and MSE (eq. 4)."""

        Xq, vpos, vtgt, Xv, Yv = val
        top = (unit_rows(Xq @ weight.T) @ Yn.T).argmax(1, keepdim=True)  # (q, 1)
        p1 = float(hits_at(top, vpos, vtgt)[:, 0].mean())
        return p1, float(mse_loss(Xv @ weight.T, Yv))
