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
    def fit(self, X, Y, counts_src=None, counts_tgt=None, probe: Sequence[int] | None = None, init=None):
        """Train without any bilingual signal.

        X: (n_s, d_s) raw source embeddings, Y: (n_t, d_t) raw target embeddings (both standardised here per
        dimension); counts_src (n_s,), counts_tgt (n_t,): corpus counts for frequency sampling (``None``: Zipf
        pseudo-counts by row order, see :func:`zipf_counts`); probe: source rows for the collapse diagnostics
        (default: the ``n_probe`` first rows, i.e. the most frequent words); init: optional (d_t, d_s) starting
        matrix of a linear generator / the encoder, in standardised coordinates (default: random orthogonal; used
        by the sanity check that starts at the true map). Returns self; ``history_`` holds a DataFrame with one
        row per ``log_every`` steps.
        """
        prev_threads = torch.get_num_threads()
        if self.config.num_threads:
            torch.set_num_threads(int(self.config.num_threads))
        try:
            return self._fit(X, Y, counts_src, counts_tgt, probe, init)
        finally:
            torch.set_num_threads(prev_threads)

    def _fit(self, X, Y, counts_src, counts_tgt, probe, init):
        cfg, dev = self.config, self.device
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
    def transform(self, X) -> torch.Tensor:
        """Raw source vectors X (n, d_s) -> mapped vectors in the standardised target space (n, d_t), torch."""
        self._check_fitted()
        x = as_matrix(X, f"{type(self).__name__}.transform(X)", self.device)
        self.generator_.eval()
        return self.generator_.encode((x - self.src_mean_) / self.src_std_)

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
# translations of the most frequent source words). Written from the paper's description and the summary
# of MUSE's defaults (no code copied).
#
# Measured here (CPU, one thread): on a whitened 2-D skewed cloud (tests/test_adversarial_map.py: 500 points,
# 64 hidden units, 1,200 map steps, no learning-rate decay) the map finds a planted rotation from random starts
# of the right orientation for 8 of 10 seeds (||W - Q||_F <= 0.033; the other two stop at wrong angles, local
# optima of the game even in 2-D). In 2-D the criterion barely separates good from bad maps (mean cosines all
# above 0.9999), so the checkpoint it picks can be worse than the last one. On the chapter's planted pair
# (``synthetic_pair(3000, 10, 20)``) it did not in these runs: 0 of 10 seeds with 64 hidden units and 2,000
# steps (one seed reached P@1 0.47), 0 of 3 with 512 units and 3,000 steps; W drifts far from orthogonal
# (||W W^T - I||_F ~ 2 with beta = 0.001) while the discriminator keeps ~0.85 accuracy; with beta = 0.1, W
# stays orthogonal but stops at wrong rotations. An independent plain-PyTorch loop of the same recipe behaved
# the same way.
#
# An orthogonal map cannot change its determinant's sign, so a random start of the wrong orientation can never
# reach the true rotation: ``fit(..., orientations="both")`` trains from a det +1 start and from its reflection
# (det -1), batched along a leading dimension (one (2, d, d) map, two independent discriminators held as one
# batched module), and keeps the orientation with the better unsupervised criterion.

__all__ += [
    "MuseConfig",
    "MuseAdversarialMap",
    "unsupervised_criterion",
    "orthogonalize_step",
    "seed_streams",
    "BatchedMLPDiscriminator",
]


def unsupervised_criterion(
    mapped, target, n_words: int = 10000, k: int = 10, batch_size: int | None = None, device=None
) -> float:
    """MUSE's unsupervised model-selection criterion: the mean cosine similarity between each of the first
    ``n_words`` rows of ``mapped`` (the most frequent source words, rows in frequency order) and its CSLS
    translation among the rows of ``target``. No bilingual signal is used.

    mapped: (n, d) mapped source vectors; target: (m, d) target vectors; k: the CSLS neighbourhood (MUSE: 10).
    CSLS's source-side term r_S(y) is taken over all n mapped rows (``translate(..., src_ref=mapped)``), as MUSE
    does; the target-side term r_T(x) is constant per query and does not change the translation.
    (MUSE's ``dist_mean_cosine`` additionally keeps, of the 15,000 most frequent words, the 10,000 with the most
    confident translations; here simply the first ``n_words``.) Returns a Python float in [-1, 1].
    """
    dev = resolve_device(device) if device is not None else None
    Z = as_matrix(mapped, "unsupervised_criterion(mapped)", dev)
    T = as_matrix(target, "unsupervised_criterion(target)", Z.device)
    if Z.shape[1] != T.shape[1]:
        raise ValueError(f"unsupervised_criterion: mapped has dimension {Z.shape[1]}, target {T.shape[1]}")
    if int(n_words) < 1:
        raise ValueError(f"unsupervised_criterion: n_words must be >= 1, got {n_words}")
    q = min(int(n_words), Z.shape[0])
    Zq = Z[:q]
    src_ref = Z if q < Z.shape[0] else None  # None: the queries are the whole mapped vocabulary
    top = torch.as_tensor(translate(Zq, T, method="csls", k=k, topk=1, batch_size=batch_size, src_ref=src_ref))
    best = T[top[:, 0].to(T.device)]
    return float(F.cosine_similarity(Zq, best, dim=1, eps=1e-12).mean())


def orthogonalize_step(W: torch.Tensor, beta: float = 0.001) -> torch.Tensor:
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
    so the start is unrelated to ``random_orthogonal(d, seed=seed)`` and ``seed + 1`` (the chapter's planted Q).
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
                g = torch.where(pres[i - 1] > 0, g, g * slope)
        input_grad = None
        if inputs:
            input_grad = g * masks[0] if masks[0] is not None else g
        return loss, logits, (gw + gb if params else None), input_grad


@dataclass
class MuseConfig:
    """Hyper-parameters of :class:`MuseAdversarialMap` (MUSE's defaults unless stated).

    steps: map updates (MUSE: 5 epochs x 31,250 iterations of ``dis_steps`` + 1 updates);
    batch_size: words per side per step (32); dis_steps: discriminator updates per map update (5);
    hidden, dis_layers: width (MUSE 2048; 512 here, narrower for tests) and number of hidden layers (2) of the
    MLP discriminator; dis_dropout / dis_input_dropout: dropout after each hidden layer (0) and on its input
    (0.1); negative_slope: leaky ReLU (0.2); smooth: label smoothing (0.1: mapped source labelled 0.9,
    target 0.1 for the discriminator, the reverse for the map); map_lr, dis_lr: plain SGD learning rates (0.1);
    orth_beta: beta of :func:`orthogonalize_step` (0.001), applied after every map update (0: none);
    most_frequent: the discriminator samples words uniformly among this many most frequent rows of each side
    (MUSE 75,000; None: all rows); eval_every: map updates between two evaluations of the unsupervised
    criterion (MUSE: once per epoch; step 0 and the last step are always evaluated); n_select: most frequent
    source words of the criterion (10,000; each evaluation costs O(n m d): CSLS's source-side term runs over
    all n mapped source rows against all m targets); csls_k: CSLS neighbourhood (10); lr_decay: map learning
    rate multiplied by this after every evaluation (0.98), lr_shrink: and by this when the criterion falls below
    the best so far (0.5; 1: never), min_lr: floor of the map learning rate (1e-6). MUSE applies decay and
    shrink once per epoch (31,250 steps): with a short ``eval_every`` set them to 1 or the rate collapses before
    the map has moved. num_threads: torch CPU threads during ``fit`` (restored afterwards; None: leave).
    """

    steps: int = 5000
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
    orth_beta: float = 0.001
    most_frequent: int | None = 75000
    eval_every: int = 250
    n_select: int = 10000
    csls_k: int = 10
    lr_decay: float = 0.98
    lr_shrink: float = 0.5
    min_lr: float = 1e-6
    num_threads: int | None = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_ORIENTATIONS = ("both", "positive", "negative", "init")


class MuseAdversarialMap:
    """An orthogonal map learned adversarially with MUSE's recipe (Conneau et al. 2018, sec. 2.1 and 3.1).

    ``fit(X, Y)`` centres X (n, d) and Y (m, d) (no scaling), then alternates ``dis_steps`` discriminator
    updates (mapped source vs target, label smoothing) with one map update (fool the discriminator; plain SGD,
    then :func:`orthogonalize_step`); every ``eval_every`` steps it computes :func:`unsupervised_criterion` and
    keeps the best checkpoint. Randomness comes from :func:`seed_streams` (start, discriminator initialisation,
    batches, dropout: independent streams of ``seed``); the global RNG is neither used nor changed.

    Convention: ``transform(X) = (X - mean_X) @ W^T`` with W = ``weight_`` (d, d), so a planted target
    ``Y = X @ Q^T`` is solved by W = Q.

    Fitted attributes: ``weight_`` (d, d) the chosen best checkpoint; ``criterion_`` its criterion;
    ``orientation_`` its determinant sign (+1 / -1) at the start; ``orientations_`` {+1: best criterion,
    -1: best criterion} of the orientations trained; ``candidates_`` {sign: best W}; ``starts_`` {sign: W0};
    ``final_weights_`` {sign: W after the last step}; ``best_step_`` {sign: step of the best checkpoint};
    ``history_`` a DataFrame with one row per evaluation and orientation: step, orientation, criterion, dis_acc
    (training accuracy of the discriminator over the updates since the previous row), map_lr, orth_error
    (||W W^T - I||_F); ``discriminator_`` the trained :class:`BatchedMLPDiscriminator`.

    Measured behaviour (see the section comment above): on a small 2-D planted case it finds the rotation from
    8 of 10 random starts; on the chapter's 10-d planted pair it did not find it in these runs.

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
        for name in ("steps", "batch_size", "dis_steps", "hidden", "eval_every", "n_select", "csls_k"):
            if int(getattr(cfg, name)) < 1:
                raise ValueError(f"MuseConfig.{name} must be >= 1, got {getattr(cfg, name)}")
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

    def start(self, d: int, init=None, orientations: str = "both") -> dict[int, torch.Tensor]:
        """The starting maps {sign: W0 (d, d)} that ``fit`` would use: ``init`` (default: a Haar-random orthogonal
        matrix from the ``start`` stream of ``seed``, reflected if needed to det +1) and/or its reflection
        (first column negated), by ``orientations``: ``"both"`` (+1 and -1), ``"positive"``, ``"negative"``, or
        ``"init"`` (``init`` as given, keyed by the sign of its determinant)."""
        if orientations not in _ORIENTATIONS:
            raise ValueError(f"orientations must be one of {_ORIENTATIONS}, got {orientations!r}")
        if init is None:
            if orientations == "init":
                raise ValueError("orientations='init' needs init=")
            W0 = random_orthogonal(d, generator=seed_streams(self.seed)["start"])
        else:
            W0 = as_matrix(init, "fit(init=)", torch.device("cpu"))
            if W0.shape != (d, d):
                raise ValueError(f"fit(init=): shape {tuple(W0.shape)}, expected ({d}, {d})")
        sign = 1 if float(torch.linalg.det(W0.double())) >= 0 else -1
        if orientations == "init":
            return {sign: W0.clone()}
        pos, neg = (W0.clone(), self._reflect(W0)) if sign > 0 else (self._reflect(W0), W0.clone())
        return {"both": {1: pos, -1: neg}, "positive": {1: pos}, "negative": {-1: neg}}[orientations]

    # -- training -------------------------------------------------------------------------------------------------
    def fit(self, X, Y, init=None, orientations: str = "both"):
        """Train without any bilingual signal. X: (n, d) source rows, Y: (m, d) target rows, both in frequency
        order (the discriminator samples among the ``most_frequent`` first rows; the criterion reads the
        ``n_select`` first source rows). init: optional (d, d) start (centred coordinates, x -> x W^T);
        orientations: see :meth:`start` (default ``"both"``: the two signs of det W trained side by side, the
        better unsupervised criterion chosen). Returns self."""
        prev_threads = torch.get_num_threads()
        if self.config.num_threads:
            torch.set_num_threads(int(self.config.num_threads))
        try:
            return self._fit(X, Y, init, orientations)
        finally:
            torch.set_num_threads(prev_threads)

    def _fit(self, X, Y, init, orientations):
        cfg, dev = self.config, self.device
        Xt = as_matrix(X, "MuseAdversarialMap.fit(X)", dev, min_rows=2)
        Yt = as_matrix(Y, "MuseAdversarialMap.fit(Y)", dev, min_rows=2)
        if Xt.shape[1] != Yt.shape[1]:
            raise ValueError(
                f"MuseAdversarialMap.fit: X has dimension {Xt.shape[1]}, Y {Yt.shape[1]}; an "
                "orthogonal map needs equal dimensions (reduce one side first, e.g. pca_reduce)"
            )
        d = Xt.shape[1]
        self.src_mean_, self.tgt_mean_ = Xt.mean(0), Yt.mean(0)
        Xc, Yc = Xt - self.src_mean_, Yt - self.tgt_mean_
        starts = self.start(d, init, orientations)
        signs = list(starts)
        B, bs = len(signs), cfg.batch_size
        streams = seed_streams(self.seed, device=dev)
        g_batch, g_drop = streams["batches"], streams["dropout"]
        pool_x = Xc.shape[0] if cfg.most_frequent is None else min(int(cfg.most_frequent), Xc.shape[0])
        pool_y = Yc.shape[0] if cfg.most_frequent is None else min(int(cfg.most_frequent), Yc.shape[0])

        W = torch.stack([starts[s] for s in signs]).to(dev)  # (B, d, d)
        dis = BatchedMLPDiscriminator(
            B, d, cfg.hidden, cfg.dis_layers, cfg.negative_slope, generator=streams["discriminator"], device=dev
        )
        dis_params = [p.data for p in dis.parameters()]
        # labels: mapped source first (1 - smooth), target second (smooth); the map is trained on 1 - labels
        y_dis = torch.cat([torch.full((bs,), 1.0 - cfg.smooth), torch.full((bs,), cfg.smooth)]).to(dev)
        y_dis = y_dis.expand(B, 2 * bs)
        y_map = 1.0 - y_dis
        is_src = torch.cat([torch.ones(bs, dtype=torch.bool), torch.zeros(bs, dtype=torch.bool)]).to(dev)
        map_lr = torch.full((B,), float(cfg.map_lr), device=dev)
        best = {s: -np.inf for s in signs}
        best_W = {s: starts[s].clone() for s in signs}
        best_step = {s: 0 for s in signs}
        rows: list[dict[str, Any]] = []
        acc_sum = torch.zeros(B, device=dev)
        acc_n = 0

        def batches():
            """Rows for one step: dis_steps discriminator batches and one map batch, (dis_steps + 1, B, bs, d)."""
            shape = (cfg.dis_steps + 1, B, bs)
            ix = torch.randint(pool_x, shape, generator=g_batch, device=g_batch.device).to(dev)
            iy = torch.randint(pool_y, shape, generator=g_batch, device=g_batch.device).to(dev)
            return Xc[ix], Yc[iy]

        def evaluate(step):
            nonlocal acc_sum, acc_n
            with torch.no_grad():
                Wd = W.detach()
                orth = (Wd @ Wd.transpose(1, 2) - torch.eye(d, device=dev)).flatten(1).norm(dim=1)
                for b, s in enumerate(signs):
                    crit = unsupervised_criterion(Xc @ Wd[b].T, Yc, cfg.n_select, cfg.csls_k)
                    rows.append(
                        {
                            "step": step,
                            "orientation": s,
                            "criterion": crit,
                            "dis_acc": float(acc_sum[b] / acc_n) if acc_n else float("nan"),
                            "map_lr": float(map_lr[b]),
                            "orth_error": float(orth[b]),
                        }
                    )
                    if step > 0:  # MUSE's schedule: decay, and shrink below the best so far
                        map_lr[b] = max(cfg.min_lr, float(map_lr[b]) * cfg.lr_decay)
                        if cfg.lr_shrink < 1 and crit < best[s]:
                            map_lr[b] = max(cfg.min_lr, float(map_lr[b]) * cfg.lr_shrink)
                    if crit > best[s]:
                        best[s], best_W[s], best_step[s] = crit, Wd[b].detach().cpu().clone(), step
            acc_sum = torch.zeros(B, device=dev)
            acc_n = 0

        evaluate(0)
        bar = tqdm(
            range(1, cfg.steps + 1), desc=f"MUSE map (seed {self.seed})", disable=not self.progress, mininterval=1.0
        )
        for step in bar:
            with torch.no_grad():
                # W is fixed until the map update: map every batch of this step at once
                xs_all, yt_all = batches()  # (dis_steps + 1, B, bs, d)
                inp_all = torch.cat([xs_all @ W.transpose(1, 2).unsqueeze(0), yt_all], 2)  # (.., B, 2 bs, d)
                for j in range(cfg.dis_steps):  # discriminator: mapped source (1 - smooth) vs target
                    _, logits, grads, _ = dis.bce_grads(
                        inp_all[j], y_dis, cfg.dis_input_dropout, cfg.dis_dropout, g_drop
                    )
                    torch._foreach_add_(dis_params, grads, alpha=-cfg.dis_lr)
                    acc_sum += ((logits >= 0) == is_src).float().mean(1)
                    acc_n += 1
                # map: fool the discriminator (labels flipped), no dropout (MUSE: discriminator in eval mode)
                _, _, _, g_in = dis.bce_grads(inp_all[-1], y_map, params=False, inputs=True)
                gW = g_in[:, :bs].transpose(1, 2) @ xs_all[-1]  # dL/dW = sum_i dL/dz_i x_i^T, (B, d, d)
                W -= map_lr[:, None, None] * gW
                if cfg.orth_beta:
                    W = orthogonalize_step(W, cfg.orth_beta)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                evaluate(step)
        self.history_ = pd.DataFrame(rows)
        self.orientations_ = {s: float(best[s]) for s in signs}
        self.candidates_ = {s: best_W[s].to(dev) for s in signs}
        self.starts_ = {s: starts[s].to(dev) for s in signs}
        self.final_weights_ = {s: W.detach()[b].clone() for b, s in enumerate(signs)}
        self.best_step_ = dict(best_step)
        self.orientation_ = max(signs, key=lambda s: best[s])
        self.criterion_ = float(best[self.orientation_])
        self._weight = self.candidates_[self.orientation_]
        self.discriminator_ = dis
        return self

    # -- inference -------------------------------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "_weight"):
            raise RuntimeError(f"{type(self).__name__}: call fit(X, Y) before using the map")

    @property
    def weight_(self) -> torch.Tensor:
        """The chosen map W (d, d) (best checkpoint of the chosen orientation): x -> (x - mean_X) W^T."""
        self._check_fitted()
        return self._weight

    @torch.no_grad()
    def transform(self, X) -> torch.Tensor:
        """Raw source vectors X (n, d) -> mapped, centred vectors (n, d) ``(X - mean_X) W^T``, torch."""
        self._check_fitted()
        x = as_matrix(X, f"{type(self).__name__}.transform(X)", self.device)
        return (x - self.src_mean_) @ self._weight.T

    @torch.no_grad()
    def transform_target(self, Y) -> torch.Tensor:
        """Raw target vectors Y (m, d) -> centred with the training mean (m, d), torch."""
        self._check_fitted()
        y = as_matrix(Y, f"{type(self).__name__}.transform_target(Y)", self.device)
        return y - self.tgt_mean_
