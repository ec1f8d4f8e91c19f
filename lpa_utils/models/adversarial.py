"""Barone (2016): cross-lingual word-embedding maps without parallel data, by adversarial training.

Paper: A. V. M. Barone, "Towards cross-lingual distributed representations without parallel text trained with
adversarial autoencoders", RepL4NLP 2016 [barone2016towards]. Released code (Theano):
github.com/Avmb/clweadv, read for the details the paper leaves out (marked "released code" below).

What is here
------------
- :func:`standardize` -- per-dimension standardisation of an embedding matrix (sklearn's ``StandardScaler``).
- :func:`subsample_probs`, :class:`FrequencySampler` -- word sampling "according to their frequency in the
  original corpora, adjusted to subsample frequent words, as in word2vec" (sec. 3).
- :func:`random_orthogonal` -- a Haar-random (semi-)orthogonal matrix, the encoder's initialisation (sec. 3).
- :class:`TiedAutoencoder` -- linear encoder G(f) = f W^T + b and decoder R(e) = e W + c with tied weights.
- :class:`ResidualBlock`, :class:`ResNetDiscriminator` -- eq. (1): h_{t+1} = phi(W_t h_t) + h_t,
  phi = batch-norm then leaky ReLU, dropout, T blocks of width k, a sigmoid output.
- :func:`generator_loss`, :func:`discriminator_loss`, :func:`cosine_dissimilarity` -- the loss L_GR of sec. 2:
  lambda_r L_r(f, R(G(f))) - lambda_a log D(G(f)) + lambda_c L_r(e, G(f)).
- :class:`PlainGAN` -- the GAN of sec. 2, steps 1-6 (Fig. 1), which collapses.
- :class:`AdversarialAutoencoder` -- the AAE of sec. 2 / Fig. 2 with two discriminators (one trains the
  encoder, one only monitors).
- Diagnostics and inspection: :func:`mean_pairwise_cosine`, :func:`distinct_nearest`, :func:`ten_best`,
  :func:`mutual_nn_pairs`, :func:`procrustes_refine` (MUSE-style refinement, beyond the paper).
- Beyond Barone (issue 18): :class:`MuseAdversarialMap` / :class:`MuseConfig`, an orthogonal map trained
  adversarially with MUSE's recipe (Conneau et al. 2018), several random starts and both orientations batched
  along a leading dimension (:class:`BatchedMLPDiscriminator`, or :class:`BatchedResNetDiscriminator` for the
  ablation), model selection by :func:`unsupervised_criterion`, :func:`orthogonalize_step`, and
  :func:`seed_streams` (independent random streams of one seed).
- The chapter's experiments: :func:`synthetic_pair` (an exactly rotated copy, where a perfect map exists),
  :func:`load_pair` (two monolingual spaces + the evaluation dictionary via ``lpa_utils.data``; letters-only words,
  :func:`wordfreq_counts` where the vectors have no counts, :func:`pca_reduce` when the dimensions differ),
  :func:`frequent_words`, :func:`compare_maps` (P@k of random / AAE / refined / supervised Procrustes maps).

Both models follow the aligner interface of ``lpa_utils.align`` where it makes sense: ``fit(X, Y, ...)`` (no
pairs: nothing bilingual is used in training), ``transform(X)`` maps raw source vectors into the standardised
target space, ``transform_target(Y)`` standardises raw target vectors, so retrieval compares
``transform(X)`` with ``transform_target(Y)``.

Determinism: every random draw (initialisation, word sampling, dropout) happens under ``seed`` inside
``torch.random.fork_rng``, so the global RNG state is neither used nor changed, and a rerun on the CPU gives
bit-identical numbers.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from lpa_utils.checks import as_matrix
from lpa_utils.config import resolve_device
from lpa_utils.maths.retrieval import translate

__all__ = [
    "standardize",
    "subsample_probs",
    "FrequencySampler",
    "random_orthogonal",
    "TiedAutoencoder",
    "ResidualBlock",
    "ResNetDiscriminator",
    "MLPGenerator",
    "cosine_dissimilarity",
    "generator_loss",
    "discriminator_loss",
    "AAEConfig",
    "PlainGAN",
    "AdversarialAutoencoder",
    "mean_pairwise_cosine",
    "distinct_nearest",
    "zipf_counts",
    "wordfreq_counts",
    "alphabetic_rows",
    "pca_reduce",
]


# --------------------------------------------------------------------------------------------------------------
# input checks and small helpers
# --------------------------------------------------------------------------------------------------------------
def _fork_devices(device: torch.device) -> list:
    return [device] if device.type == "cuda" else []


# --------------------------------------------------------------------------------------------------------------
# data preparation: standardisation and frequency sampling
# --------------------------------------------------------------------------------------------------------------
def standardize(X, eps: float = 1e-8, device=None):
    """Standardise every dimension to mean 0, standard deviation 1 (released code: sklearn ``StandardScaler``).

    X: (n, d). Returns ``(Z, mean, std)``: Z (n, d) float32 torch on ``device``; mean, std (d,) with the
    population standard deviation (ddof = 0); dimensions with std < eps are left unscaled (std set to 1).
    """
    t = as_matrix(X, "standardize(X)", resolve_device(device) if device is not None else None, min_rows=2)
    mean = t.mean(0)
    std = t.std(0, unbiased=False)
    std = torch.where(std < eps, torch.ones_like(std), std)
    return (t - mean) / std, mean, std


def zipf_counts(n: int, total: float = 1e9) -> np.ndarray:
    """Pseudo corpus counts (n,) int64 from Zipf's law, c_r ~ total / (r * H_n), for vocabularies given in
    frequency order without counts (e.g. GloVe, spaCy's fastText). A fallback; real counts are better."""
    if n < 1:
        raise ValueError(f"zipf_counts: n must be >= 1, got {n}")
    r = np.arange(1, n + 1, dtype=np.float64)
    harmonic = np.sum(1.0 / r)
    return np.maximum(1, np.round(total / (r * harmonic))).astype(np.int64)


def wordfreq_counts(words: Sequence[str], lang: str, total: float = 1e9) -> np.ndarray:
    """Corpus-like counts (n,) int64 for ``words`` from ``wordfreq``'s large frequency list of ``lang``
    (Speer et al., wordfreq 3.x: Wikipedia, subtitles, news, books, web, ...), scaled to ``total`` tokens.

    For vocabularies shipped without counts (GloVe, spaCy's fastText). Words wordfreq does not know get the
    smallest frequency it gives to any word of ``words`` (at least 1 count). Vectorised via a pandas map.
    """
    import wordfreq

    try:
        freqs = wordfreq.get_frequency_dict(lang, wordlist="large")
    except (LookupError, ValueError) as exc:
        raise ValueError(f"wordfreq_counts: wordfreq has no 'large' list for language {lang!r}") from exc
    f = pd.Series(list(words), dtype=object).map(freqs).astype(float).to_numpy()
    floor = np.nanmin(f) if np.isfinite(f).any() else 1.0 / total
    f = np.where(np.isfinite(f), f, floor)
    return np.maximum(1, np.round(f * total)).astype(np.int64)


def alphabetic_rows(words: Sequence[str], max_words: int | None = None) -> np.ndarray:
    """Rows (in the given, frequency, order) of the words made of letters only (Unicode; no digits, punctuation
    or markup such as ``</s>``), at most ``max_words`` of them. words (n,) -> (m,) int64."""
    w = pd.Series(list(words), dtype=object).astype(str)
    rows = np.flatnonzero(w.str.fullmatch(r"[^\W\d_]+").to_numpy())
    return rows[:max_words] if max_words is not None else rows


def pca_reduce(Y, n_components: int):
    """Project Y (n, d) on its first ``n_components`` principal axes: centre, eigen-decompose the (d, d)
    covariance in float64 (cheap for d = 300, unlike an SVD of the n x d matrix), axes by decreasing variance,
    each axis signed so that its largest-magnitude loading is positive (deterministic; equals scikit-learn's
    ``PCA`` up to the sign of each axis). Used to bring a 300d target space to the source dimension.
    Returns ``(Y_reduced (n, n_components) float32 np.ndarray, explained_variance_ratio (n_components,))``."""
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or not 1 <= n_components <= min(Y.shape):
        raise ValueError(
            f"pca_reduce: need a 2-D matrix and 1 <= n_components <= min(n, d), "
            f"got shape {Y.shape} and n_components={n_components}"
        )
    Yc = Y - Y.mean(0)
    evals, evecs = np.linalg.eigh(Yc.T @ Yc / (len(Y) - 1))
    order = np.argsort(evals)[::-1][:n_components]
    V = evecs[:, order]
    V = V * np.sign(V[np.abs(V).argmax(0), np.arange(V.shape[1])])
    return (Yc @ V).astype(np.float32), evals[order] / evals.sum()


def subsample_probs(counts, threshold: float = 1e-3) -> np.ndarray:
    """Sampling distribution over words: corpus frequency adjusted by word2vec's subsampling of frequent words.

    With f_w = c_w / sum(c) and t = ``threshold``, word2vec keeps an occurrence of w with probability
    ``keep_w = min(1, (sqrt(f_w / t) + 1) * t / f_w)`` (Mikolov et al. 2013, as in the word2vec C code).
    Sampling a word "according to its frequency, adjusted to subsample frequent words" (Barone sec. 3) then has
    probability ``p_w ~ c_w * keep_w``: rare words keep p_w ~ c_w, frequent ones get p_w ~ sqrt(c_w t N) + tN.

    (The released code applies ``max(keep, 1)`` instead of ``min``, which boosts rare words rather than damping
    frequent ones; we follow word2vec, as the paper says.)

    counts: (n,) positive numbers. Returns (n,) float64, non-negative, summing to 1.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"subsample_probs: counts must be a non-empty 1-D array, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("subsample_probs: counts must be finite and > 0 (drop zero-count words first)")
    if not threshold > 0:
        raise ValueError(f"subsample_probs: threshold must be > 0, got {threshold}")
    tn = threshold * c.sum()
    keep = np.minimum(1.0, (np.sqrt(c / tn) + 1.0) * tn / c)
    p = c * keep
    return p / p.sum()


class FrequencySampler:
    """Draws word rows i.i.d. from :func:`subsample_probs` (step 1 / step 5 of sec. 2), with its own generator.

    >>> s = FrequencySampler(np.array([100, 10, 1]), seed=0)
    >>> s.sample(4).shape
    torch.Size([4])
    """

    def __init__(self, counts, threshold: float = 1e-3, seed: int = 0, device=None):
        self.device = resolve_device(device) if device is not None else torch.device("cpu")
        self.probs = torch.as_tensor(subsample_probs(counts, threshold), dtype=torch.float64, device=self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed))

    def sample(self, n: int) -> torch.Tensor:
        """(n,) int64 row indices, drawn with replacement."""
        return torch.multinomial(self.probs, int(n), replacement=True, generator=self.generator)


# --------------------------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------------------------
def random_orthogonal(d_out: int, d_in: int | None = None, seed: int | None = 0, generator=None, device=None):
    """Haar-random (semi-)orthogonal matrix (d_out, d_in): QR of a Gaussian matrix with the signs of R's diagonal
    folded into Q (Mezzadri 2007), so the draw is uniform on the orthogonal group. If d_out <= d_in the rows are
    orthonormal (W W^T = I), else the columns (W^T W = I).
    """
    d_in = d_out if d_in is None else d_in
    if d_out < 1 or d_in < 1:
        raise ValueError(f"random_orthogonal: sizes must be >= 1, got ({d_out}, {d_in})")
    dev = resolve_device(device) if device is not None else torch.device("cpu")
    if generator is None:
        generator = torch.Generator(device="cpu")
        generator.manual_seed(int(seed or 0))
    big, small = max(d_out, d_in), min(d_out, d_in)
    A = torch.randn(big, small, generator=generator, dtype=torch.float64, device=generator.device)
    Q, R = torch.linalg.qr(A)  # (big, small), orthonormal columns
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1.0
    Q = Q * signs
    W = Q if d_out >= d_in else Q.T
    return W.to(device=dev, dtype=torch.float32).contiguous()


class TiedAutoencoder(nn.Module):
    """Linear encoder and decoder with tied matrices (Barone sec. 3, Fig. 2).

    encode: G(f) = f W^T + b,  f: (n, d_src) -> (n, d_tgt)
    decode: R(e) = e W + c,    e: (n, d_tgt) -> (n, d_src)      (decoder matrix = encoder matrix transposed)
    W (d_tgt, d_src) starts as a random (semi-)orthogonal matrix; b (d_tgt,) and c (d_src,) start at zero.
    """

    def __init__(self, d_src: int, d_tgt: int | None = None, seed: int = 0):
        super().__init__()
        d_tgt = d_src if d_tgt is None else d_tgt
        self.weight = nn.Parameter(random_orthogonal(d_tgt, d_src, seed=seed))
        self.enc_bias = nn.Parameter(torch.zeros(d_tgt))
        self.dec_bias = nn.Parameter(torch.zeros(d_src))

    def encode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.weight.T + self.enc_bias

    def decode(self, e: torch.Tensor) -> torch.Tensor:
        return e @ self.weight + self.dec_bias

    def forward(self, f: torch.Tensor):
        """Returns ``(G(f), R(G(f)))``: (n, d_tgt), (n, d_src)."""
        e = self.encode(f)
        return e, self.decode(e)


class MLPGenerator(nn.Module):
    """Generator for the plain GAN of sec. 2 (released code ``emb_adversarial_2``: d -> 500 ReLU -> d)."""

    def __init__(self, d_src: int, d_tgt: int | None = None, hidden: int = 500):
        super().__init__()
        d_tgt = d_src if d_tgt is None else d_tgt
        self.net = nn.Sequential(nn.Linear(d_src, hidden), nn.ReLU(), nn.Linear(hidden, d_tgt))
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f)

    def forward(self, f):
        return self.encode(f)


class _LinearGenerator(nn.Module):
    """Linear generator G(f) = f W^T + b, W random orthogonal (the AAE's encoder without its decoder)."""

    def __init__(self, d_src: int, d_tgt: int | None = None, seed: int = 0):
        super().__init__()
        d_tgt = d_src if d_tgt is None else d_tgt
        self.weight = nn.Parameter(random_orthogonal(d_tgt, d_src, seed=seed))
        self.bias = nn.Parameter(torch.zeros(d_tgt))

    def encode(self, f):
        return f @ self.weight.T + self.bias

    def forward(self, f):
        return self.encode(f)


class ResidualBlock(nn.Module):
    """One block of the discriminator, eq. (1): ``h_{t+1} = phi(W_t drop(h_t)) + h_t``.

    phi = batch normalisation (with its own scale and shift) followed by leaky ReLU; no non-linearity on the
    pass-through path. Dropout acts on the block input before W_t (released code). h: (n, k) -> (n, k).
    """

    def __init__(self, width: int, dropout: float = 0.0, negative_slope: float = 0.01):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(width, width, bias=False)  # batch norm's shift plays the bias
        self.bn = nn.BatchNorm1d(width)
        self.negative_slope = negative_slope
        nn.init.xavier_uniform_(self.linear.weight, gain=nn.init.calculate_gain("leaky_relu", negative_slope))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.bn(self.linear(self.drop(h))), self.negative_slope) + h


class ResNetDiscriminator(nn.Module):
    """The discriminator of sec. 3: a residual network without convolutions.

    x (n, d) -> [tanh, released code] -> dropout -> Linear(d, k) -> BN -> leaky ReLU -> T x ResidualBlock(k)
    -> dropout -> Linear(k, 1) -> logit (n,). ``predict_proba`` applies the logistic sigmoid: the probability
    that x is a true target embedding. Paper: k = 40, T = 10 (EN-IT), T = 4 (EN-DE); released code: dropout 0.3
    in the blocks, 0.1 before the output, leaky ReLU slope 0.01, input squashed by tanh.
    """

    def __init__(
        self,
        d_in: int,
        width: int = 40,
        depth: int = 10,
        dropout: float = 0.3,
        in_dropout: float = 0.0,
        out_dropout: float = 0.1,
        negative_slope: float = 0.01,
        squash_input: bool = True,
    ):
        super().__init__()
        if width < 1 or depth < 0:
            raise ValueError(f"ResNetDiscriminator: need width >= 1 and depth >= 0, got k={width}, T={depth}")
        self.squash_input = squash_input
        self.negative_slope = negative_slope
        self.in_drop = nn.Dropout(in_dropout)
        self.inp = nn.Linear(d_in, width, bias=False)
        self.inp_bn = nn.BatchNorm1d(width)
        nn.init.xavier_uniform_(self.inp.weight, gain=nn.init.calculate_gain("leaky_relu", negative_slope))
        self.blocks = nn.ModuleList(ResidualBlock(width, dropout, negative_slope) for _ in range(depth))
        self.out_drop = nn.Dropout(out_dropout)
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (n,) (before the sigmoid)."""
        h = torch.tanh(x) if self.squash_input else x
        h = F.leaky_relu(self.inp_bn(self.inp(self.in_drop(h))), self.negative_slope)
        for block in self.blocks:
            h = block(h)
        return self.out(self.out_drop(h)).squeeze(-1)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """P(x is a true target sample), (n,)."""
        return torch.sigmoid(self(x))


# --------------------------------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------------------------------
def cosine_dissimilarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """L_r(a, b) = mean_i (1 - cos(a_i, b_i)); a, b: (n, d) -> scalar (sec. 2, "cosine dissimilarity")."""
    if a.shape != b.shape:
        raise ValueError(f"cosine_dissimilarity: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    return (1.0 - F.cosine_similarity(a, b, dim=-1, eps=eps)).mean()


def generator_loss(
    f: torch.Tensor,
    generated: torch.Tensor,
    reconstructed: torch.Tensor | None,
    target: torch.Tensor | None,
    fake_logits: torch.Tensor,
    lambda_r: float = 1.0,
    lambda_a: float = 1.0,
    lambda_c: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The encoder-decoder loss of sec. 2:

        L_GR = lambda_r L_r(f, R(G(f))) - lambda_a mean log D(G(f)) + lambda_c L_r(e, G(f))

    f: (n, d_src) source samples; generated = G(f): (n, d_tgt); reconstructed = R(G(f)): (n, d_src) or None
    (plain GAN); target e: (n, d_tgt) true target samples, paired row by row with the generated ones as in the
    released code (random pairs: this pulls G(f) towards the target cloud's direction), or None;
    fake_logits: (n,) discriminator logits of G(f). -log sigmoid(l) is computed as softplus(-l) for stability.
    Returns a dict of scalars: ``total``, ``recon``, ``adv``, ``cos`` (terms before weighting; 0 when absent).
    """
    zero = fake_logits.new_zeros(())
    adv = F.softplus(-fake_logits).mean()
    recon = cosine_dissimilarity(f, reconstructed) if reconstructed is not None else zero
    cos = cosine_dissimilarity(target, generated) if target is not None else zero
    total = lambda_r * recon + lambda_a * adv + lambda_c * cos
    return {"total": total, "recon": recon, "adv": adv, "cos": cos}


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor):
    """Binary cross-entropy of step 6 (true target samples = class 1, generated = class 0) and the accuracy.

    real_logits (n,), fake_logits (m,) -> (loss scalar tensor, accuracy float) over all n + m samples.
    """
    logits = torch.cat([real_logits, fake_logits])
    labels = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    acc = ((logits >= 0).to(labels.dtype) == labels).float().mean()
    return loss, float(acc)


# --------------------------------------------------------------------------------------------------------------
# diagnostics
# --------------------------------------------------------------------------------------------------------------
def mean_pairwise_cosine(Z) -> float:
    """Mean cosine over all ordered pairs i != j of the rows of Z (n, d), in O(n d):
    with u_i = z_i / |z_i|, sum_{i != j} u_i.u_j = |sum_i u_i|^2 - n. Near 1 when the generator collapses
    to a (near-)constant output (sec. 2); the target embeddings' own value is the reference."""
    z = as_matrix(Z, "mean_pairwise_cosine(Z)", min_rows=2).double()
    u = F.normalize(z, dim=1)
    n = u.shape[0]
    s = u.sum(0)
    return float(((s @ s) - (u * u).sum()) / (n * (n - 1)))


def distinct_nearest(mapped, target, batch_size: int = 4096) -> int:
    """How many distinct target rows are the cosine nearest neighbour of at least one mapped source row.

    mapped (q, d), target (m, d). A collapsed generator sends every word to the same few target words, so the
    count falls towards 1; a good map gives a count close to min(q, m). Uses ``retrieval.translate(method="nn")``.
    """
    top = translate(mapped, target, method="nn", topk=1, batch_size=batch_size)
    return int(torch.unique(torch.as_tensor(top)[:, 0]).numel())


# --------------------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------------------
@dataclass
class AAEConfig:
    """Hyper-parameters (paper's values as defaults; "released code" where the paper is silent).

    steps: training steps (one encoder-decoder update and one update of each discriminator per step);
    half_batch: n, the source and the target sample size per step (released code 128);
    width, depth: k and T of the ResNet discriminator; dropout / out_dropout: released code 0.3 / 0.1;
    lr_gen / lr_disc: Adam learning rates (paper 1e-3 / 1e-2); lambda_r, lambda_a, lambda_c: all 1 (paper);
    subsample: word2vec's threshold t; skip_rules: the released code's balancing (EMA of the training
    discriminator's accuracy: below gen_skip_below the adversarial term is dropped from the encoder's update,
    above disc_skip_above the discriminators are not updated); ema: the EMA rate (0.1);
    log_every: history and diagnostics every this many steps (0: never); n_probe: number of most frequent
    source words whose mapped vectors the collapse diagnostics look at; num_threads: torch CPU threads during
    ``fit`` (restored afterwards; the matrices are tiny and more threads only spin on a busy machine; None: leave).
    """

    steps: int = 5000
    half_batch: int = 128
    width: int = 40
    depth: int = 10
    dropout: float = 0.3
    out_dropout: float = 0.1
    negative_slope: float = 0.01
    squash_input: bool = True
    lr_gen: float = 1e-3
    lr_disc: float = 1e-2
    lambda_r: float = 1.0
    lambda_a: float = 1.0
    lambda_c: float = 1.0
    subsample: float = 1e-3
    skip_rules: bool = True
    gen_skip_below: float = 0.51
    disc_skip_above: float = 0.99
    ema: float = 0.1
    log_every: int = 100
    n_probe: int = 1000
    num_threads: int | None = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _AdversarialMap:
    """Shared machinery of :class:`PlainGAN` and :class:`AdversarialAutoencoder` (fit loop, transform)."""

    kind = "?"

    def __init__(self, config: AAEConfig | None = None, seed: int = 0, device=None, progress: bool = True, **overrides):
        cfg = config if config is not None else AAEConfig()
        if overrides:
            bad = set(overrides) - set(AAEConfig.__dataclass_fields__)
            if bad:
                raise TypeError(f"unknown AAEConfig fields: {sorted(bad)}")
            cfg = AAEConfig(**{**cfg.to_dict(), **overrides})
        self.config = cfg
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.progress = progress

    # -- to be defined by subclasses ------------------------------------------------------------------------
    def _build_generator(self, d_src: int, d_tgt: int) -> nn.Module:
        raise NotImplementedError

    def _n_discriminators(self) -> int:
        return 1

    # -- public API ---------------------------------------------------------------------------------------------
    def fit(
        self,
        X,
        Y,
        counts_src=None,
        counts_tgt=None,
        probe: Sequence[int] | None = None,
        init=None,
        checkpoints: Sequence[int] = (),
    ):
        """Train without any bilingual signal.

        X: (n_s, d_s) raw source embeddings, Y: (n_t, d_t) raw target embeddings (both standardised here per
        dimension); counts_src (n_s,), counts_tgt (n_t,): corpus counts for frequency sampling (``None``: Zipf
        pseudo-counts by row order, see :func:`zipf_counts`); probe: source rows for the collapse diagnostics
        (default: the ``n_probe`` first rows, i.e. the most frequent words); init: optional (d_t, d_s) starting
        matrix of a linear generator / the encoder, in standardised coordinates (default: random orthogonal; used
        by the sanity check that starts at the true map). Returns self; ``history_`` holds a DataFrame with one
        row per ``log_every`` steps. checkpoints: steps after which a copy of the generator's weights is kept in
        ``checkpoints_`` ({step: state dict}; read them with ``transform(X, step=...)``); training is unchanged.
        """
        prev_threads = torch.get_num_threads()
        if self.config.num_threads:
            torch.set_num_threads(int(self.config.num_threads))
        try:
            return self._fit(X, Y, counts_src, counts_tgt, probe, init, checkpoints)
        finally:
            torch.set_num_threads(prev_threads)

    def _fit(self, X, Y, counts_src, counts_tgt, probe, init, checkpoints=()):
        cfg, dev = self.config, self.device
        keep_at = {int(c) for c in checkpoints}
        self.checkpoints_ = {}
        Xs, self.src_mean_, self.src_std_ = standardize(X, device=dev)
        Yt, self.tgt_mean_, self.tgt_std_ = standardize(Y, device=dev)
        counts_src = zipf_counts(len(Xs)) if counts_src is None else np.asarray(counts_src)
        counts_tgt = zipf_counts(len(Yt)) if counts_tgt is None else np.asarray(counts_tgt)
        for name, c, M in (("counts_src", counts_src, Xs), ("counts_tgt", counts_tgt, Yt)):
            if len(c) != len(M):
                raise ValueError(f"{name}: {len(c)} counts for {len(M)} embedding rows; they must match")
        probe = np.arange(min(cfg.n_probe, len(Xs))) if probe is None else np.asarray(probe, dtype=np.int64)
        probe_t = torch.as_tensor(probe, device=dev)
        self.target_pairwise_cos_ = mean_pairwise_cosine(Yt[: max(2, min(cfg.n_probe, len(Yt)))])
        self.source_pairwise_cos_ = mean_pairwise_cosine(Xs[probe_t])

        src_sampler = FrequencySampler(counts_src, cfg.subsample, seed=self.seed * 2 + 1, device=dev)
        tgt_sampler = FrequencySampler(counts_tgt, cfg.subsample, seed=self.seed * 2 + 2, device=dev)
        n = cfg.half_batch
        with torch.random.fork_rng(devices=_fork_devices(dev)):
            torch.manual_seed(self.seed)
            gen = self._build_generator(Xs.shape[1], Yt.shape[1]).to(dev)
            if init is not None:
                if not hasattr(gen, "weight"):
                    raise ValueError(f"init= needs a linear generator, not {type(gen).__name__}")
                W0 = as_matrix(init, "fit(init=)", dev)
                if W0.shape != gen.weight.shape:
                    raise ValueError(f"fit(init=): shape {tuple(W0.shape)}, expected {tuple(gen.weight.shape)}")
                with torch.no_grad():
                    gen.weight.copy_(W0)
            discs = [
                ResNetDiscriminator(
                    Yt.shape[1],
                    cfg.width,
                    cfg.depth,
                    cfg.dropout,
                    0.0,
                    cfg.out_dropout,
                    cfg.negative_slope,
                    cfg.squash_input,
                ).to(dev)
                for _ in range(self._n_discriminators())
            ]
            opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr_gen)
            opt_d = [torch.optim.Adam(d.parameters(), lr=cfg.lr_disc) for d in discs]
            rows: list[dict[str, float]] = []
            window: dict[str, list[float]] = {}
            ema_acc = None
            bar = tqdm(
                range(1, cfg.steps + 1),
                desc=f"{self.kind} (seed {self.seed})",
                disable=not self.progress,
                mininterval=1.0,
            )
            for step in bar:
                f = Xs[src_sampler.sample(n)]
                e = Yt[tgt_sampler.sample(n)]
                # encoder(-decoder) update: steps 1-4 (GAN) / L_GR (AAE)
                use_adv = not (
                    cfg.skip_rules and self.kind == "AAE" and ema_acc is not None and ema_acc < cfg.gen_skip_below
                )
                gen.train()
                discs[0].eval()  # released code: deterministic discriminator output here
                discs[0].requires_grad_(False)  # gradients reach the generator only
                losses = self._generator_step(gen, discs[0], f, e, use_adv)
                opt_g.zero_grad(set_to_none=True)
                losses["total"].backward()
                opt_g.step()
                if step in keep_at:
                    self.checkpoints_[step] = {k: v.detach().clone() for k, v in gen.state_dict().items()}
                discs[0].requires_grad_(True)
                # discriminator update(s): steps 5-6
                with torch.no_grad():
                    fake = gen.encode(f)
                train_d = not (
                    cfg.skip_rules and self.kind == "AAE" and ema_acc is not None and ema_acc > cfg.disc_skip_above
                )
                accs, dls = [], []
                for d, o in zip(discs, opt_d):
                    d.train()
                    # one batch of 2n (true targets first), so batch norm sees both classes (released code)
                    if train_d:
                        logits = d(torch.cat([e, fake]))
                        dl, acc = discriminator_loss(logits[:n], logits[n:])
                        o.zero_grad(set_to_none=True)
                        dl.backward()
                        o.step()
                    else:
                        with torch.no_grad():
                            logits = d(torch.cat([e, fake]))
                            dl, acc = discriminator_loss(logits[:n], logits[n:])
                    accs.append(acc)
                    dls.append(float(dl.detach()))
                ema_acc = accs[0] if ema_acc is None else cfg.ema * accs[0] + (1 - cfg.ema) * ema_acc
                lv = {k: float(v.detach()) for k, v in losses.items()}
                vals = {
                    "disc_acc": accs[0],
                    "disc_loss": dls[0],
                    "gen_total": lv["total"],
                    "recon": lv["recon"],
                    "adv": lv["adv"],
                    "cos": lv["cos"],
                    "adv_used": float(use_adv),
                    "disc_trained": float(train_d),
                }
                if len(discs) > 1:
                    vals["monitor_acc"] = accs[1]
                    vals["monitor_loss"] = dls[1]
                for k, v in vals.items():
                    window.setdefault(k, []).append(v)
                if cfg.log_every and (step % cfg.log_every == 0 or step == cfg.steps):
                    row = {"step": step, **{k: float(np.mean(v)) for k, v in window.items()}, "ema_disc_acc": ema_acc}
                    row.update(self._diagnostics(gen, Xs[probe_t], Yt))
                    rows.append(row)
                    window = {}
                    bar.set_postfix(acc=f"{row['disc_acc']:.2f}", cos=f"{row['mean_pairwise_cos']:.2f}")
        gen.eval()
        for d in discs:
            d.eval()
        self.generator_ = gen
        self.discriminators_ = discs
        self.history_ = pd.DataFrame(rows)
        return self

    def _generator_step(self, gen, disc, f, e, use_adv):
        raise NotImplementedError

    @torch.no_grad()
    def _diagnostics(self, gen, probe_x, Yt) -> dict[str, float]:
        gen.eval()
        z = gen.encode(probe_x)
        gen.train()
        return {
            "mean_pairwise_cos": mean_pairwise_cosine(z),
            "distinct_nn": distinct_nearest(z, Yt),
            "gen_norm": float(z.norm(dim=1).mean()),
        }

    def _check_fitted(self):
        if not hasattr(self, "generator_"):
            raise RuntimeError(f"{type(self).__name__}: call fit(X, Y, ...) before transform")

    @torch.no_grad()
    def transform(self, X, step: int | None = None) -> torch.Tensor:
        """Raw source vectors X (n, d_s) -> mapped vectors in the standardised target space (n, d_t), torch; with
        ``step``, by the generator as it was after that step (one of the ``checkpoints`` given to ``fit``)."""
        self._check_fitted()
        x = as_matrix(X, f"{type(self).__name__}.transform(X)", self.device)
        gen = self.generator_
        if step is not None:
            if int(step) not in self.checkpoints_:
                raise KeyError(f"no checkpoint at step {step}; kept: {sorted(self.checkpoints_)}")
            gen = copy.deepcopy(gen)
            gen.load_state_dict(self.checkpoints_[int(step)])
        gen.eval()
        return gen.encode((x - self.src_mean_) / self.src_std_)

    @torch.no_grad()
    def transform_target(self, Y) -> torch.Tensor:
        """Raw target vectors Y (m, d_t) -> standardised with the training statistics (m, d_t), torch."""
        self._check_fitted()
        y = as_matrix(Y, f"{type(self).__name__}.transform_target(Y)", self.device)
        return (y - self.tgt_mean_) / self.tgt_std_

    @torch.no_grad()
    def final_accuracies(self, X, Y, n: int = 4096, seed: int = 0) -> dict[str, float]:
        """Accuracy of each discriminator (eval mode) on n mapped source rows vs n target rows, both drawn
        uniformly over the vocabularies (so rare words weigh more than in training): a held-out check."""
        self._check_fitted()
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        xs = self.transform(X)
        yt = self.transform_target(Y)
        i = torch.randint(len(xs), (n,), generator=g).to(self.device)
        j = torch.randint(len(yt), (n,), generator=g).to(self.device)
        out = {}
        for name, d in zip(("train_disc", "monitor_disc"), self.discriminators_):
            d.eval()
            _, acc = discriminator_loss(d(yt[j]), d(xs[i]))
            out[name] = acc
        return out


class PlainGAN(_AdversarialMap):
    """The GAN of Barone sec. 2 (Fig. 1), steps 1-6: generator G: R^d -> R^d trained only to fool one
    discriminator, L_a = -mean log D(G(f)). Known to collapse to (near-)constant outputs.

    generator: ``"mlp"`` (released code: d -> 500 ReLU -> d) or ``"linear"`` (orthogonal init, as the AAE's
    encoder). No skip rules, no reconstruction, no cosine term.
    """

    kind = "GAN"

    def __init__(
        self,
        config: AAEConfig | None = None,
        seed: int = 0,
        device=None,
        generator: str = "mlp",
        progress: bool = True,
        **overrides,
    ):
        super().__init__(config, seed, device, progress, **overrides)
        if generator not in ("mlp", "linear"):
            raise ValueError(f"PlainGAN: generator must be 'mlp' or 'linear', got {generator!r}")
        self.generator_kind = generator

    def _build_generator(self, d_src, d_tgt):
        if self.generator_kind == "mlp":
            return MLPGenerator(d_src, d_tgt)
        return _LinearGenerator(d_src, d_tgt, seed=self.seed)

    def _generator_step(self, gen, disc, f, e, use_adv):
        z = gen.encode(f)
        return generator_loss(f, z, None, None, disc(z), lambda_r=0.0, lambda_a=1.0, lambda_c=0.0)


class AdversarialAutoencoder(_AdversarialMap):
    """Barone's adversarial autoencoder (sec. 2, Fig. 2, sec. 3).

    Tied linear encoder/decoder (:class:`TiedAutoencoder`, random orthogonal init) trained on L_GR
    (:func:`generator_loss`) against a ResNet discriminator; a second discriminator with the same structure and
    a different initialisation trains on the same samples but never sends gradients to the encoder: its
    accuracy (``history_["monitor_acc"]``) tells over- from under-fitting.

    >>> aae = AdversarialAutoencoder(AAEConfig(steps=2000), seed=0)          # doctest: +SKIP
    >>> aae.fit(X_en, Y_it, counts_src=en.counts, counts_tgt=it.counts)     # doctest: +SKIP
    >>> top = translate(aae.transform(X_en[:5]), aae.transform_target(Y_it), method="nn")  # doctest: +SKIP
    """

    kind = "AAE"

    def _build_generator(self, d_src, d_tgt):
        return TiedAutoencoder(d_src, d_tgt, seed=self.seed)

    def _n_discriminators(self):
        return 2

    def _generator_step(self, gen, disc, f, e, use_adv):
        cfg = self.config
        z, rec = gen(f)
        return generator_loss(f, z, rec, e, disc(z), cfg.lambda_r, cfg.lambda_a if use_adv else 0.0, cfg.lambda_c)

    @property
    def weight_(self) -> torch.Tensor:
        """The learned map W (d_t, d_s) (in standardised coordinates)."""
        self._check_fitted()
        return self.generator_.weight.detach()


# ==============================================================================================================
# MUSE's adversarial map (Conneau et al. 2018, "Word translation without parallel data"), issue 18
# ==============================================================================================================
# Beyond Barone: MUSE's recipe. An orthogonal map W (d, d) trained by plain SGD against an MLP discriminator, with
# MUSE's orthogonalisation update after every map step, label smoothing, several discriminator steps per map step,
# inputs centred (not standardised), and model selection by an unsupervised criterion (the mean cosine of CSLS
# translations of the most frequent source words). Written from the paper's description and from reading MUSE's
# trainer (no code copied).
#
# What made it work on the chapter's 10-d control (synthetic_pair(3000, 10, 20); measured on one CPU thread):
# MUSE's own default beta = 0.001 lets W drift far from orthogonal (||W W^T - I||_F ~ 2) and, with MUSE's learning
# rate decay applied every few hundred steps, it found the rotation from 0 of 13 starts; with beta = 0.01 (the
# issue's value) and a constant rate (MUSE decays once per epoch of 31,250 steps, longer than our runs) W still
# leaves the orthogonal group for long stretches (||W W^T - I||_F ~ 1.5, one singular value near 0, the
# discriminator at ~0.85 accuracy), then at some point snaps onto the rotation within a few hundred steps
# (accuracy 0.5, ||W W^T - I||_F ~ 0.05). When that happens is random: with 32 hidden units about 1 start in 16
# had found it after 2,500 steps, 6 in 16 after 6,000 and about half after 8,000 (chapter 05's control (a): 20 of
# 40 starts, 5 of 5 seeds); wider discriminators (64-512 units) did not do clearly better per step of CPU time,
# nor did other learning rates, batch sizes, label smoothing, input dropout, fewer discriminator steps or instance
# noise (tried and dropped). Because W leaves the group, a start of det -1 can end at det +1 (half of the det -1
# starts did in (a)).
# The unsupervised criterion separates the starts that found it (~0.9999) from the others (<= ~0.92), so
# ``n_starts`` random starts per orientation, batched along a leading dimension with independent discriminators,
# are chosen among without labels.
#
# An orthogonal map cannot change its determinant's sign, so a start of the wrong orientation cannot reach the
# true map along the orthogonal group: ``fit(..., orientations="both")`` trains each random start (det +1) and
# its reflection (det -1) side by side and keeps the start with the best unsupervised criterion.
#
# Ablation switches (the AAE's choices, swapped one at a time into this recipe by the chapter): ``standardize``
# (per-dimension standardisation instead of centring), ``map_optimizer="adam"`` (with ``map_lr=1e-3``) and
# ``discriminator="resnet"`` (Barone's ResNet discriminator, trained by Adam, ``dis_lr=1e-2``).

__all__ += [
    "MuseConfig",
    "MuseAdversarialMap",
    "unsupervised_criterion",
    "orthogonalize_step",
    "seed_streams",
    "BatchedMLPDiscriminator",
    "BatchedResNetDiscriminator",
]


def _csls_top1(Zq: torch.Tensor, T: torch.Tensor, k: int, block: int = 2048) -> torch.Tensor:
    """CSLS translation (q,) of each row of Zq (q, d) among the rows of T (m, d): argmax_y 2 cos(x, y) - r_S(y),
    r_S(y) the mean cosine of y's k nearest rows of Zq (r_T(x) is constant per query and drops out)."""
    Zn, Tn = F.normalize(Zq, dim=1, eps=1e-12), F.normalize(T, dim=1, eps=1e-12)
    kk = min(int(k), Zn.shape[0])
    r_s = torch.cat([(Tn[s : s + block] @ Zn.T).topk(kk, dim=1).values.mean(1) for s in range(0, len(Tn), block)])
    best = torch.cat([(2 * (Zn[s : s + block] @ Tn.T) - r_s).argmax(1) for s in range(0, len(Zn), block)])
    return best


def unsupervised_criterion(
    mapped, target, n_words: int = 10000, k: int = 10, n_target: int | None = None, device=None
) -> float:
    """MUSE's unsupervised model-selection criterion: the mean cosine similarity between each of the first
    ``n_words`` rows of ``mapped`` (the most frequent source words; rows in frequency order) and its CSLS
    translation among the first ``n_target`` rows of ``target`` (default ``n_words``: MUSE restricts both sides
    to its 10,000 most frequent words). No bilingual signal is used.

    mapped: (n, d) mapped source vectors; target: (m, d) target vectors; k: the CSLS neighbourhood (MUSE: 10).
    CSLS's r_S(y) is taken over the ``n_words`` queries. (MUSE's ``dist_mean_cosine`` additionally builds its
    dictionary in both directions; here the source-to-target direction only.) Returns a Python float in [-1, 1].
    """
    dev = resolve_device(device) if device is not None else None
    Z = as_matrix(mapped, "unsupervised_criterion(mapped)", dev)
    T = as_matrix(target, "unsupervised_criterion(target)", Z.device)
    if Z.shape[1] != T.shape[1]:
        raise ValueError(f"unsupervised_criterion: mapped has dimension {Z.shape[1]}, target {T.shape[1]}")
    if int(n_words) < 1 or (n_target is not None and int(n_target) < 1):
        raise ValueError(f"unsupervised_criterion: n_words and n_target must be >= 1, got {n_words}, {n_target}")
    Zq = Z[: int(n_words)]
    Tq = T[: int(n_words if n_target is None else n_target)]
    best = Tq[_csls_top1(Zq, Tq, k)]
    return float(F.cosine_similarity(Zq, best, dim=1, eps=1e-12).mean())


def orthogonalize_step(W: torch.Tensor, beta: float = 0.01) -> torch.Tensor:
    """MUSE's orthogonalisation update, ``W <- (1 + beta) W - beta (W W^T) W``, for W (..., d, d) (batched over
    leading dimensions). One step moves every singular value s of W to (1 + beta) s - beta s^3, a fixed-point
    iteration towards s = 1 (an orthogonal W is a fixed point). Returns a new tensor."""
    return (1.0 + beta) * W - beta * (W @ W.transpose(-1, -2) @ W)


def seed_streams(
    seed: int, names: Sequence[str] = ("start", "discriminator", "batches", "dropout"), device=None
) -> dict[str, torch.Generator]:
    """Independent ``torch.Generator`` streams derived from one ``seed`` with ``numpy.random.SeedSequence(seed)
    .spawn``: one generator per name (by default the map's random start, the discriminator's initialisation, the
    word batches, the dropout masks). Each child's 64-bit state seeds its generator; none equals ``seed`` itself,
    so the start is unrelated to ``random_orthogonal(d, seed=seed)`` and to any stream the data are drawn from.
    The start generator lives on the CPU (``random_orthogonal`` draws there), the others on ``device``."""
    dev = resolve_device(device) if device is not None else torch.device("cpu")
    children = np.random.SeedSequence(int(seed)).spawn(len(names))
    out = {}
    for name, child in zip(names, children):
        g = torch.Generator(device="cpu" if name == "start" else dev)
        g.manual_seed(int(child.generate_state(1, dtype=np.uint64)[0]))
        out[name] = g
    return out


class BatchedMLPDiscriminator(nn.Module):
    """B independent MLP discriminators held as one module (batched matrix products), MUSE's architecture:

    x (B, n, d) -> input dropout -> [Linear(., h) -> LeakyReLU(slope) -> dropout] x layers -> Linear(h, 1)
    -> logits (B, n). Model b only ever sees slice b, so training the B models with a summed loss is B separate
    trainings. Weights and biases start U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch's ``nn.Linear`` default),
    drawn from ``generator``; dropout masks are drawn from the generator passed to ``forward`` (never the
    global RNG). Parameters: ``weights[i]`` (B, fan_in, fan_out), ``biases[i]`` (B, 1, fan_out).
    """

    def __init__(
        self,
        n_models: int,
        d_in: int,
        hidden: int = 512,
        layers: int = 2,
        negative_slope: float = 0.2,
        generator: torch.Generator | None = None,
        device=None,
    ):
        super().__init__()
        if n_models < 1 or d_in < 1 or hidden < 1 or layers < 0:
            raise ValueError(
                f"BatchedMLPDiscriminator: need n_models, d_in, hidden >= 1 and layers >= 0, got "
                f"{n_models}, {d_in}, {hidden}, {layers}"
            )
        dev = resolve_device(device) if device is not None else torch.device("cpu")
        if generator is None:
            generator = torch.Generator(device=dev).manual_seed(0)
        sizes = [d_in] + [hidden] * layers + [1]
        self.negative_slope = negative_slope
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / np.sqrt(fan_in)
            w = (torch.rand(n_models, fan_in, fan_out, generator=generator, device=generator.device) * 2 - 1) * bound
            b = (torch.rand(n_models, 1, fan_out, generator=generator, device=generator.device) * 2 - 1) * bound
            self.weights.append(nn.Parameter(w.to(dev)))
            self.biases.append(nn.Parameter(b.to(dev)))

    @staticmethod
    def _dropout_mask(h: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor | None:
        """Inverted-dropout mask of ``h``'s shape (kept entries 1 / (1 - p), dropped 0), or None if no dropout."""
        if p <= 0 or generator is None:
            return None
        keep = torch.rand(h.shape, generator=generator, device=generator.device).to(h.device) >= p
        return keep.to(h.dtype) / (1.0 - p)

    @classmethod
    def _dropout(cls, h: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
        m = cls._dropout_mask(h, p, generator)
        return h if m is None else h * m

    def forward(
        self,
        x: torch.Tensor,
        input_dropout: float = 0.0,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Logits (B, n) that x (B, n, d) is a mapped source sample. Dropout only when ``generator`` is given
        (training); inverted dropout (kept units scaled by 1 / (1 - p))."""
        h = self._dropout(x, input_dropout, generator)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = self._dropout(F.leaky_relu(h, self.negative_slope), dropout, generator)
        return h.squeeze(-1)

    @torch.no_grad()
    def bce_grads(
        self,
        x: torch.Tensor,
        labels: torch.Tensor,
        input_dropout: float = 0.0,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
        params: bool = True,
        inputs: bool = False,
    ):
        """Binary cross-entropy of the logits against soft ``labels`` and its gradients, by hand (the chain rule
        through the layers; no autograd graph: several times faster for these small matrices, and checked against
        autograd in the tests).

        x: (B, n, d); labels: (B, n) in [0, 1]. The loss is the sum over the B models of each model's mean over
        its n rows (so model b's gradients are those of its own mean loss). Dropout as in :meth:`forward` (same
        random draws in the same order). Returns ``(loss_per_model (B,), logits (B, n), param_grads, input_grad)``:
        param_grads a list matching ``list(self.parameters())`` (weights then biases) or None unless ``params``;
        input_grad (B, n, d) or None unless ``inputs``.
        """
        slope = self.negative_slope
        weights, biases = list(self.weights), list(self.biases)
        masks, acts, pres = [], [], []
        h = x
        m = self._dropout_mask(h, input_dropout, generator)
        h = h if m is None else h * m
        masks.append(m)
        last = len(weights) - 1
        for i, (w, b) in enumerate(zip(weights, biases)):
            acts.append(h)
            z = torch.baddbmm(b, h, w)
            if i < last:
                pres.append(z)
                h = F.leaky_relu(z, slope)
                m = self._dropout_mask(h, dropout, generator)
                h = h if m is None else h * m
                masks.append(m)
            else:
                h = z
        logits = h.squeeze(-1)
        n = logits.shape[1]
        loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1)
        g = ((torch.sigmoid(logits) - labels) / n).unsqueeze(-1)  # dL/dlogits (B, n, 1)
        gw: list = [None] * len(weights)
        gb: list = [None] * len(weights)
        for i in range(last, -1, -1):
            if params:
                gw[i] = acts[i].transpose(1, 2) @ g
                gb[i] = g.sum(1, keepdim=True)
            if i == 0 and not inputs:
                break
            g = g @ weights[i].transpose(1, 2)
            if i > 0:
                if masks[i] is not None:
                    g = g * masks[i]
                g = torch.ops.aten.leaky_relu_backward(g, pres[i - 1], slope, False)  # fast on the CPU
        input_grad = None
        if inputs:
            input_grad = g * masks[0] if masks[0] is not None else g
        return loss, logits, (gw + gb if params else None), input_grad


class _HandOptimizer:
    """Plain SGD or Adam (Kingma and Ba 2015, torch's defaults betas (0.9, 0.999), eps 1e-8) on a list of tensors
    updated in place, element-wise, so a batch of B models along a leading dimension trains as B separate ones.
    ``step(params, grads, lr)``: lr a float or a (B,) tensor (one rate per model, broadcast on the leading dim)."""

    def __init__(self, kind: str, params: Sequence[torch.Tensor]):
        if kind not in ("sgd", "adam"):
            raise ValueError(f"optimiser must be 'sgd' or 'adam', got {kind!r}")
        self.kind = kind
        self.t = 0
        if kind == "adam":
            self.m = [torch.zeros_like(p) for p in params]
            self.v = [torch.zeros_like(p) for p in params]

    @staticmethod
    def _rate(lr, p: torch.Tensor):
        return lr.view(-1, *([1] * (p.dim() - 1))) if isinstance(lr, torch.Tensor) else lr

    def step(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], lr) -> None:
        self.t += 1
        if self.kind == "sgd":
            if not isinstance(lr, torch.Tensor):
                torch._foreach_add_(list(params), list(grads), alpha=-float(lr))  # one call: less overhead
                return
            for p, g in zip(params, grads):
                p.sub_(self._rate(lr, p) * g)
            return
        b1, b2, eps = 0.9, 0.999, 1e-8
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.sub_(self._rate(lr, p) * (m / c1) / ((v / c2).sqrt() + eps))


class _MLPBank:
    """B MLP discriminators (:class:`BatchedMLPDiscriminator`) with hand-written gradients and optimiser."""

    def __init__(self, B: int, d: int, cfg, g_init, g_drop, device):
        self.cfg, self.g_drop = cfg, g_drop
        self.module = BatchedMLPDiscriminator(
            B, d, cfg.hidden, cfg.dis_layers, cfg.negative_slope, generator=g_init, device=device
        )
        self.params = [p.data for p in self.module.parameters()]
        self.opt = _HandOptimizer(cfg.dis_optimizer, self.params)

    def train_step(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One update on x (B, n, d) with soft labels (B, n) (1 - smooth = mapped source); returns logits (B, n)."""
        c = self.cfg
        _, logits, grads, _ = self.module.bce_grads(x, labels, c.dis_input_dropout, c.dis_dropout, self.g_drop)
        self.opt.step(self.params, grads, c.dis_lr)
        return logits

    def input_grad(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """d(mean BCE)/dx (B, n, d), no dropout (MUSE: the discriminator in eval mode for the map step)."""
        return self.module.bce_grads(x, labels, params=False, inputs=True)[3]


class BatchedResNetDiscriminator(nn.Module):
    """B independent copies of Barone's :class:`ResNetDiscriminator` as one module (batched products), for the
    chapter's ablation: x (B, n, d) -> [tanh] -> Linear(d, k, no bias) -> batch norm -> leaky ReLU -> T x
    [dropout -> Linear(k, k, no bias) -> batch norm -> leaky ReLU, + residual] -> dropout -> Linear(k, 1) ->
    logits (B, n). Batch norm normalises each model's n rows with their own statistics in training (biased
    variance) and keeps running statistics (momentum 0.1, unbiased variance, eps 1e-5) for evaluation, as
    ``nn.BatchNorm1d``. Linear weights start as in :class:`ResNetDiscriminator` (Xavier uniform with the leaky ReLU
    gain; the output layer U(-1/sqrt(k), 1/sqrt(k))), drawn from ``generator``; dropout masks from the generator
    given to ``forward``. Trained by autograd (model b's parameters only ever see slice b)."""

    def __init__(
        self,
        n_models: int,
        d_in: int,
        width: int = 40,
        depth: int = 4,
        dropout: float = 0.3,
        out_dropout: float = 0.1,
        negative_slope: float = 0.01,
        squash_input: bool = True,
        generator: torch.Generator | None = None,
        device=None,
    ):
        super().__init__()
        dev = resolve_device(device) if device is not None else torch.device("cpu")
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        gain = nn.init.calculate_gain("leaky_relu", negative_slope)

        def xavier(fan_in, fan_out):
            bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
            return nn.Parameter(
                ((torch.rand(n_models, fan_in, fan_out, generator=g, device=g.device) * 2 - 1) * bound).to(dev)
            )

        self.weights = nn.ParameterList([xavier(d_in, width)] + [xavier(width, width) for _ in range(depth)])
        self.bn_weight = nn.Parameter(torch.ones(depth + 1, n_models, 1, width, device=dev))
        self.bn_bias = nn.Parameter(torch.zeros(depth + 1, n_models, 1, width, device=dev))
        self.register_buffer("running_mean", torch.zeros(depth + 1, n_models, 1, width, device=dev))
        self.register_buffer("running_var", torch.ones(depth + 1, n_models, 1, width, device=dev))
        b = 1.0 / np.sqrt(width)
        self.out_w = nn.Parameter(((torch.rand(n_models, width, 1, generator=g, device=g.device) * 2 - 1) * b).to(dev))
        self.out_b = nn.Parameter(((torch.rand(n_models, 1, 1, generator=g, device=g.device) * 2 - 1) * b).to(dev))
        self.dropout, self.out_dropout = dropout, out_dropout
        self.negative_slope, self.squash_input = negative_slope, squash_input

    def _bn(self, z: torch.Tensor, i: int, train: bool) -> torch.Tensor:
        """Batch norm of z (B, n, k) per model and unit: ``F.batch_norm`` on the (1, B k, n) view, so each of the
        B k channels has its own statistics over the n rows (one fused call, with its running statistics)."""
        B, n, k = z.shape
        flat = z.transpose(1, 2).reshape(1, B * k, n)
        out = F.batch_norm(
            flat,
            self.running_mean[i].view(-1),
            self.running_var[i].view(-1),
            self.bn_weight[i].reshape(-1),
            self.bn_bias[i].reshape(-1),
            training=train,
            momentum=0.1,
            eps=1e-5,
        )
        return out.reshape(B, k, n).transpose(1, 2)

    def forward(self, x: torch.Tensor, train: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (B, n) for x (B, n, d); dropout only in training with a ``generator``."""
        drop = BatchedMLPDiscriminator._dropout
        h = torch.tanh(x) if self.squash_input else x
        h = F.leaky_relu(self._bn(h @ self.weights[0], 0, train), self.negative_slope)
        for i, w in enumerate(self.weights[1:], start=1):
            z = drop(h, self.dropout, generator) if train else h
            h = F.leaky_relu(self._bn(z @ w, i, train), self.negative_slope) + h
        h = drop(h, self.out_dropout, generator) if train else h
        return torch.baddbmm(self.out_b, h, self.out_w).squeeze(-1)


class _ResNetBank:
    """B ResNet discriminators (:class:`BatchedResNetDiscriminator`, Barone's, as the AAE configures it: width
    40, depth 4, dropout 0.3 / 0.1, tanh on the input) trained by autograd with torch's optimiser; batch norm sees
    each model's 2n rows (both classes) in training and its running statistics in the map step."""

    def __init__(self, B: int, d: int, cfg, g_init, g_drop, device):
        self.cfg, self.g_drop = cfg, g_drop
        self.module = BatchedResNetDiscriminator(
            B, d, cfg.resnet_width, cfg.resnet_depth, generator=g_init, device=device
        )
        opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[cfg.dis_optimizer]
        self.opt = opt(self.module.parameters(), lr=cfg.dis_lr, foreach=True)

    def train_step(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            logits = self.module(x, train=True, generator=self.g_drop)
            # the sum over models of each model's mean loss: model b's gradients are its own
            loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1).sum()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        return logits.detach()

    def input_grad(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            xb = x.detach().requires_grad_(True)
            loss = F.binary_cross_entropy_with_logits(self.module(xb), labels, reduction="none").mean(1).sum()
            return torch.autograd.grad(loss, xb)[0]


@dataclass
class MuseConfig:
    """Hyper-parameters of :class:`MuseAdversarialMap` (MUSE's defaults unless stated).

    steps: map updates (MUSE: 5 epochs x 31,250 iterations; far fewer here); batch_size: words per side per step
    (32); dis_steps: discriminator updates per map update (5); hidden, dis_layers: width (MUSE 2,048; narrower
    here, the chapter states its width) and number of hidden layers (2) of the MLP discriminator;
    dis_dropout / dis_input_dropout: dropout after each hidden layer (0) and on its input (0.1); negative_slope:
    leaky ReLU (0.2); smooth: label smoothing (0.1: mapped source labelled 0.9, target 0.1 for the discriminator,
    the reverse for the map); map_lr, dis_lr: learning rates (0.1, plain SGD); orth_beta: beta of
    :func:`orthogonalize_step` after every map update (0.01 as in the issue; MUSE's default 0.001 lets W drift
    far from orthogonal; 0: none); most_frequent: the discriminator samples words uniformly among this many most
    frequent rows of each side (MUSE 75,000; None: all rows); eval_every: map updates between two evaluations
    of the unsupervised criterion (step 0 and the last step are always evaluated); n_select: most frequent words
    of each side the criterion reads (MUSE 10,000; each evaluation costs O(n_select^2 d) per start); csls_k:
    CSLS neighbourhood (10); lr_decay: map rate multiplied by this after every evaluation, lr_shrink: and by this
    when the criterion falls below the best so far (MUSE 0.98 and 0.5, once per epoch of 31,250 steps: our runs
    are shorter than one epoch, so 1 and 1); min_lr: floor of the map rate; n_starts: random starts per
    orientation (each its own discriminator; the criterion picks one). Ablation switches (the AAE's choices):
    standardize (per-dimension standardisation instead of centring), map_optimizer ("sgd" | "adam"),
    discriminator ("mlp" | "resnet": Barone's, ``resnet_width`` x ``resnet_depth``), dis_optimizer ("sgd" |
    "adam"). num_threads: torch CPU threads during ``fit`` (restored afterwards; None: leave).
    """

    steps: int = 3000
    batch_size: int = 32
    dis_steps: int = 5
    hidden: int = 512
    dis_layers: int = 2
    dis_dropout: float = 0.0
    dis_input_dropout: float = 0.1
    negative_slope: float = 0.2
    smooth: float = 0.1
    map_lr: float = 0.1
    dis_lr: float = 0.1
    orth_beta: float = 0.01
    most_frequent: int | None = 75000
    eval_every: int = 250
    n_select: int = 10000
    csls_k: int = 10
    lr_decay: float = 1.0
    lr_shrink: float = 1.0
    min_lr: float = 1e-6
    n_starts: int = 1
    standardize: bool = False
    map_optimizer: str = "sgd"
    discriminator: str = "mlp"
    dis_optimizer: str = "sgd"
    resnet_width: int = 40
    resnet_depth: int = 4
    num_threads: int | None = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_ORIENTATIONS = ("both", "positive", "negative", "init")


class MuseAdversarialMap:
    """An orthogonal map learned adversarially with MUSE's recipe (Conneau et al. 2018, sec. 2.1 and 3.1).

    ``fit(X, Y)`` centres X (n, d) and Y (m, d) (no scaling unless ``standardize``), then alternates ``dis_steps``
    discriminator updates (mapped source vs target, label smoothing) with one map update (fool the discriminator;
    SGD, then :func:`orthogonalize_step`); every ``eval_every`` steps it computes :func:`unsupervised_criterion`
    for every start and keeps each start's best checkpoint. B = ``n_starts`` (x 2 with ``orientations="both"``)
    starts train side by side along a leading dimension, each against its own discriminator. Randomness comes
    from :func:`seed_streams` (starts, discriminator initialisation, batches, dropout: independent streams of
    ``seed``); the global RNG is neither used nor changed.

    Convention: ``transform(X) = ((X - mean_X) / s_X) @ W^T`` (s = 1 unless ``standardize``) with W =
    ``weight_`` (d, d), so a planted target ``Y = X @ Q^T`` is solved by W = Q.

    Fitted attributes (B starts): ``starts_`` (B, d, d) and ``start_signs_`` (B,) the sign of det at the start;
    ``candidates_`` (B, d, d) each start's best checkpoint, ``criteria_`` (B,) its criterion, ``best_step_`` (B,)
    its step; ``final_`` (B, d, d) after the last step; ``chosen_`` the start with the best criterion;
    ``weight_`` its checkpoint; ``criterion_`` its criterion; ``orientation_`` the sign of det(``weight_``);
    ``orientations_`` {start sign: best criterion among its starts}; ``history_`` a DataFrame with one row per
    evaluation and start: step, start, orientation (start sign), criterion, dis_acc (training accuracy of the
    discriminator on the last of its batches of each step, averaged since the previous row), map_lr, orth_error
    (||W W^T - I||_F), det_sign (now).

    >>> m = MuseAdversarialMap(MuseConfig(steps=3000), seed=0).fit(X, Y)       # doctest: +SKIP
    >>> top = translate(m.transform(X), m.transform_target(Y), method="csls")  # doctest: +SKIP
    """

    def __init__(
        self, config: MuseConfig | None = None, seed: int = 0, device=None, progress: bool = False, **overrides
    ):
        cfg = config if config is not None else MuseConfig()
        if overrides:
            bad = set(overrides) - set(MuseConfig.__dataclass_fields__)
            if bad:
                raise TypeError(f"unknown MuseConfig fields: {sorted(bad)}")
            cfg = MuseConfig(**{**cfg.to_dict(), **overrides})
        for name in ("steps", "batch_size", "dis_steps", "hidden", "eval_every", "n_select", "csls_k", "n_starts"):
            if int(getattr(cfg, name)) < 1:
                raise ValueError(f"MuseConfig.{name} must be >= 1, got {getattr(cfg, name)}")
        for name, allowed in (
            ("map_optimizer", ("sgd", "adam")),
            ("dis_optimizer", ("sgd", "adam")),
            ("discriminator", ("mlp", "resnet")),
        ):
            if getattr(cfg, name) not in allowed:
                raise ValueError(f"MuseConfig.{name} must be one of {allowed}, got {getattr(cfg, name)!r}")
        self.config = cfg
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.progress = progress

    # -- starts ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _reflect(W: torch.Tensor) -> torch.Tensor:
        """W with its first column negated: det changes sign (x -> x W^T composed with a reflection of x_1)."""
        R = W.clone()
        R[:, 0] = -R[:, 0]
        return R

    def start(self, d: int, init=None, orientations: str = "both") -> tuple[torch.Tensor, list[int]]:
        """The starting maps that ``fit`` would use: ``(W0 (B, d, d), signs (B,))``. Random starts (default) are
        ``n_starts`` Haar-random orthogonal matrices from the ``start`` stream of ``seed``, each reflected if
        needed (first column negated) to det +1 (``"positive"``), det -1 (``"negative"``) or both
        (``"both"``: the det +1 starts, then their reflections). ``init`` (d, d) or (B, d, d): those matrices
        instead of the random draws; ``orientations="init"`` keeps them as given."""
        if orientations not in _ORIENTATIONS:
            raise ValueError(f"orientations must be one of {_ORIENTATIONS}, got {orientations!r}")
        if init is None:
            if orientations == "init":
                raise ValueError("orientations='init' needs init=")
            g = seed_streams(self.seed)["start"]
            draws = [random_orthogonal(d, generator=g) for _ in range(self.config.n_starts)]
        else:
            W0 = torch.as_tensor(np.asarray(init) if not isinstance(init, torch.Tensor) else init).float().cpu()
            W0 = W0[None] if W0.dim() == 2 else W0
            if W0.dim() != 3 or tuple(W0.shape[1:]) != (d, d) or not torch.isfinite(W0).all():
                raise ValueError(f"fit(init=): shape {tuple(W0.shape)}, expected ({d}, {d}) or (B, {d}, {d}), finite")
            draws = list(W0)
        if orientations == "init":
            return torch.stack(draws).clone(), [1 if float(torch.linalg.det(W.double())) >= 0 else -1 for W in draws]
        pos = [W if float(torch.linalg.det(W.double())) >= 0 else self._reflect(W) for W in draws]
        neg = [self._reflect(W) for W in pos]
        chosen = {"both": pos + neg, "positive": pos, "negative": neg}[orientations]
        signs = {"both": [1] * len(pos) + [-1] * len(neg), "positive": [1] * len(pos), "negative": [-1] * len(neg)}
        return torch.stack(chosen), signs[orientations]

    # -- training -------------------------------------------------------------------------------------------------
    def fit(self, X, Y, init=None, orientations: str = "both"):
        """Train without any bilingual signal. X: (n, d) source rows, Y: (m, d) target rows, both in frequency
        order (the discriminator samples among the ``most_frequent`` first rows; the criterion reads the
        ``n_select`` first rows). init: optional (d, d) start (working coordinates, x -> x W^T); orientations: see
        :meth:`start` (default ``"both"``). Returns self."""
        prev_threads = torch.get_num_threads()
        if self.config.num_threads:
            torch.set_num_threads(int(self.config.num_threads))
        try:
            return self._fit(X, Y, init, orientations)
        finally:
            torch.set_num_threads(prev_threads)

    def _prepare(self, X, Y):
        cfg, dev = self.config, self.device
        Xt = as_matrix(X, "MuseAdversarialMap.fit(X)", dev, min_rows=2)
        Yt = as_matrix(Y, "MuseAdversarialMap.fit(Y)", dev, min_rows=2)
        if Xt.shape[1] != Yt.shape[1]:
            raise ValueError(
                f"MuseAdversarialMap.fit: X has dimension {Xt.shape[1]}, Y {Yt.shape[1]}; an "
                "orthogonal map needs equal dimensions (reduce one side first, e.g. pca_reduce)"
            )
        if cfg.standardize:
            Xc, self.src_mean_, self.src_scale_ = standardize(Xt, device=dev)
            Yc, self.tgt_mean_, self.tgt_scale_ = standardize(Yt, device=dev)
        else:
            self.src_mean_, self.tgt_mean_ = Xt.mean(0), Yt.mean(0)
            self.src_scale_ = torch.ones(Xt.shape[1], device=dev)
            self.tgt_scale_ = torch.ones(Yt.shape[1], device=dev)
            Xc, Yc = Xt - self.src_mean_, Yt - self.tgt_mean_
        return Xc, Yc

    def _fit(self, X, Y, init, orientations):
        cfg, dev = self.config, self.device
        Xc, Yc = self._prepare(X, Y)
        d = Xc.shape[1]
        W0, signs = self.start(d, init, orientations)
        B, bs = len(signs), cfg.batch_size
        streams = seed_streams(self.seed, device=dev)
        g_batch = streams["batches"]
        pool_x = Xc.shape[0] if cfg.most_frequent is None else min(int(cfg.most_frequent), Xc.shape[0])
        pool_y = Yc.shape[0] if cfg.most_frequent is None else min(int(cfg.most_frequent), Yc.shape[0])
        bank_cls = _MLPBank if cfg.discriminator == "mlp" else _ResNetBank
        bank = bank_cls(B, d, cfg, streams["discriminator"], streams["dropout"], dev)

        W = W0.to(dev).clone()  # (B, d, d)
        map_opt = _HandOptimizer(cfg.map_optimizer, [W])
        # labels: mapped source first (1 - smooth), target second (smooth); the map is trained on 1 - labels
        y_dis = torch.cat([torch.full((bs,), 1.0 - cfg.smooth), torch.full((bs,), cfg.smooth)]).to(dev)
        y_dis = y_dis.expand(B, 2 * bs)
        y_map = 1.0 - y_dis
        is_src = torch.cat([torch.ones(bs, dtype=torch.bool), torch.zeros(bs, dtype=torch.bool)]).to(dev)
        map_lr = torch.full((B,), float(cfg.map_lr), device=dev)
        best = np.full(B, -np.inf)
        best_W = W.detach().cpu().clone()
        best_step = np.zeros(B, dtype=np.int64)
        rows: list[dict[str, Any]] = []
        acc_sum = torch.zeros(B, device=dev)
        acc_n = 0

        def evaluate(step):
            nonlocal acc_sum, acc_n
            with torch.no_grad():
                Wd = W.detach()
                orth = (Wd @ Wd.transpose(1, 2) - torch.eye(d, device=dev)).flatten(1).norm(dim=1)
                dets = torch.linalg.det(Wd.double()).sign()
                for b in range(B):
                    crit = unsupervised_criterion(Xc[: cfg.n_select] @ Wd[b].T, Yc, cfg.n_select, cfg.csls_k)
                    rows.append(
                        {
                            "step": step,
                            "start": b,
                            "orientation": signs[b],
                            "criterion": crit,
                            "dis_acc": float(acc_sum[b] / acc_n) if acc_n else float("nan"),
                            "map_lr": float(map_lr[b]),
                            "orth_error": float(orth[b]),
                            "det_sign": int(dets[b]),
                        }
                    )
                    if step > 0:  # MUSE's schedule: decay, and shrink below the best so far
                        map_lr[b] = max(cfg.min_lr, float(map_lr[b]) * cfg.lr_decay)
                        if cfg.lr_shrink < 1 and crit < best[b]:
                            map_lr[b] = max(cfg.min_lr, float(map_lr[b]) * cfg.lr_shrink)
                    if crit > best[b]:
                        best[b], best_W[b], best_step[b] = crit, Wd[b].cpu(), step
            acc_sum = torch.zeros(B, device=dev)
            acc_n = 0

        evaluate(0)
        bar = tqdm(
            range(1, cfg.steps + 1), desc=f"MUSE map (seed {self.seed})", disable=not self.progress, mininterval=1.0
        )
        for step in bar:
            with torch.no_grad():
                # W is fixed until the map update: draw and map every batch of this step at once
                shape = (cfg.dis_steps + 1, B, bs)
                ix = torch.randint(pool_x, shape, generator=g_batch, device=g_batch.device).to(dev)
                iy = torch.randint(pool_y, shape, generator=g_batch, device=g_batch.device).to(dev)
                xs_all, yt_all = Xc[ix], Yc[iy]  # (dis_steps + 1, B, bs, d)
                inp_all = torch.cat([xs_all @ W.transpose(1, 2).unsqueeze(0), yt_all], 2)  # (.., B, 2 bs, d)
                for j in range(cfg.dis_steps):  # discriminator: mapped source (1 - smooth) vs target
                    logits = bank.train_step(inp_all[j], y_dis)
                acc_sum += ((logits >= 0) == is_src).float().mean(1)  # the step's last discriminator batch
                acc_n += 1
                # map: fool the discriminator (labels flipped), no dropout (MUSE: discriminator in eval mode)
                g_in = bank.input_grad(inp_all[-1], y_map)
                gW = g_in[:, :bs].transpose(1, 2) @ xs_all[-1]  # dL/dW = sum_i dL/dz_i x_i^T, (B, d, d)
                map_opt.step([W], [gW], map_lr)
                if cfg.orth_beta:
                    W.copy_(orthogonalize_step(W, cfg.orth_beta))
            if step % cfg.eval_every == 0 or step == cfg.steps:
                evaluate(step)
        self.history_ = pd.DataFrame(rows)
        self.starts_ = W0.to(dev)
        self.start_signs_ = list(signs)
        self.candidates_ = best_W.to(dev)
        self.criteria_ = best
        self.best_step_ = best_step
        self.final_ = W.detach().clone()
        self.chosen_ = int(np.argmax(best))
        self.orientations_ = {s: float(max(best[b] for b in range(B) if signs[b] == s)) for s in set(signs)}
        self.criterion_ = float(best[self.chosen_])
        self._weight = self.candidates_[self.chosen_]
        self.orientation_ = 1 if float(torch.linalg.det(self._weight.double())) >= 0 else -1
        self.discriminator_ = bank
        return self

    # -- inference -------------------------------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "_weight"):
            raise RuntimeError(f"{type(self).__name__}: call fit(X, Y) before using the map")

    @property
    def weight_(self) -> torch.Tensor:
        """The chosen map W (d, d) (best checkpoint of the best start): x -> ((x - mean_X) / s_X) W^T."""
        self._check_fitted()
        return self._weight

    def source_space(self, X) -> torch.Tensor:
        """Raw source vectors X (n, d) in the working coordinates (centred, standardised if so configured)."""
        self._check_fitted()
        x = as_matrix(X, f"{type(self).__name__}.source_space(X)", self.device)
        return (x - self.src_mean_) / self.src_scale_

    @torch.no_grad()
    def transform(self, X, start: int | None = None) -> torch.Tensor:
        """Raw source vectors X (n, d) -> mapped vectors (n, d), torch: by the chosen map, or by start ``start``'s
        best checkpoint."""
        W = self.weight_ if start is None else self.candidates_[int(start)]
        return self.source_space(X) @ W.T

    @torch.no_grad()
    def transform_target(self, Y) -> torch.Tensor:
        """Raw target vectors Y (m, d) -> the working coordinates (m, d), torch."""
        self._check_fitted()
        y = as_matrix(Y, f"{type(self).__name__}.transform_target(Y)", self.device)
        return (y - self.tgt_mean_) / self.tgt_scale_
