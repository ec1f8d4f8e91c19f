"""Alignment as a regulariser for natural language inference (LPL paper, section 3.4, Figure 2, eq. 8).

The model of Figure 2: sentence embeddings ``p`` (premise) and ``h`` (hypothesis), both (n, d), come from a
frozen sentence encoder (``lpa_utils.data.encode_sentences``). A single-layer network ``f`` projects the premise
into the hypothesis space, ``f(p) = act(p A^T + b)`` (d -> d); the projection is concatenated with the original
pair, ``[p, h, f(p)]`` (n, 3d), and an MLP classifies the pair into entailment / neutral / contradiction.

Three training objectives share that architecture (same initialisation, same batches):

* ``"baseline"``: cross entropy only;
* ``"MSE"``: eq. 8 with the MSE term only, ``L = CE + gamma * sum_i delta_{y_i} L^i_mse``;
* ``"MSE+LPL"``: eq. 8 in full, ``L = CE + gamma * sum_i delta_{y_i} (L^i_mse + beta L^i_lpl)`` (the paper: beta 1),

with ``L^i_mse = ||f(p_i) - h_i||^2`` (eq. 4) and ``L^i_lpl = ||h_i - sum_j W_ij f(p_j)||^2`` (eq. 5), where
``p_j`` are the k nearest neighbours of premise ``p_i`` among the premises of the training split (Euclidean;
the paper's KD-tree or the exact brute-force search, which finds the same neighbours) and ``W`` are the LLE
weights of eq. 6, computed once and frozen (phase 1 of section 3.3.1). ``delta`` is per label (paper: entailment
100, contradiction 1, neutral -5); a negative delta pushes the pair apart (divergence), and the paper's
"threshold" on that term is the ``floor`` (as in ``lpa_utils.maths.losses.nli_alignment_loss``).

Training is batched over runs: R runs (seeds, training subsets of any sizes, hyperparameters, the three
objectives) are one :class:`BatchedAlignNLI` whose weights carry a leading runs dimension, trained by
:func:`fit_batched` with batched matrix products, one summed loss (:func:`eq8_batched`) and one elementwise
optimiser step (:class:`BatchedAdam`); runs stop early one by one and leave the batch. One run alone
(:func:`fit_nli`) is the R = 1 case of the same code, and gives the same numbers as the run in a batch. There is no
Python loop over samples (only over mini-batch steps, and over runs to draw each run's random numbers from its own
generators, :func:`run_generators`). Randomness never touches the global RNG, so a rerun on the CPU gives
identical numbers.

Entry points:

* :func:`prepare_nli` -- encode SNLI/MultiNLI frames once into an :class:`NLIData` (premise/hypothesis arrays
  per split, and the LPL neighbour pool of training premises with frozen LLE weights).
* :func:`fit_batched` -- train R runs (:class:`RunSpec`: subset rows, method, config, seed) at once; early stopping
  on the dev split per run; each run's best model and per-pair correctness on evaluation splits.
* :func:`fit_nli` -- train one model.
* :func:`predict`, :func:`accuracy`, :func:`penultimate` -- a trained single run (:class:`AlignNLI`).

The experiments (sizes x draws x models, dev trials, verdicts, Table 3) are in
:mod:`lpa_utils.chapters.ch04_nli`.

The classifier depth is ``NLIConfig.n_layers`` (default 2, as the paper's text; its Figure 2 caption says 3).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from lpa_utils.checks import as_tensor
from lpa_utils.config import resolve_device
from lpa_utils.data import encode_sentences
from lpa_utils.maths.lle import lle_weights
from lpa_utils.maths.losses import lpl_loss, mse_loss
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
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"NLIConfig: dropout must lie in [0, 1), got {self.dropout}")
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
    """Figure 2, one run: premise projection ``f`` (single layer, d -> d) + MLP classifier on ``[p, h, f(p)]``.

    Training goes through :class:`BatchedAlignNLI` (R runs at once, :func:`fit_batched`); a trained run comes back
    as an ``AlignNLI`` (:meth:`BatchedAlignNLI.run`) for prediction and the penultimate-layer analyses of Table 3.

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


def run_generators(seed: int) -> tuple[torch.Generator, torch.Generator, torch.Generator]:
    """The three independent CPU generators of one run, for its initialisation, its batch order and its dropout
    masks, from ``seed`` (>= 0) through ``numpy.random.SeedSequence``. A run draws only from its own generators,
    so its numbers do not depend on the other runs trained beside it."""
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"run seed must be an integer >= 0, got {seed!r}")
    gens = []
    for state in np.random.SeedSequence(int(seed)).generate_state(3, dtype=np.uint64):
        g = torch.Generator(device="cpu")
        g.manual_seed(int(state))
        gens.append(g)
    return gens[0], gens[1], gens[2]


class BatchedLinear(nn.Module):
    """R independent affine maps, one per run: ``y_r = x_r W_r + b_r``.

    ``weight``: (R, d_in, d_out); ``bias``: (R, 1, d_out). :meth:`forward` maps x (R, n, d_in) -> (R, n, d_out)
    with one ``torch.baddbmm`` for all runs. Run r is initialised from ``generators[r]`` as ``nn.Linear`` is
    (weight, then bias, uniform in +-1/sqrt(d_in)). With ``split=s`` the weight is held as two parameters, rows
    ``[:s]`` (``weight_a``) and ``[s:]`` (``weight_b``), for inputs that come in two parts of which only the
    second needs a gradient (``weight`` is then their concatenation).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        generators: Sequence[torch.Generator],
        *,
        split: int | None = None,
        dtype=torch.float32,
        device=None,
    ):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        w = [(2 * torch.rand(d_in, d_out, generator=g) - 1) * bound for g in generators]
        b = [(2 * torch.rand(1, d_out, generator=g) - 1) * bound for g in generators]
        w = torch.stack(w).to(device=device, dtype=dtype) if w else torch.zeros(0, d_in, d_out, dtype=dtype)
        if split is None:
            self.weight = nn.Parameter(w)
        else:
            self.weight_a = nn.Parameter(w[:, :split].contiguous())
            self.weight_b = nn.Parameter(w[:, split:].contiguous())
        self.bias = nn.Parameter(torch.stack(b).to(device=device, dtype=dtype) if b else torch.zeros(0, 1, d_out))

    @property
    def split(self) -> bool:
        return "weight_a" in self._parameters

    @property
    def full_weight(self) -> torch.Tensor:
        """(R, d_in, d_out), whether held whole or split."""
        return torch.cat([self.weight_a, self.weight_b], 1) if self.split else self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.full_weight)

    def keep_runs(self, idx: torch.Tensor) -> None:
        """Keep the runs ``idx`` (int64, positions along the runs dimension), in that order."""
        for name, t in list(self._parameters.items()):
            setattr(self, name, nn.Parameter(t.detach()[idx]))

    def subset(self, idx: torch.Tensor) -> BatchedLinear:
        """A new, detached BatchedLinear with copies of the runs ``idx`` (this one is left as it is)."""
        new = BatchedLinear.__new__(BatchedLinear)
        nn.Module.__init__(new)
        for name, t in self._parameters.items():
            setattr(new, name, nn.Parameter(t.detach()[idx], requires_grad=False))
        return new


def _shared_mm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x (n, a) shared by all runs, w (R, a, b) -> x w_r for every run, (R, n, b), as one matrix product."""
    R, a, b = w.shape
    return (x @ w.permute(1, 0, 2).reshape(a, R * b)).view(x.shape[0], R, b).transpose(0, 1)


class BatchedAlignNLI(nn.Module):
    """R runs of the Figure 2 model held as one module: every weight has a leading runs dimension.

    ``proj``: :class:`BatchedLinear` (d -> d), ``f(p) = act(p A_r + b_r)``; ``layers``: the classifier's
    ``n_layers`` :class:`BatchedLinear` maps (``3d -> hidden -> ... -> 3``), ReLU and dropout after each hidden one.
    Inputs are (R, n, d): run r sees its own pairs. The first classifier layer is applied to ``[p, h]`` and
    ``f(p)`` separately (``[p, h] W_r[:2d] + f(p) W_r[2d:]``, equal to ``[p, h, f(p)] W_r``), so no gradient is
    computed for the frozen sentence embeddings.

    Args:
        dim: d; generators: one initialisation generator per run (:func:`run_generators`); hidden, n_layers,
            proj_activation: as :class:`AlignNLI` (shared by the runs: they are the shapes).
    """

    def __init__(
        self,
        dim: int,
        generators: Sequence[torch.Generator],
        *,
        hidden: int = 256,
        n_layers: int = 2,
        proj_activation: str = "tanh",
        n_classes: int = 3,
        dtype=torch.float32,
        device=None,
    ):
        super().__init__()
        self.dim, self.hidden, self.n_layers, self.proj_activation = (
            int(dim),
            int(hidden),
            int(n_layers),
            proj_activation,
        )
        kw = dict(dtype=dtype, device=device)
        self.proj = BatchedLinear(dim, dim, generators, **kw)
        dims = [3 * dim] + [hidden] * (n_layers - 1) + [n_classes]
        self.layers = nn.ModuleList(
            BatchedLinear(a, b, generators, split=2 * dim if i == 0 else None, **kw)
            for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))
        )

    @property
    def runs(self) -> int:
        return int(self.proj.weight.shape[0])

    def project(self, x: torch.Tensor, runs: slice | None = None) -> torch.Tensor:
        """f(x) for x (R', m, d) -> (R', m, d) with the projections of ``runs`` (a slice; None: all R runs)."""
        w, b = self.proj.weight, self.proj.bias
        if runs is not None:
            w, b = w[runs], b[runs]
        z = torch.baddbmm(b, x, w)
        return torch.tanh(z) if self.proj_activation == "tanh" else z

    def _first(self, ph: torch.Tensor, fp: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """The first classifier layer on ``[p, h, f(p)]``: ph (R, n, 2d) (or (n, 2d) shared), fp (R, n, d)."""
        layer = self.layers[0]
        z = _shared_mm(ph, layer.weight_a) if shared else torch.bmm(ph, layer.weight_a)
        return torch.baddbmm(z + layer.bias, fp, layer.weight_b)

    def _classify(self, z: torch.Tensor, masks: Sequence[torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """From the first layer's pre-activation (R, n, .) to (penultimate (R, n, H), logits (R, n, 3))."""
        for i, layer in enumerate(self.layers[1:]):
            z = torch.relu(z)
            if masks is not None:
                z = z * masks[i]
            z, z_in = layer(z), z
        return z_in, z

    def forward(self, p: torch.Tensor, h: torch.Tensor, masks: Sequence[torch.Tensor] | None = None):
        """Logits (R, n, 3) and f(p) (R, n, d) for p, h (R, n, d); ``masks``: one (R, n, hidden) dropout
        multiplier per hidden layer (inverted dropout, drawn by the caller), None in evaluation."""
        fp = self.project(p)
        if self.n_layers == 1:
            return self._first(torch.cat([p, h], 2), fp), fp
        return self._classify(self._first(torch.cat([p, h], 2), fp), masks)[1], fp

    @torch.no_grad()
    def predict_shared(self, p: torch.Tensor, h: torch.Tensor, *, block: int = 2048, return_features: bool = False):
        """Every run on the same pairs p, h (n, d), in evaluation mode, in blocks of ``block`` rows: predicted
        label ids (R, n) (and with ``return_features`` the penultimate representations (R, n, H))."""
        preds, feats = [], []
        for s in range(0, p.shape[0], block):
            pb, hb = p[s : s + block], h[s : s + block]
            w, b = self.proj.weight, self.proj.bias
            fp = _shared_mm(pb, w) + b
            fp = torch.tanh(fp) if self.proj_activation == "tanh" else fp
            ph = torch.cat([pb, hb], 1)
            if self.n_layers == 1:
                logits = self._first(ph, fp, shared=True)
                z = torch.cat([ph[None].expand(fp.shape[0], -1, -1), fp], 2)
            else:
                z, logits = self._classify(self._first(ph, fp, shared=True), None)
            preds.append(logits.argmax(2))
            if return_features:
                feats.append(z)
        pred = torch.cat(preds, 1)
        return (pred, torch.cat(feats, 1)) if return_features else pred

    def keep_runs(self, idx) -> None:
        """Keep the runs ``idx`` (positions along the runs dimension), in that order (the others are dropped)."""
        idx = torch.as_tensor(idx, dtype=torch.int64, device=self.proj.weight.device)
        for m in (self.proj, *self.layers):
            m.keep_runs(idx)

    def subset(self, positions) -> BatchedAlignNLI:
        """A new, detached model with copies of the runs at ``positions`` (for evaluating some of the runs)."""
        idx = torch.as_tensor(positions, dtype=torch.int64, device=self.proj.weight.device)
        new = BatchedAlignNLI.__new__(BatchedAlignNLI)
        nn.Module.__init__(new)
        new.dim, new.hidden, new.n_layers, new.proj_activation = (
            self.dim,
            self.hidden,
            self.n_layers,
            self.proj_activation,
        )
        new.proj = self.proj.subset(idx)
        new.layers = nn.ModuleList(m.subset(idx) for m in self.layers)
        return new

    def _tensors(self) -> list[tuple[nn.Module, str]]:
        return [(m, name) for m in (self.proj, *self.layers) for name in m._parameters]

    def state_of(self, r: int) -> list[torch.Tensor]:
        """Copies of run r's tensors (every parameter's slice r, in a fixed order)."""
        return [getattr(m, name).detach()[r].clone() for m, name in self._tensors()]

    def load_states(self, states: Sequence[Sequence[torch.Tensor]]) -> None:
        """Set every run's tensors from ``states[r]`` (as :meth:`state_of` returns them; R = len(states))."""
        for i, (m, name) in enumerate(self._tensors()):
            setattr(m, name, nn.Parameter(torch.stack([s[i] for s in states])))

    def run(self, r: int, dropout: float = 0.0) -> AlignNLI:
        """Run r as a single :class:`AlignNLI` (float32, CPU or the batch's device), in evaluation mode."""
        with torch.random.fork_rng(devices=[]):  # nn.Linear draws an initialisation that is overwritten
            m = AlignNLI(self.dim, self.hidden, self.n_layers, dropout=dropout, proj_activation=self.proj_activation)
        m = m.to(self.proj.weight.device)
        linears = [self.proj, *self.layers]
        targets = [m.proj, *[x for x in m.body if isinstance(x, nn.Linear)], m.out]
        with torch.no_grad():
            for src, dst in zip(linears, targets):
                dst.weight.copy_(src.full_weight[r].T)
                dst.bias.copy_(src.bias[r, 0])
        return m.eval()


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
    """Per-pair alignment term of eq. 8 for one model, ``L^i_mse + beta * L^i_lpl``, shape (n,).

    Args:
        model: the :class:`AlignNLI` whose projection f is used.
        p, h: (n, d) premise and hypothesis embeddings.
        fp: (n, d) f(p) if already computed.
        nbr_p: (n, k, d) embeddings of the k neighbour premises of each p_i (None: MSE only).
        nbr_w: (n, k) frozen LLE weights of those neighbours (rows sum to one, eq. 6).

    ``L^i_mse = ||f(p_i) - h_i||^2`` (eq. 4 for one pair) and ``L^i_lpl = ||h_i - sum_j W_ij f(p_j)||^2``
    (eq. 5 for one pair), both from ``lpa_utils.maths.losses`` with ``reduction="none"``: the reference the
    batched training (:func:`fit_batched`) is tested against.
    """

    if fp is None:
        fp = model.project(p)
    a = mse_loss(fp, h, reduction="none")
    if nbr_p is not None:
        if nbr_w is None:
            raise ValueError("per_sample_alignment: nbr_p given without nbr_w (the LLE weights)")
        a = a + beta * lpl_loss(h, model.project(nbr_p), nbr_w, reduction="none")
    return a


def eq8_batched(
    logits: torch.Tensor,
    labels: torch.Tensor,
    align: torch.Tensor | None,
    *,
    gamma: torch.Tensor,
    delta: torch.Tensor,
    floor: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 8 for R runs at once: per run ``CE + gamma_r * mean_i max(delta_r[y_i] a_i, floor_r)``.

    Args:
        logits: (R, n, 3); labels: (R, n) int64 label ids; align: (R, n) per-pair ``L^i_mse + beta L^i_lpl``
            (None: cross entropy only, the baseline).
        gamma: (R,); delta: (R, 3) per-label delta in ``LABELS`` order; floor: (R,) lower bound of each pair's
            term (``-inf``: none), the paper's threshold on the divergence.

    Returns ``(total, ce, alignment_part)``, each (R,). The cross entropy and the alignment term are means over the
    run's batch (the sum of eq. 8 as a mean only rescales gamma). Summing ``total`` over runs and back-propagating
    gives every run its own gradient: no parameter is shared between runs.
    """
    R, n, c = logits.shape
    ce = nn.functional.cross_entropy(logits.reshape(R * n, c), labels.reshape(-1), reduction="none").view(R, n).mean(1)
    if align is None:
        return ce, ce, torch.zeros_like(ce)
    term = torch.gather(delta, 1, labels) * align
    term = torch.clamp(term, min=floor[:, None])
    al = gamma * term.mean(1)
    return ce + al, ce, al


def eq8_loss(
    logits: torch.Tensor, labels: torch.Tensor, align: torch.Tensor | None, config: NLIConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total loss of eq. 8 for one run's batch: ``CE + gamma * mean_i max(delta_{y_i} (L^i_mse + L^i_lpl), floor)``.

    Args:
        logits: (n, 3); labels: (n,) int64 label ids in ``LABELS`` order; align: (n,) per-pair alignment
            (:func:`per_sample_alignment`) or None for the baseline.

    Returns ``(total, ce, alignment_part)`` scalars: :func:`eq8_batched` with one run (R = 1).
    """
    a = None if align is None else align[None]
    floor = -math.inf if config.floor is None else float(config.floor)
    like = dict(dtype=logits.dtype, device=logits.device)
    total, ce, al = eq8_batched(
        logits[None],
        labels[None].to(torch.int64),
        a,
        gamma=torch.tensor([config.gamma], **like),
        delta=config.delta_vector().to(**like)[None],
        floor=torch.tensor([floor], **like),
    )
    return total[0], ce[0], al[0]


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
# training: R runs as one batched model
# --------------------------------------------------------------------------------------------------------------
#: NLIConfig fields that are shapes or the schedule, so every run of one batched fit must share them; the others
#: (gamma, beta, delta, floor, dropout, lr, weight_decay) may differ from run to run
SHARED_FIELDS: tuple[str, ...] = (
    "hidden",
    "n_layers",
    "proj_activation",
    "batch_size",
    "min_round_steps",
    "max_round_steps",
    "max_rounds",
    "patience",
)


@dataclass(frozen=True)
class RunSpec:
    """One run of a batched fit (:func:`fit_batched`).

    Attributes:
        rows: (n_r,) int64 rows of the training arrays: the run's training subset.
        method: "baseline", "MSE" or "MSE+LPL" (one of :data:`MODELS`).
        config: its :class:`NLIConfig`; gamma, beta, delta, floor, dropout, lr and weight_decay are the run's own,
            the :data:`SHARED_FIELDS` must agree across the runs of a fit.
        seed: the run's initialisation, batch order and dropout (three generators, :func:`run_generators`).
        keep_model: return the trained model (an :class:`AlignNLI`); False keeps only its numbers.
    """

    rows: np.ndarray
    method: str = "baseline"
    config: NLIConfig = field(default_factory=NLIConfig)
    seed: int = 0
    keep_model: bool = True


@dataclass
class FitResult:
    """One trained run: its ``model`` (the parameters of the best dev round; None unless kept), ``method``,
    ``config``, ``dev_acc`` (best), ``best_round``, ``rounds``, ``steps`` (its mini-batch steps), ``seconds``
    (wall time of the batched fit it was part of, shared with the other runs), ``history`` (per round: round,
    steps, ce, align, dev_acc) and ``hits``: per evaluation split, the (n_split,) bool correctness of each pair."""

    model: AlignNLI | None
    method: str
    config: NLIConfig
    dev_acc: float
    best_round: int
    rounds: int
    steps: int
    seconds: float
    history: list[dict[str, float]]
    hits: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def capped(self) -> bool:
        """Stopped by ``max_rounds`` while the dev accuracy was still improving within ``patience``."""
        return self.rounds == self.config.max_rounds and self.rounds - 1 - self.best_round < self.config.patience


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


def penultimate(model: AlignNLI, p, h, *, device=None) -> torch.Tensor:
    """Penultimate-layer representations (n, H) of pairs (p, h) (n, d), eval mode."""
    return predict(model, p, h, device=device, return_features=True)[1]


class BatchedAdam:
    """Adam for parameters with a leading runs dimension: ``torch.optim.Adam``'s update (L2 weight decay added to
    the gradient, bias-corrected moments, betas (0.9, 0.999), eps 1e-8), elementwise, so the runs stay independent.

    ``lr`` and ``weight_decay``: (R,) per run. All runs take their steps together, so one step count serves them
    all; :meth:`keep_runs` drops the runs that stopped (with their moments), so a stopped run never moves.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr: torch.Tensor, weight_decay: torch.Tensor):
        self.lr, self.wd = lr, weight_decay
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0
        self.b1, self.b2, self.eps = 0.9, 0.999, 1e-8

    @torch.no_grad()
    def step(self, params: Sequence[torch.Tensor]) -> None:
        """One update of every run (the parameters' ``.grad`` hold each run's own gradient)."""
        self.t += 1
        bc1, bc2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        decay = bool((self.wd != 0).any())
        for p, m, v in zip(params, self.m, self.v):
            shape = (-1,) + (1,) * (p.dim() - 1)
            g = p.grad if not decay else p.grad.add(self.wd.view(shape) * p)
            m.lerp_(g, 1 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            # p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), with sqrt(bc2) moved into the step size
            denom = v.sqrt().add_(self.eps * math.sqrt(bc2))
            p.addcdiv_(m * (self.lr * (math.sqrt(bc2) / bc1)).view(shape), denom, value=-1.0)

    def keep_runs(self, idx: torch.Tensor) -> None:
        self.m = [m[idx] for m in self.m]
        self.v = [v[idx] for v in self.v]
        self.lr, self.wd = self.lr[idx], self.wd[idx]


def _check_specs(specs: Sequence[RunSpec], n_train: int) -> None:
    if not specs:
        raise ValueError("fit_batched: no runs given")
    first = specs[0].config
    for i, s in enumerate(specs):
        if s.method not in MODELS:
            raise ValueError(f"fit_batched: run {i}: method must be one of {MODELS}, got {s.method!r}")
        rows = np.asarray(s.rows)
        if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(f"fit_batched: run {i}: rows must be a non-empty 1-D integer array")
        if rows.min() < 0 or rows.max() >= n_train:
            raise ValueError(f"fit_batched: run {i}: rows must lie in [0, {n_train}) (the training arrays' rows)")
        diff = [f for f in SHARED_FIELDS if getattr(s.config, f) != getattr(first, f)]
        if diff:
            raise ValueError(
                f"fit_batched: run {i} differs from run 0 in {diff}; the runs of one fit share {SHARED_FIELDS}"
            )


def fit_batched(
    p,
    h,
    y,
    dev_p,
    dev_h,
    dev_y,
    specs: Sequence[RunSpec],
    *,
    nbr_rows=None,
    pool_emb=None,
    pool_weights=None,
    eval_sets: Mapping[str, tuple] | None = None,
    device=None,
    dtype=torch.float32,
    progress: bool = False,
    desc: str = "NLI runs",
) -> list[FitResult]:
    """Train R runs of the Figure 2 model with eq. 8 as one batched model (:class:`BatchedAlignNLI`).

    Args:
        p, h: (N, d) training premise / hypothesis embeddings; y: (N,) label ids (``LABELS`` order).
        dev_p, dev_h, dev_y: the dev split (early stopping only).
        specs: the runs (:class:`RunSpec`): each its own training rows, method, hyperparameters and seed.
        nbr_rows: (N, k) int64 rows of ``pool_emb`` (m, d): the LPL neighbours of each training pair's premise;
            pool_weights: (N, k) their frozen LLE weights (eq. 6). Needed when a run is "MSE+LPL".
        eval_sets: ``{name: (p, h, y)}`` splits on which each run's best model is scored pair by pair
            (``FitResult.hits[name]``).
        dtype: float32 (default) or float64 (the tests compare batched and one-by-one runs in float64).

    How the runs share the work. One step is one mini-batch of B = min(batch_size, n_r) pairs for every active
    run; batches are ``(R, B)`` row indices, each run drawing from its own subset with its own generator (a fresh
    permutation of its subset each pass), so runs of different sizes train together (runs with different B
    are fitted one group after the other). The loss is the sum over runs of each run's eq. 8 (:func:`eq8_batched`);
    no parameter is shared, so the sum's gradient is every run's own, and :class:`BatchedAdam` updates them
    elementwise with each run's learning rate and weight decay. Gamma, beta, delta, floor and dropout are per run
    as well: a baseline run is a run with gamma 0, an MSE run one with beta 0, and only the "MSE+LPL" runs pay
    for projecting their k neighbours. Dropout masks come from each run's dropout generator.

    Steps and epochs. Run r trains in rounds of ``clip(ceil(n_r / B), min_round_steps, max_round_steps)``
    steps, about one pass over its subset; after each of its rounds its dev accuracy is measured, its best state
    kept, and it stops after ``patience`` rounds without improvement or after ``max_rounds`` rounds. Runs of
    different sizes therefore share steps, not epochs: each is measured at the end of its own rounds. A run that
    stops is removed from the batch (parameters, Adam moments, generators): it does not move again, and the
    others no longer pay for it. At the end every run gets back the state of its best round.

    Each run's numbers depend only on its own spec, not on the runs beside it: the same runs trained one by one
    (:func:`fit_nli`, the R = 1 case of this function) give the same models up to floating-point rounding.
    Returns one :class:`FitResult` per spec, in the order given.
    """
    dev = resolve_device(device)
    P, Hh, Y = _t(p, dev, dtype), _t(h, dev, dtype), _t(y, dev, torch.int64)
    N, d = P.shape
    if Hh.shape != P.shape or Y.shape != (N,):
        raise ValueError(f"fit_nli: shapes p {tuple(P.shape)}, h {tuple(Hh.shape)}, y {tuple(Y.shape)} disagree")
    if N == 0:
        raise ValueError("fit_nli: no training pairs")
    if int(Y.min()) < 0 or int(Y.max()) >= len(LABELS):
        raise ValueError("fit_nli: labels must be ids 0..2 in LABELS order")
    _check_specs(specs, N)
    dev_set = (_t(dev_p, dev, dtype), _t(dev_h, dev, dtype), _t(dev_y, dev, torch.int64))
    lpl = None
    if any(s.method == "MSE+LPL" for s in specs):
        if nbr_rows is None or pool_emb is None or pool_weights is None:
            raise ValueError("fit_nli: method 'MSE+LPL' needs nbr_rows, pool_emb and pool_weights")
        NR, PE, NW = _t(nbr_rows, dev, torch.int64), _t(pool_emb, dev, dtype), _t(pool_weights, dev, dtype)
        if NR.shape[0] != N or NW.shape != NR.shape or PE.shape[1] != d:
            raise ValueError(
                f"fit_nli: neighbour shapes nbr_rows {tuple(NR.shape)}, weights {tuple(NW.shape)}, "
                f"pool {tuple(PE.shape)} do not fit {N} pairs of dimension {d}"
            )
        lpl = (NR, PE, NW)
    evals = {
        k: tuple(_t(a, dev, t) for a, t in zip(v, (dtype, dtype, torch.int64))) for k, v in (eval_sets or {}).items()
    }
    bsz = [min(s.config.batch_size, len(s.rows)) for s in specs]
    out: list[FitResult | None] = [None] * len(specs)
    for b in sorted(set(bsz)):
        group = [i for i in range(len(specs)) if bsz[i] == b]
        fits = _fit_group([specs[i] for i in group], b, (P, Hh, Y), dev_set, lpl, evals, dev, dtype, progress, desc)
        for i, f in zip(group, fits):
            out[i] = f
    return out  # type: ignore[return-value]


class _RunState:
    """Book-keeping of one run during a batched fit."""

    def __init__(self, spec: RunSpec, bs: int, gens, device):
        cfg = spec.config
        self.rows = torch.as_tensor(np.asarray(spec.rows, dtype=np.int64))
        n = len(self.rows)
        self.round_steps = int(min(max(math.ceil(n / bs), cfg.min_round_steps), cfg.max_round_steps))
        self.order_gen, self.drop_gen = gens[1], gens[2]
        self.leftover = torch.zeros(0, dtype=torch.int64)
        self.batches = torch.zeros(0, bs, dtype=torch.int64)
        self.best_acc, self.best_round, self.bad, self.rounds = -1.0, -1, 0, 0
        self.best_state: list[torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []
        self.device = device

    def new_round(self, bs: int) -> None:
        """Draw the batches (round_steps, B) of the next round: global training rows."""
        n = len(self.rows)
        need = self.round_steps * bs
        reps = math.ceil(max(need - len(self.leftover), 0) / n)
        perms = [torch.randperm(n, generator=self.order_gen) for _ in range(reps)]
        order = torch.cat([self.leftover, *perms])
        self.batches = self.rows[order[:need]].view(self.round_steps, bs).to(self.device)
        self.leftover = order[need:]


def _fit_group(specs, bs, train, dev_set, lpl, evals, dev, dtype, progress, desc) -> list[FitResult]:
    """:func:`fit_batched` for runs sharing the batch size ``bs``."""
    t0 = time.perf_counter()
    P, Hh, Y = train
    cfg0 = specs[0].config
    # "MSE+LPL" runs first (a slice of the batch projects neighbours); results go back in the given order
    order = sorted(range(len(specs)), key=lambda i: specs[i].method != "MSE+LPL")
    specs_o = [specs[i] for i in order]
    gens = [run_generators(s.seed) for s in specs_o]
    model = BatchedAlignNLI(
        P.shape[1],
        [g[0] for g in gens],
        hidden=cfg0.hidden,
        n_layers=cfg0.n_layers,
        proj_activation=cfg0.proj_activation,
        dtype=dtype,
        device=dev,
    )
    runs = [_RunState(s, bs, g, dev) for s, g in zip(specs_o, gens)]

    def vec(values) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=dev)

    gamma = vec([0.0 if s.method == "baseline" else s.config.gamma for s in specs_o])
    beta = vec([s.config.beta if s.method == "MSE+LPL" else 0.0 for s in specs_o])
    delta = torch.stack([s.config.delta_vector() for s in specs_o]).to(device=dev, dtype=dtype)
    floor = vec([-math.inf if s.config.floor is None else s.config.floor for s in specs_o])
    drop = vec([s.config.dropout for s in specs_o])
    is_lpl = [s.method == "MSE+LPL" for s in specs_o]
    aligned = any(s.method != "baseline" for s in specs_o)
    n_hidden = cfg0.n_layers - 1
    opt = BatchedAdam(
        list(model.parameters()), vec([s.config.lr for s in specs_o]), vec([s.config.weight_decay for s in specs_o])
    )
    active = list(range(len(specs_o)))  # run of each position along the (compacted) runs dimension
    ce_sum = torch.zeros(len(active), dtype=dtype, device=dev)
    al_sum = torch.zeros_like(ce_sum)
    step = 0
    bar = tqdm(total=len(active), desc=desc, unit="run", disable=not progress, leave=False)
    while active:
        for r in active:
            if step % runs[r].round_steps == 0:
                runs[r].new_round(bs)
        idx = torch.stack([runs[r].batches[step % runs[r].round_steps] for r in active])  # (R, B)
        masks = _dropout_masks([runs[r].drop_gen for r in active], drop, bs, cfg0.hidden, n_hidden, dtype)
        pb, hb, yb = P[idx], Hh[idx], Y[idx]
        logits, fp = model(pb, hb, masks)
        align = None
        if aligned:
            align = (fp - hb).pow(2).sum(2)  # eq. 4 per pair, (R, B)
            n_lpl = sum(is_lpl[r] for r in active)  # the "MSE+LPL" runs are the first positions
            if n_lpl:
                NR, PE, NW = lpl
                k = NR.shape[1]
                nb = PE[NR[idx[:n_lpl]]].view(n_lpl, bs * k, -1)  # neighbour premises (R', B k, d)
                fnb = model.project(nb, runs=slice(0, n_lpl)).view(n_lpl * bs, k, -1)
                recon = torch.bmm(NW[idx[:n_lpl]].view(n_lpl * bs, 1, k), fnb).view(n_lpl, bs, -1)
                lpl_i = (hb[:n_lpl] - recon).pow(2).sum(2)  # eq. 5 per pair, (R', B)
                align = torch.cat([align[:n_lpl] + beta[:n_lpl, None] * lpl_i, align[n_lpl:]])
        total, ce, al = eq8_batched(logits, yb, align, gamma=gamma, delta=delta, floor=floor)
        model.zero_grad(set_to_none=True)
        total.sum().backward()
        opt.step(list(model.parameters()))
        ce_sum += ce.detach()
        al_sum += al.detach()
        step += 1
        ends = [j for j, r in enumerate(active) if step % runs[r].round_steps == 0]
        if not ends:
            continue
        accs = _dev_accuracy(model, ends, dev_set)
        stopped = []
        for j, acc in zip(ends, accs):
            st, L = runs[active[j]], runs[active[j]].round_steps
            st.history.append(
                {
                    "round": st.rounds,
                    "steps": (st.rounds + 1) * L,
                    "ce": float(ce_sum[j]) / L,
                    "align": float(al_sum[j]) / L,
                    "dev_acc": acc,
                }
            )
            ce_sum[j] = 0.0
            al_sum[j] = 0.0
            if acc > st.best_acc:
                st.best_acc, st.best_round, st.bad, st.best_state = acc, st.rounds, 0, model.state_of(j)
            else:
                st.bad += 1
            st.rounds += 1
            if st.bad >= cfg0.patience or st.rounds >= cfg0.max_rounds:
                stopped.append(j)
        if stopped:
            bar.update(len(stopped))
            keep_pos = [j for j in range(len(active)) if j not in stopped]
            kp = torch.tensor(keep_pos, dtype=torch.int64, device=dev)
            active = [active[j] for j in keep_pos]
            if active:
                model.keep_runs(kp)
                opt.keep_runs(kp)
                gamma, beta, delta, floor, drop = gamma[kp], beta[kp], delta[kp], floor[kp], drop[kp]
                ce_sum, al_sum = ce_sum[kp], al_sum[kp]
    bar.close()
    model.load_states([st.best_state for st in runs])
    hits = {name: (model.predict_shared(ep, eh) == ey).cpu().numpy() for name, (ep, eh, ey) in evals.items()}
    seconds = time.perf_counter() - t0
    out: list[FitResult | None] = [None] * len(specs)
    for j, (i, s, st) in enumerate(zip(order, specs_o, runs)):
        out[i] = FitResult(
            model=model.run(j, dropout=s.config.dropout) if s.keep_model else None,
            method=s.method,
            config=s.config,
            dev_acc=st.best_acc,
            best_round=st.best_round,
            rounds=st.rounds,
            steps=st.rounds * st.round_steps,
            seconds=seconds,
            history=st.history,
            hits={name: h[j] for name, h in hits.items()},
        )
    return out  # type: ignore[return-value]


def _dropout_masks(gens, drop: torch.Tensor, bs: int, hidden: int, n_hidden: int, dtype) -> list[torch.Tensor] | None:
    """Inverted-dropout multipliers, one (R, B, hidden) per hidden layer: 0 with probability ``drop[r]``, else
    ``1 / (1 - drop[r])``; run r's uniforms come from its own generator ``gens[r]`` (float32 draws, whatever
    ``dtype``), so its masks do not depend on the other runs."""
    if not n_hidden:
        return None
    p = drop[:, None, None]
    out = []
    for _ in range(n_hidden):
        u = torch.stack([torch.rand(bs, hidden, generator=g) for g in gens]).to(drop.device, dtype)
        out.append((u >= p).to(dtype) / (1 - p))
    return out


def _dev_accuracy(model: BatchedAlignNLI, positions: list[int], dev_set) -> list[float]:
    """Dev accuracy of the runs at ``positions`` of the batch (the runs whose round just ended)."""
    dp, dh, dy = dev_set
    sub = model if len(positions) == model.runs else model.subset(positions)
    pred = sub.predict_shared(dp, dh)
    return [float(c) / len(dy) for c in (pred == dy).sum(1).tolist()]


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
    dtype=torch.float32,
) -> FitResult:
    """Train one Figure 2 model with eq. 8 (early stopping on the dev split only): :func:`fit_batched` with one
    run (R = 1), on every training pair given.

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
    n = int(np.shape(y)[0]) if not isinstance(y, torch.Tensor) else int(y.shape[0])
    spec = RunSpec(np.arange(n, dtype=np.int64), method, config or NLIConfig(), int(seed))
    if n == 0:
        raise ValueError("fit_nli: no training pairs")
    return fit_batched(
        p,
        h,
        y,
        dev_p,
        dev_h,
        dev_y,
        [spec],
        nbr_rows=nbr_rows,
        pool_emb=pool_emb,
        pool_weights=pool_weights,
        device=device,
        dtype=dtype,
    )[0]
