"""Alignment as a regulariser for natural language inference (LPL paper, section 3.4, Figure 2, eq. 8).

The model of Figure 2: sentence embeddings ``p`` (premise) and ``h`` (hypothesis), both (n, d), come from a
frozen sentence encoder (``lpa_utils.data.encode_sentences``). A single-layer network ``f`` projects the premise
into the hypothesis space, ``f(p) = act(p A^T + b)`` (d -> d); the projection is concatenated with the original
pair, ``[p, h, f(p)]`` (n, 3d), and an MLP classifies the pair into entailment / neutral / contradiction.

Three training objectives share that architecture (same initialisation, same batches):

* ``"baseline"``: cross entropy only;
* ``"MSE"``: eq. 8 with the MSE term only, ``L = CE + gamma * sum_i delta_{y_i} L^i_mse``;
* ``"MSE+LPL"``: eq. 8 in full, ``L = CE + gamma * sum_i delta_{y_i} (L^i_mse + L^i_lpl)``,

with ``L^i_mse = ||f(p_i) - h_i||^2`` (eq. 4) and ``L^i_lpl = ||h_i - sum_j W_ij f(p_j)||^2`` (eq. 5), where
``p_j`` are the k nearest neighbours of premise ``p_i`` among the premises of the training split (Euclidean;
the paper's KD-tree or the exact brute-force search, which finds the same neighbours) and ``W`` are the LLE
weights of eq. 6, computed once and frozen (phase 1 of section 3.3.1). ``delta`` is per label (paper: entailment
100, contradiction 1, neutral -5); a negative delta
pushes the pair apart (divergence), and the paper's "threshold" on that term is the ``floor`` argument of
``lpa_utils.maths.losses.nli_alignment_loss``.

Everything is batched torch on the ``device`` argument; there is no Python loop over samples (only over
mini-batch steps and over the runs of an experiment). Every function that draws randomness takes a ``seed``
and leaves the global RNG state untouched (``torch.random.fork_rng``), so a rerun on the CPU gives identical
numbers.

Entry points:

* :func:`prepare_nli` -- encode SNLI/MultiNLI frames once into an :class:`NLIData` (premise/hypothesis arrays
  per split, and the LPL neighbour pool of training premises with frozen LLE weights).
* :func:`fit_nli` -- train one model (mini-batch Adam, early stopping on the dev split only).
* :func:`run_experiment` -- sizes x random draws x models -> tidy DataFrame of dev/test accuracy.
* :func:`select_hyperparameters` -- a small grid (``gamma``, or any config field) on the dev split.
* :func:`summarize_runs`, :func:`paired_gains`, :func:`check_paper_claims` -- Figure 3 tables and the paper's
  claims measured.
* :func:`nearest_training_pairs` (Table 3), :func:`label_purity` / :func:`purity_table` /
  :func:`check_purity_claims` (the clustering claim of section 4.3).

The classifier depth is ``NLIConfig.n_layers`` (default 2, as the paper's text; its Figure 2 caption says 3).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from lpa_utils.checks import as_tensor
from lpa_utils.config import resolve_device
from lpa_utils.data import encode_sentences
from lpa_utils.maths.lle import lle_weights
from lpa_utils.maths.losses import lpl_loss, mse_loss, nli_alignment_loss
from lpa_utils.maths.neighbors import knn

#: label order of ``lpa_utils.data.load_snli`` (column ``label_id``)
LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
#: the paper's per-label delta of eq. 8 (section 3.4: "100 for entailment, 1.0 for contradiction and -5.0 for
#: neutral")
PAPER_DELTA: dict[str, float] = {"entailment": 100.0, "contradiction": 1.0, "neutral": -5.0}
#: the three models of Figures 3-5 (names match ``lpa_utils.report.plotting.METHOD_COLORS``)
MODELS: tuple[str, ...] = ("baseline", "MSE", "MSE+LPL")


# --------------------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NLIConfig:
    """Hyperparameters of the Figure 2 model and its training.

    Model: ``n_layers`` linear layers in the classifier MLP (the paper's text says a 2-layer MLP, the caption of
    Figure 2 a 3-layer one; default 2), ``hidden`` units per hidden layer, ``dropout`` after each hidden ReLU,
    ``proj_activation`` of the single-layer premise projection f ("tanh": a non-linear single layer, as the
    paper says; "linear": an affine map).

    Loss (eq. 8): ``gamma``, per-label ``delta`` (dict label -> scalar), ``floor`` (the divergence threshold
    passed to ``lpa_utils.maths.losses.nli_alignment_loss``: each pair's term ``delta_{y_i} a_i`` is clamped below at
    ``floor`` <= 0, so with delta_neutral = -5 and floor = -5 a neutral pair is pushed apart only until its
    ``a_i`` reaches 1, i.e. ``||f(p) - h||^2 = 1`` for unit-norm MiniLM vectors), ``beta`` (weight of LPL beside
    MSE; eq. 8 uses 1),
    ``k`` neighbours per premise and ``lle_reg`` for the LLE weights (eq. 6).

    Training: Adam with ``lr`` and ``weight_decay``, mini-batches of ``batch_size``. Training runs in rounds of
    ``clip(ceil(n / batch_size), min_round_steps, max_round_steps)`` steps; after each round the dev accuracy
    is measured, the best state is kept, and training stops after ``patience`` rounds without improvement or
    after ``max_rounds`` rounds.
    """

    hidden: int = 256
    n_layers: int = 2
    dropout: float = 0.1
    proj_activation: str = "tanh"
    gamma: float = 0.01
    delta: Mapping[str, float] = field(default_factory=lambda: dict(PAPER_DELTA))
    floor: float | None = -5.0
    beta: float = 1.0
    k: int = 10
    lle_reg: float = 1e-3
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    min_round_steps: int = 25
    max_round_steps: int = 150
    max_rounds: int = 16
    patience: int = 3

    def __post_init__(self):
        if self.n_layers < 1:
            raise ValueError(f"NLIConfig: n_layers must be >= 1, got {self.n_layers}")
        if self.proj_activation not in ("tanh", "linear"):
            raise ValueError(f"NLIConfig: proj_activation must be 'tanh' or 'linear', got {self.proj_activation!r}")
        missing = set(LABELS) - set(self.delta)
        if missing:
            raise ValueError(f"NLIConfig: delta needs a value for every label {LABELS}; missing {sorted(missing)}")
        if self.floor is not None and self.floor > 0:
            raise ValueError(f"NLIConfig: floor must be <= 0 (a lower bound on delta * a_i) or None, got {self.floor}")
        if self.k < 1 or self.batch_size < 1:
            raise ValueError("NLIConfig: k and batch_size must be positive")

    def delta_vector(self) -> torch.Tensor:
        """delta as a (3,) float32 tensor in ``LABELS`` (label_id) order."""
        return torch.tensor([float(self.delta[lab]) for lab in LABELS], dtype=torch.float32)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["delta"] = {lab: float(self.delta[lab]) for lab in LABELS}
        return d


# --------------------------------------------------------------------------------------------------------------
# the model of Figure 2
# --------------------------------------------------------------------------------------------------------------
class AlignNLI(nn.Module):
    """Figure 2: premise projection ``f`` (single layer, d -> d) + MLP classifier on ``[p, h, f(p)]``.

    Args:
        dim: sentence-embedding dimension d (premise and hypothesis share it).
        hidden: units per hidden layer of the classifier.
        n_layers: linear layers in the classifier (2: ``3d -> hidden -> 3``; 3: ``3d -> hidden -> hidden -> 3``).
        dropout: dropout after each hidden ReLU.
        proj_activation: "tanh" or "linear" after the projection's affine map.
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 256,
        n_layers: int = 2,
        dropout: float = 0.1,
        proj_activation: str = "tanh",
        n_classes: int = 3,
    ):
        super().__init__()
        self.dim = int(dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_activation = proj_activation
        layers: list[nn.Module] = []
        d_in = 3 * dim
        for _ in range(n_layers - 1):
            layers += [nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout)]
            d_in = hidden
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(d_in, n_classes)
        self.penultimate_dim = d_in

    def project(self, p: torch.Tensor) -> torch.Tensor:
        """f(p): (..., d) -> (..., d), the premise projected into the hypothesis space."""
        z = self.proj(p)
        return torch.tanh(z) if self.proj_activation == "tanh" else z

    def features(self, p: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate-layer representation (n, penultimate_dim) and f(p) (n, d) for a batch of pairs."""
        fp = self.project(p)
        z = self.body(torch.cat([p, h, fp], dim=1))
        return z, fp

    def forward(self, p: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (n, 3) and f(p) (n, d)."""
        z, fp = self.features(p, h)
        return self.out(z), fp


def build_model(dim: int, config: NLIConfig) -> AlignNLI:
    """The Figure 2 model for embeddings of dimension ``dim`` (uses the global torch RNG for initialisation;
    :func:`fit_nli` calls it inside a forked, seeded RNG)."""
    return AlignNLI(
        dim,
        hidden=config.hidden,
        n_layers=config.n_layers,
        dropout=config.dropout,
        proj_activation=config.proj_activation,
    )


# --------------------------------------------------------------------------------------------------------------
# eq. 8
# --------------------------------------------------------------------------------------------------------------
def per_sample_alignment(
    model: AlignNLI,
    p: torch.Tensor,
    h: torch.Tensor,
    fp: torch.Tensor | None = None,
    nbr_p: torch.Tensor | None = None,
    nbr_w: torch.Tensor | None = None,
    beta: float = 1.0,
) -> torch.Tensor:
    """Per-pair alignment term of eq. 8, ``L^i_mse + beta * L^i_lpl``, shape (n,).

    Args:
        model: the :class:`AlignNLI` whose projection f is used.
        p, h: (n, d) premise and hypothesis embeddings.
        fp: (n, d) f(p) if already computed (it is, in the forward pass).
        nbr_p: (n, k, d) embeddings of the k neighbour premises of each p_i (None: MSE only).
        nbr_w: (n, k) frozen LLE weights of those neighbours (rows sum to one, eq. 6).

    ``L^i_mse = ||f(p_i) - h_i||^2`` (eq. 4 for one pair) and ``L^i_lpl = ||h_i - sum_j W_ij f(p_j)||^2``
    (eq. 5 for one pair), both from ``lpa_utils.maths.losses`` with ``reduction="none"``.
    """

    if fp is None:
        fp = model.project(p)
    a = mse_loss(fp, h, reduction="none")
    if nbr_p is not None:
        if nbr_w is None:
            raise ValueError("per_sample_alignment: nbr_p given without nbr_w (the LLE weights)")
        a = a + beta * lpl_loss(h, model.project(nbr_p), nbr_w, reduction="none")
    return a


def eq8_loss(
    logits: torch.Tensor, labels: torch.Tensor, align: torch.Tensor | None, config: NLIConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total loss of eq. 8 for a batch: ``CE + gamma * sum_i delta_{y_i} (L^i_mse + L^i_lpl)`` (floored).

    Args:
        logits: (n, 3); labels: (n,) int64 label ids in ``LABELS`` order; align: (n,) per-pair alignment
            (:func:`per_sample_alignment`) or None for the baseline.

    Returns ``(total, ce, alignment_part)`` scalars. The cross entropy is the batch mean; the alignment part
    is ``lpa_utils.maths.losses.nli_alignment_loss(align, labels, delta, gamma, floor)`` (see there for the
    reduction over the batch and the floor on the divergence term).
    """
    ce = nn.functional.cross_entropy(logits, labels)
    if align is None:
        zero = ce.new_zeros(())
        return ce, ce, zero

    al = nli_alignment_loss(align, labels, config.delta_vector().to(align.device), config.gamma, config.floor)
    return ce + al, ce, al


# --------------------------------------------------------------------------------------------------------------
# data: encoded splits and the LPL neighbour pool
# --------------------------------------------------------------------------------------------------------------
@dataclass
class LPLPool:
    """Frozen LPL neighbourhoods (phase 1): premises of the training split, their kNN and LLE weights.

    Attributes:
        emb: (m, d) float32 unique training premises (the neighbour pool).
        idx: (m, k) int64 rows of ``emb``: the k nearest other premises (KD-tree, Euclidean).
        weights: (m, k) float32 LLE weights (eq. 6, closed form, rows sum to one), frozen.
        seconds: time to build the neighbourhoods.
    """

    emb: np.ndarray
    idx: np.ndarray
    weights: np.ndarray
    method: str = "kdtree"
    seconds: float = 0.0


@dataclass
class NLIData:
    """Encoded NLI splits. ``premise[s]``/``hypothesis[s]``: (n_s, d) float32, ``labels[s]``: (n_s,) int64 in
    ``LABELS`` order, ``frames[s]``: the text (columns premise, hypothesis, label, label_id), for every split
    ``s`` in ``frames``; ``premise_row["train"]``: (n_train,) row of each training pair's premise in
    ``pool.emb`` (None until :func:`build_lpl_pool`)."""

    frames: dict[str, pd.DataFrame]
    premise: dict[str, np.ndarray]
    hypothesis: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    encoder: str
    premise_row: np.ndarray | None = None
    pool: LPLPool | None = None
    encode_seconds: float = 0.0

    @property
    def dim(self) -> int:
        return int(self.premise["train"].shape[1])

    def sizes(self) -> dict[str, int]:
        return {s: int(len(v)) for s, v in self.labels.items()}


def _check_frame(name: str, df: pd.DataFrame) -> None:
    need = {"premise", "hypothesis", "label_id"}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(
            f"NLI split {name!r}: missing columns {sorted(missing)} (expected the frames of "
            "lpa_utils.data.load_snli: premise, hypothesis, label, label_id)"
        )
    bad = ~df["label_id"].isin(range(len(LABELS)))
    if bool(bad.any()):
        raise ValueError(
            f"NLI split {name!r}: {int(bad.sum())} rows with label_id outside 0..2 "
            f"(first at row {int(np.flatnonzero(bad.to_numpy())[0])}); drop unlabelled pairs first"
        )


def subsample_frames(
    frames: Mapping[str, pd.DataFrame], limits: Mapping[str, int | None], seed: int = 0, by_premise: bool = True
) -> dict[str, pd.DataFrame]:
    """A seeded random subset of ``limits[s]`` rows of each split (None: keep all), original row order kept.

    With ``by_premise`` whole premise groups are drawn (SNLI pairs each premise with about 3 hypotheses), so the
    subset has few distinct sentences to encode: the smoke profile uses it to keep CI's encoding to a few
    thousand sentences.
    """
    out = {}
    for j, (s, df) in enumerate(frames.items()):
        lim = limits.get(s)
        if lim is None or lim >= len(df):
            out[s] = df.reset_index(drop=True)
            continue
        rng = np.random.default_rng([int(seed), j])
        if by_premise:
            codes, uniq = pd.factorize(df["premise"].astype(str))
            rank = np.empty(len(uniq), dtype=np.int64)
            rank[rng.permutation(len(uniq))] = np.arange(len(uniq))
            order = np.lexsort((np.arange(len(df)), rank[codes]))  # premise groups in random order
            rows = np.sort(order[: int(lim)])
        else:
            rows = np.sort(rng.choice(len(df), size=int(lim), replace=False))
        out[s] = df.iloc[rows].reset_index(drop=True)
    return out


def carve_dev(train: pd.DataFrame, size: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``size`` random rows off a training frame as a dev split (for corpora whose official dev sets are
    the evaluation sets, e.g. MultiNLI matched / mismatched). Returns ``(train, dev)``."""
    if not 0 < size < len(train):
        raise ValueError(f"carve_dev: size={size} must be between 1 and {len(train) - 1}")
    rng = np.random.default_rng(seed)
    is_dev = np.zeros(len(train), dtype=bool)
    is_dev[rng.choice(len(train), size=int(size), replace=False)] = True
    return train[~is_dev].reset_index(drop=True), train[is_dev].reset_index(drop=True)


def find_pair(frame: pd.DataFrame, premise: str, hypothesis: str, fallback_label: str = "entailment") -> int:
    """Row of the pair (premise, hypothesis) in ``frame``; if absent, the first pair labelled ``fallback_label``."""
    hit = np.flatnonzero((frame["premise"] == premise).to_numpy() & (frame["hypothesis"] == hypothesis).to_numpy())
    if len(hit):
        return int(hit[0])
    lab = np.flatnonzero((frame["label_id"] == LABELS.index(fallback_label)).to_numpy())
    if not len(lab):
        raise ValueError(f"find_pair: neither the pair nor any {fallback_label!r} pair is in the frame")
    return int(lab[0])


def prepare_nli(
    frames: Mapping[str, pd.DataFrame],
    encoder: str = "minilm",
    *,
    k: int = 10,
    lle_reg: float = 1e-3,
    knn_method: str = "brute",
    device=None,
    progress: bool = True,
) -> NLIData:
    """Encode every split once (``lpa_utils.data.encode_sentences``, cached per sentence) and build the LPL pool.

    Args:
        frames: ``{"train": df, "dev": df, "test": df, ...}`` as returned by ``lpa_utils.data.load_snli``
            (columns premise, hypothesis, label_id); needs "train" and "dev".
        encoder: "minilm" (384d) or "glove-mean" (50d).
        k, lle_reg, knn_method: LPL neighbourhood size, LLE regulariser and kNN method (see
            :func:`build_lpl_pool`).
    """

    if "train" not in frames or "dev" not in frames:
        raise ValueError(f"prepare_nli: frames need 'train' and 'dev' splits, got {sorted(frames)}")
    for s, df in frames.items():
        _check_frame(s, df)
    frames = {s: df.reset_index(drop=True) for s, df in frames.items()}
    texts = pd.unique(
        pd.concat([pd.concat([df["premise"], df["hypothesis"]]) for df in frames.values()], ignore_index=True)
        .astype(str)
        .to_numpy()
    )
    t0 = time.perf_counter()
    E = np.asarray(encode_sentences(list(texts), encoder=encoder, progress=progress), dtype=np.float32)
    secs = time.perf_counter() - t0
    if E.shape[0] != len(texts):
        raise RuntimeError(f"encode_sentences returned {E.shape[0]} rows for {len(texts)} sentences")
    pos = pd.Index(texts)
    prem, hyp, lab = {}, {}, {}
    for s, df in frames.items():
        prem[s] = E[pos.get_indexer(df["premise"].astype(str))]
        hyp[s] = E[pos.get_indexer(df["hypothesis"].astype(str))]
        lab[s] = np.array(df["label_id"].to_numpy(dtype=np.int64))  # a writable copy
    data = NLIData(frames=dict(frames), premise=prem, hypothesis=hyp, labels=lab, encoder=encoder, encode_seconds=secs)
    build_lpl_pool(data, k=k, reg=lle_reg, method=knn_method, device=device)
    return data


def build_lpl_pool(data: NLIData, k: int = 10, reg: float = 1e-3, method: str = "brute", device=None) -> LPLPool:
    """Phase 1 of section 3.3.1 on the premises of the training split: unique premises, their k nearest other
    premises (``lpa_utils.maths.neighbors.knn``, KD-tree with Euclidean distance as in section 4) and the LLE weights
    (``lpa_utils.maths.lle.lle_weights``, eq. 6 in closed form), then frozen. ``method="kdtree"`` is the paper's
    scikit-learn KD-tree; ``"brute"`` (default) is exact batched search that returns the same neighbours and is
    far faster in 384 dimensions, where a KD-tree degenerates to a slow scan. Only training premises are used, never
    dev or test text; the pool is the whole training split, so at small training sizes most neighbours are
    premises outside the labelled subset (the paper's argument for LPL, section 4.3).

    Sets ``data.pool`` and ``data.premise_row`` (n_train,) and returns the pool.
    """

    t0 = time.perf_counter()
    texts = data.frames["train"]["premise"].astype(str)
    codes, uniques = pd.factorize(texts)
    # the first training row of each unique premise carries its embedding
    first = np.full(len(uniques), -1, dtype=np.int64)
    order = np.arange(len(codes))[::-1]
    first[codes[order]] = order
    U = data.premise["train"][first]
    if len(U) <= k:
        raise ValueError(f"build_lpl_pool: {len(U)} unique training premises, need more than k={k}")
    dev = resolve_device(device) if device is not None else torch.device("cpu")
    _, idx = knn(U, k, metric="euclidean", method=method, device=dev)
    W = lle_weights(U, idx, reg=reg, device=dev)
    pool = LPLPool(
        emb=U.astype(np.float32),
        idx=_np(idx).astype(np.int64),
        weights=_np(W).astype(np.float32),
        method=method,
        seconds=time.perf_counter() - t0,
    )
    data.pool = pool
    data.premise_row = codes.astype(np.int64)
    return pool


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# --------------------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """A trained model and its training record (dev accuracy per round, best round, steps, seconds)."""

    model: AlignNLI
    method: str
    config: NLIConfig
    dev_acc: float
    best_round: int
    rounds: int
    steps: int
    seconds: float
    history: list[dict[str, float]]


def _t(x, device, dtype=torch.float32) -> torch.Tensor:
    """Arrays and tensors to ``dtype`` on ``device`` (:func:`lpa_utils.checks.as_tensor`)."""
    return as_tensor(x, name="NLI input", device=device, dtype=dtype)


@torch.no_grad()
def predict(model: AlignNLI, p, h, *, device=None, batch_size: int = 8192, return_features: bool = False):
    """Predicted label ids (n,) (and, with ``return_features``, penultimate representations (n, H)) in eval
    mode, in blocks of ``batch_size`` rows."""
    dev = resolve_device(device) if device is not None else next(model.parameters()).device
    was = model.training
    model.eval()
    P, Hh = _t(p, dev), _t(h, dev)
    preds, feats = [], []
    for s in range(0, P.shape[0], batch_size):
        z, _ = model.features(P[s : s + batch_size], Hh[s : s + batch_size])
        preds.append(model.out(z).argmax(1))
        if return_features:
            feats.append(z)
    model.train(was)
    pred = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.int64, device=dev)
    if return_features:
        return pred, (torch.cat(feats) if feats else torch.zeros(0, model.penultimate_dim, device=dev))
    return pred


def accuracy(model: AlignNLI, p, h, y, *, device=None) -> float:
    """Accuracy of ``model`` on pairs (p, h) (n, d) with gold label ids y (n,)."""
    pred = predict(model, p, h, device=device)
    return float((pred.cpu() == _t(_np(y), "cpu", torch.int64)).float().mean())


def fit_nli(
    p,
    h,
    y,
    dev_p,
    dev_h,
    dev_y,
    *,
    method: str = "baseline",
    config: NLIConfig | None = None,
    nbr_rows=None,
    pool_emb=None,
    pool_weights=None,
    seed: int = 0,
    device=None,
) -> FitResult:
    """Train one Figure 2 model with eq. 8; early stopping on the dev split only.

    Args:
        p, h: (n, d) training premise / hypothesis embeddings; y: (n,) label ids (``LABELS`` order).
        dev_p, dev_h, dev_y: the dev split (model selection only).
        method: "baseline" (CE), "MSE" (CE + gamma delta MSE) or "MSE+LPL" (eq. 8 in full).
        nbr_rows: (n, k) int64 rows of ``pool_emb`` (the neighbours of each training premise), and
        pool_weights: (n, k) their frozen LLE weights; pool_emb: (m, d). Needed for "MSE+LPL" only.
        seed: initialisation, dropout and batch order (the global RNG state is left untouched).
        device: "cpu", "cuda", ... (None: CUDA when available).

    Returns a :class:`FitResult` whose model holds the parameters of the best dev round.
    """
    if method not in MODELS:
        raise ValueError(f"fit_nli: method must be one of {MODELS}, got {method!r}")
    cfg = config or NLIConfig()
    dev = resolve_device(device)
    P, Hh = _t(p, dev), _t(h, dev)
    Y = _t(y, dev, torch.int64)
    n, d = P.shape
    if Hh.shape != P.shape or Y.shape != (n,):
        raise ValueError(f"fit_nli: shapes p {tuple(P.shape)}, h {tuple(Hh.shape)}, y {tuple(Y.shape)} disagree")
    if n == 0:
        raise ValueError("fit_nli: no training pairs")
    if int(Y.min()) < 0 or int(Y.max()) >= len(LABELS):
        raise ValueError("fit_nli: labels must be ids 0..2 in LABELS order")
    DP, DH, DY = _t(dev_p, dev), _t(dev_h, dev), _t(dev_y, dev, torch.int64)
    use_lpl = method == "MSE+LPL"
    if use_lpl:
        if nbr_rows is None or pool_emb is None or pool_weights is None:
            raise ValueError("fit_nli: method 'MSE+LPL' needs nbr_rows, pool_emb and pool_weights")
        NR = _t(nbr_rows, dev, torch.int64)
        PE = _t(pool_emb, dev)
        NW = _t(pool_weights, dev)
        if NR.shape[0] != n or NW.shape != NR.shape or PE.shape[1] != d:
            raise ValueError(
                f"fit_nli: neighbour shapes nbr_rows {tuple(NR.shape)}, weights {tuple(NW.shape)}, "
                f"pool {tuple(PE.shape)} do not fit {n} pairs of dimension {d}"
            )

    bs = min(cfg.batch_size, n)
    steps_round = int(min(max(math.ceil(n / bs), cfg.min_round_steps), cfg.max_round_steps))
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    devices = [dev] if dev.type == "cuda" else []
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        model = build_model(d, cfg).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        best_acc, best_state, best_round, bad = -1.0, None, -1, 0
        history: list[dict[str, float]] = []
        steps = 0
        leftover = torch.zeros(0, dtype=torch.int64)
        r = 0
        for r in range(cfg.max_rounds):
            need = steps_round * bs
            reps = math.ceil(max(need - len(leftover), 0) / n)
            perms = torch.argsort(torch.rand(reps, n, generator=gen), dim=1).reshape(-1)
            order = torch.cat([leftover, perms])
            batches, leftover = order[:need].view(steps_round, bs).to(dev), order[need:]
            model.train()
            ce_sum = al_sum = 0.0
            for b in batches:
                logits, fp = model(P[b], Hh[b])
                align = None
                if method != "baseline":
                    if use_lpl:
                        rows = NR[b]
                        align = per_sample_alignment(model, P[b], Hh[b], fp, PE[rows], NW[b], beta=cfg.beta)
                    else:
                        align = per_sample_alignment(model, P[b], Hh[b], fp)
                loss, ce, al = eq8_loss(logits, Y[b], align, cfg)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                ce_sum += float(ce.detach())
                al_sum += float(al.detach())
            steps += steps_round
            acc = accuracy(model, DP, DH, DY, device=dev)
            history.append(
                {"round": r, "steps": steps, "ce": ce_sum / steps_round, "align": al_sum / steps_round, "dev_acc": acc}
            )
            if acc > best_acc:
                best_acc, best_round, bad = acc, r, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
        model.load_state_dict(best_state)
        model.eval()
    return FitResult(
        model=model,
        method=method,
        config=cfg,
        dev_acc=best_acc,
        best_round=best_round,
        rounds=r + 1,
        steps=steps,
        seconds=time.perf_counter() - t0,
        history=history,
    )


def penultimate(model: AlignNLI, p, h, *, device=None) -> torch.Tensor:
    """Penultimate-layer representations (n, H) of pairs (p, h) (n, d), eval mode."""
    return predict(model, p, h, device=device, return_features=True)[1]
