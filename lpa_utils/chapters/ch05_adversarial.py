"""Chapter 05 (Barone 2016): the plain GAN and the adversarial autoencoder on a synthetic isomorphic pair and on
real language pairs; 10-best lists, the comparison of maps, the chapter's records, findings and claims.

The notebook ``notebooks/05_adversarial_autoencoder.ipynb`` calls these functions; they do the work:

- :func:`settings` turns the profile (and the papermill overrides) into the run's sizes (:class:`Settings`), and
  :func:`pair_specs` checks the data parameters into its pairs (:class:`PairSpec`): EN-IT, EN-FR and EN-DE by
  default, or any pair given by its vectors and evaluation dictionary (no paper figure beside those);
- :func:`load_pairs` / :func:`load_pair` load them (:class:`LanguagePair`), :func:`data_table` shows them;
- :func:`train_gans` (sec. 2), :func:`train_aaes` (sec. 2, Fig. 2, sec. 3) and :func:`train_synthetic` fit the
  models of :mod:`lpa_utils.models.adversarial`; :func:`collapse_table`, :func:`discriminator_table` and
  :func:`synthetic_table` summarise them, :func:`plot_collapse` and :func:`plot_training` draw them;
- :func:`ten_best_lists` (sec. 3), :func:`side_by_side`, :func:`gold_hits`: the 10-best lists and their
  dictionary translations against what random lists would hold;
- :func:`compare_maps` / :func:`compare_all`, :func:`precision_table`, :func:`plot_precision`: P@1 and P@10 of the
  AAE against a random orthogonal map, MUSE-style refinement and supervised Procrustes (beyond the paper);
- :func:`record_results`, :func:`findings` and :func:`claims`: the results file, the numbers glued into the
  prose and the claims table (artefact keys of :data:`lpa_utils.report.papers.ARTEFACTS`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lpa_utils.align import Procrustes
from lpa_utils.align.refine import procrustes_refine
from lpa_utils.chapters.common import check_data_params, check_source, list_param, mapping_param
from lpa_utils.checks import as_matrix
from lpa_utils.data import Embeddings, load_dictionary, load_embeddings, make_split
from lpa_utils.data.dictionaries import SOURCES as DICTIONARY_SOURCES
from lpa_utils.maths.retrieval import evaluate_translation, translate
from lpa_utils.models.adversarial import (
    AAEConfig,
    AdversarialAutoencoder,
    PlainGAN,
    alphabetic_rows,
    pca_reduce,
    random_orthogonal,
    wordfreq_counts,
    zipf_counts,
)
from lpa_utils.report import plotting
from lpa_utils.report.results import Results


# --------------------------------------------------------------------------------------------------------------
# inspection and refinement
# --------------------------------------------------------------------------------------------------------------
def ten_best(
    mapped,
    target,
    src_words: Sequence[str],
    tgt_words: Sequence[str],
    dictionary: pd.DataFrame | None = None,
    topk: int = 10,
) -> pd.DataFrame:
    """The ``topk`` nearest target words (cosine, ``retrieval.translate(method="nn")``) of each mapped source word,
    as in Barone sec. 3's 10-best lists.

    mapped (q, d): mapped vectors of ``src_words`` (q,); target (m, d) with words ``tgt_words`` (m,);
    dictionary: DataFrame ["src", "tgt"] of gold translations (optional). Returns a long DataFrame with columns
    src, rank (1..topk), tgt, cosine, gold (bool: (src, tgt) is in the dictionary).
    """
    mapped = as_matrix(mapped, "ten_best(mapped)")
    target = as_matrix(target, "ten_best(target)", mapped.device)
    if len(src_words) != len(mapped) or len(tgt_words) != len(target):
        raise ValueError(
            f"ten_best: {len(src_words)} source words for {len(mapped)} rows, "
            f"{len(tgt_words)} target words for {len(target)} rows; they must match"
        )
    top = torch.as_tensor(translate(mapped, target, method="nn", topk=topk)).long().cpu()
    cos = (F.normalize(mapped, dim=1).unsqueeze(1) * F.normalize(target, dim=1)[top.to(mapped.device)]).sum(-1)
    q = len(src_words)
    tw = np.asarray(tgt_words, dtype=object)
    df = pd.DataFrame(
        {
            "src": np.repeat(np.asarray(src_words, dtype=object), topk),
            "rank": np.tile(np.arange(1, topk + 1), q),
            "tgt": tw[top.numpy().reshape(-1)],
            "cosine": cos.detach().cpu().numpy().reshape(-1).round(4),
        }
    )
    if dictionary is not None:
        gold = pd.MultiIndex.from_frame(dictionary[["src", "tgt"]].astype(str))
        df["gold"] = pd.MultiIndex.from_frame(df[["src", "tgt"]].astype(str)).isin(gold)
    else:
        df["gold"] = False
    return df


def ten_best_wide(long: pd.DataFrame, mark: str = "*") -> pd.DataFrame:
    """One row per source word, the 10-best list joined as text, gold translations marked ``*word*``; plus the
    rank of the first gold hit (NaN if none) and the number of gold words the dictionary has for that word."""
    tgt = np.where(long["gold"], mark + long["tgt"].astype(str) + mark, long["tgt"].astype(str))
    tmp = long.assign(shown=tgt)
    out = tmp.groupby("src", sort=False).agg(
        ten_best=("shown", ", ".join),
        first_gold_rank=(
            "rank",
            lambda r: float(r[tmp.loc[r.index, "gold"]].min()) if tmp.loc[r.index, "gold"].any() else math.nan,
        ),
    )
    return out


# --------------------------------------------------------------------------------------------------------------
# experiments of the chapter: a synthetic isomorphic pair, real language pairs, the comparison of maps
# --------------------------------------------------------------------------------------------------------------
@dataclass
class SyntheticPair:
    """A source cloud X (n, d) and its exact rotation Y = X Q^T with the rows shuffled: an isomorphic pair where
    a perfect unsupervised map exists. ``gold[i]`` is the row of Y that is source row i; counts (Zipf) follow the
    words, so both sides have the same frequency distribution."""

    X: np.ndarray
    Y: np.ndarray
    Q: np.ndarray
    gold: np.ndarray
    counts_src: np.ndarray
    counts_tgt: np.ndarray

    def true_init(self) -> np.ndarray:
        """The true map in the AAE's standardised coordinates, (d, d): Ys = diag(1/s_Y) Q diag(s_X) Xs."""
        return (np.diag(1.0 / self.Y.std(0)) @ self.Q @ np.diag(self.X.std(0))).astype(np.float32)

    def precision(self, mapped, target, ks: Sequence[int] = (1, 10)) -> dict[str, float]:
        """P@k of mapped source rows (n, d) against target rows (n, d), gold = the true rows (NN retrieval)."""
        top = torch.as_tensor(translate(mapped, target, method="nn", topk=max(ks))).cpu().numpy()
        hit = top == self.gold[:, None]
        return {f"p@{k}": float(hit[:, :k].any(1).mean()) for k in ks}


def synthetic_pair(n: int = 3000, d: int = 10, n_clusters: int = 20, seed: int = 0) -> SyntheticPair:
    """Gaussian mixture (``n_clusters`` centres with spread 3, per-dimension noise scales from 1.5 down to 0.3:
    neither isotropic nor symmetric, so the rotation is identifiable), rotated by a Haar-random Q, rows shuffled.

    Everything is drawn from one NumPy stream seeded with ``seed`` (the data's own stream): the rotation is not
    ``random_orthogonal(d, seed=...)``, the torch stream the models draw their starting maps from, so no model
    seed can start at the answer (it once did: the rotation was ``random_orthogonal(d, seed=seed + 1)``).
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d)) * 3.0
    X = centres[rng.integers(0, n_clusters, n)] + rng.standard_normal((n, d)) * np.linspace(1.5, 0.3, d)
    X = X.astype(np.float32)
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))  # Haar: QR with the signs of R's diagonal folded in
    Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)
    perm = rng.permutation(n)
    Y = (X.astype(np.float64) @ Q.T)[perm].astype(np.float32)
    counts = zipf_counts(n)
    return SyntheticPair(X, Y, Q, np.argsort(perm).astype(np.int64), counts, counts[perm])


@dataclass
class LanguagePair:
    """Two monolingual spaces ready for the AAE, and the dictionary used only to evaluate.

    src, tgt: ``lpa_utils.data.Embeddings`` (letters-only words, frequency order; tgt possibly PCA-reduced);
    counts_src, counts_tgt: (n,) counts for frequency sampling; info: provenance (names, sizes, where the counts
    come from, PCA variance kept); dictionary: ["src", "tgt"]; split: ``make_split`` of it (test words).
    """

    name: str
    src: Any
    tgt: Any
    counts_src: np.ndarray
    counts_tgt: np.ndarray
    dictionary: pd.DataFrame
    split: Any
    info: dict = field(default_factory=dict)
    own_data: bool = False  # vectors or dictionary given by the run's parameters: no paper figure


def _counts_for(emb, lang: str):
    if emb.counts is not None:
        return np.asarray(emb.counts, dtype=np.int64), "corpus counts of the word2vec training text"
    try:
        return wordfreq_counts(emb.words, lang), "wordfreq 'large' frequencies (the vectors ship without counts)"
    except ValueError:
        return zipf_counts(len(emb)), (
            f"Zipf's law over the file's order (no counts in the file, and wordfreq has no list for {lang!r})"
        )


def _short(spec: str) -> str:
    """A dataset or dictionary-source name as it is, a file path by its file name."""
    s = str(spec)
    return Path(s).name if ("/" in s or "\\" in s or Path(s).suffix) else s


def load_pair(
    name: str,
    src_name: str,
    tgt_name: str,
    src_lang: str,
    tgt_lang: str,
    max_src: int | None = None,
    max_tgt: int | None = None,
    reduce_target: bool = True,
    dictionary_source: str = "merged",
    n_test: int = 500,
    n_train: int = 1500,
    seed: int = 0,
    own_data: bool = False,
) -> LanguagePair:
    """Load a language pair through ``lpa_utils.data``: keep letters-only words (:func:`alphabetic_rows`), the
    ``max_src`` / ``max_tgt`` most frequent; counts from the corpus, from wordfreq, or (a language wordfreq does
    not know) Zipf's law over the file's order; if the dimensions differ and ``reduce_target``, PCA the target
    down to the source dimension (:func:`pca_reduce`); load the dictionary ``src_lang-tgt_lang`` from
    ``dictionary_source`` (a source of :func:`lpa_utils.data.load_dictionary`, or the path of a "src tgt" file)
    and split it (``make_split``: ``n_test`` random test words, ``n_train`` training pairs of the most frequent
    other words for the supervised Procrustes baseline). ``own_data``: the vectors or dictionary were given by
    the run's parameters (the paper has no figure for them)."""

    src_all, tgt_all = load_embeddings(src_name), load_embeddings(tgt_name)
    src = src_all.subset([src_all.words[i] for i in alphabetic_rows(src_all.words, max_src)])
    tgt = tgt_all.subset([tgt_all.words[i] for i in alphabetic_rows(tgt_all.words, max_tgt)])
    counts_src, from_src = _counts_for(src, src_lang)
    counts_tgt, from_tgt = _counts_for(tgt, tgt_lang)
    info = {
        "pair": name,
        "source": src_name,
        "target": tgt_name,
        "source_words": len(src),
        "target_words": len(tgt),
        "source_dim": src.dim,
        "target_dim": tgt.dim,
        "source_counts": from_src,
        "target_counts": from_tgt,
        "source_text": src_all.source,
        "target_text": tgt_all.source,
    }
    if src.dim != tgt.dim and reduce_target:
        Yr, evr = pca_reduce(tgt.vectors, src.dim)
        info.update(target_dim=src.dim, target_pca_from=tgt.dim, target_pca_variance_kept=float(evr.sum()))
        tgt = Embeddings(
            tgt.words,
            Yr,
            tgt.counts,
            name=f"{tgt_name}-pca{src.dim}",
            source=tgt.source,
            licence=tgt.licence,
            check=False,
        )
    if dictionary_source in DICTIONARY_SOURCES:
        d = load_dictionary(f"{src_lang}-{tgt_lang}", source=dictionary_source)
    else:
        d = load_dictionary(dictionary_source)
    split = make_split(d, src, tgt, n_test=n_test, n_train=n_train, n_val=0, seed=seed, save=False)
    info.update(
        dictionary=f"{src_lang}-{tgt_lang} ({_short(dictionary_source)})",
        test_words=int(split.test["src"].nunique()),
        test_pairs=len(split.test),
        train_pairs=len(split.train),
        covered_source_words=split.manifest["coverage"]["covered_src_words"],
    )
    return LanguagePair(name, src, tgt, counts_src, counts_tgt, d, split, info, own_data=own_data)


def frequent_words(pair: LanguagePair, n: int = 20, skip: int = 100) -> list[str]:
    """The ``n`` most frequent source words outside the ``skip`` most frequent ones (mostly function words) that
    have at least one dictionary translation in the target vocabulary: a rule, not a hand-picked list."""
    d = pair.dictionary
    translatable = set(d.loc[d["tgt"].isin(pair.tgt.index), "src"])
    words = pd.Series(pair.src.words[skip:], dtype=object)
    return words[words.isin(translatable)].head(n).tolist()


def compare_maps(
    pair: LanguagePair,
    aae: AdversarialAutoencoder,
    seed: int = 0,
    methods: Sequence[str] = ("nn", "csls"),
    ks: Sequence[int] = (1, 10),
    refine_iters: int = 5,
    refine_words: int = 5000,
):
    """P@k on ``pair.split.test`` of: a random orthogonal map, the AAE, the AAE refined MUSE-style
    (:func:`procrustes_refine` from its mutual nearest neighbours among the ``refine_words`` most frequent words),
    and supervised Procrustes fit on ``pair.split.train`` (all in the AAE's standardised coordinates, so every
    map sees the same spaces and is scored on the same test words, with ``retrieval.evaluate_translation``).

    Returns ``(table, extra)``: table with columns pair, map, retrieval, p@k..., n_queries; extra with the
    refinement history and the mapped matrices.
    """

    Xs = (torch.as_tensor(pair.src.vectors, device=aae.device) - aae.src_mean_) / aae.src_std_
    Yt = aae.transform_target(pair.tgt.vectors)
    mapped = {
        "random orthogonal": Xs @ random_orthogonal(Yt.shape[1], Xs.shape[1], seed=seed + 1000, device=aae.device).T,
        "AAE (ours)": aae.transform(pair.src.vectors),
    }
    refined, hist = procrustes_refine(
        Xs, Yt, mapped["AAE (ours)"], n_iter=refine_iters, n_src=refine_words, n_tgt=refine_words
    )
    mapped["AAE + Procrustes refinement"] = refined
    sup = Procrustes().fit(Xs, Yt, pair.split.pairs("train", pair.src, pair.tgt))
    mapped["supervised Procrustes"] = sup.transform(Xs)
    rows = []
    for name, Z in mapped.items():
        for m in methods:
            ev = evaluate_translation(Z, Yt, pair.src.words, pair.tgt.words, pair.split.test, method=m, ks=ks)
            rows.append(
                {
                    "pair": pair.name,
                    "map": name,
                    "retrieval": m,
                    **{f"p@{k}": ev[f"p@{k}"] for k in ks},
                    "n_queries": ev["n_queries"],
                }
            )
    return pd.DataFrame(rows), {"refinement": hist, "mapped": mapped, "target": Yt}


# --------------------------------------------------------------------------------------------------------------
# the chapter's run: sizes, data, training
# --------------------------------------------------------------------------------------------------------------
#: Depth T of the ResNet discriminator per pair (Barone sec. 3: T = 10 for EN-IT, T = 4 for EN-DE) and its width k;
#: any other pair gets :data:`DEFAULT_DEPTH` (the paper's EN-IT setting).
DEPTH = {"EN-IT": 10, "EN-FR": 10, "EN-DE": 4}
DEFAULT_DEPTH = 10
WIDTH = 40
#: The book's pairs (parameter names, lower case) and the vectors of EN-IT and EN-FR when not overridden.
DEFAULT_PAIRS = ("en-it", "en-fr", "en-de")
EN_IT = ("bible-en-w2v-100d-a", "bible-it-w2v-100d-b")
EN_FR = ("glove-en-50d", "fasttext-fr-300d")
#: The Bible halves used for EN-DE when the parameter ``en_de`` is None: 40d in "full" (the paper's d = 40 for
#: EN-DE), the 100d ones already cached for EN-IT in "smoke".
EN_DE_FULL = ("bible-en-w2v-40d-a", "bible-de-w2v-40d-b")
EN_DE_SMOKE = ("bible-en-w2v-100d-a", "bible-de-w2v-100d-b")
#: Column of :func:`side_by_side` that holds the paper's lists.
PAPER_COLUMN = "paper, EN→IT (Wikipedia word2vec)"
#: What the paper says, in the words of the claims table (sec. 2 and sec. 3).
PAPER_GAN = "constant or near-constant samples"
PAPER_LISTS = "lists for computer, rain, comics, anime, France (EN-IT); 'similar patterns' (EN-DE)"
#: The claims table's artefact (a key of ``lpa_utils.report.papers.ARTEFACTS``) for each pair's 10-best lists.
LIST_ARTEFACT = {"EN-IT": "aae.en_it", "EN-DE": "aae.en_de", "EN-FR": "aae.beyond_en_fr"}
#: What the paper column and the verdict say for a pair run on data given by the parameters.
NOT_IN_PAPER = "not in the paper"
NO_PAPER_FIGURE = "no paper figure"
#: Language names for the prose and the tables (others are written as their code in capitals).
LANGUAGE_NAMES = {"en": "English", "it": "Italian", "fr": "French", "de": "German", "es": "Spanish", "fi": "Finnish"}
#: The maps of :func:`compare_maps`, in the order the figure and the findings show them.
MAP_ORDER = ("random orthogonal", "AAE (ours)", "AAE + Procrustes refinement", "supervised Procrustes")
GAN_RUNS = ("GAN, mlp generator", "GAN, linear generator")


def languages(pair: str) -> tuple[str, str]:
    """Source and target language of a pair name ``"src-tgt"`` (``"EN-XX"`` -> ``("en", "xx")``); another form
    gives ``("src", "tgt")``."""
    m = re.fullmatch(r"([A-Za-z]{2,3})-([A-Za-z]{2,3})", pair)
    return (m[1].lower(), m[2].lower()) if m else ("src", "tgt")


def language_name(code: str) -> str:
    """``"it"`` -> ``"Italian"`` (:data:`LANGUAGE_NAMES`); an unknown code in capitals (``"XX"``)."""
    return LANGUAGE_NAMES.get(code, code.upper())


@dataclass(frozen=True)
class PairSpec:
    """Where one pair's data comes from: ``name`` (``"EN-IT"``, upper case), ``src`` / ``tgt`` vectors (dataset
    names or files), ``dictionary`` (a dictionary source or a "src tgt" file; evaluation only), ``max_src`` (most
    frequent source words kept), ``n_train`` (training pairs of the supervised baseline) and ``given`` (what the
    parameters gave instead of the book's data; then the paper has no figure for the pair)."""

    name: str
    src: str
    tgt: str
    dictionary: str = "merged"
    max_src: int | None = None
    n_train: int = 1500
    given: tuple[str, ...] = ()

    @property
    def langs(self) -> tuple[str, str]:
        return languages(self.name)

    @property
    def own_data(self) -> bool:
        return bool(self.given)


@dataclass(frozen=True)
class Settings:
    """The sizes of one run of the chapter.

    steps / gan_steps / syn_steps: training steps of the AAE per pair, of each plain GAN, of each AAE on the
    synthetic pair; log_every: history and diagnostics every this many steps; max_en: most frequent GloVe words
    kept for EN-FR; n_test: test words per dictionary; n_train / n_train_fr: training pairs of the supervised
    Procrustes baseline (EN-IT and EN-DE / EN-FR); n_probe: most frequent source words the collapse diagnostics map;
    refine_iters / refine_words: rounds and vocabulary of the Procrustes refinement; retrieval: "nn" and/or "csls";
    en_de: the (source, target) vectors of EN-DE.
    """

    steps: int
    gan_steps: int
    syn_steps: int
    log_every: int
    max_en: int
    n_test: int
    n_train: int
    n_train_fr: int
    n_probe: int
    refine_iters: int
    refine_words: int
    retrieval: tuple[str, ...]
    en_de: tuple[str, str]
    pairs: tuple[PairSpec, ...] = ()

    @property
    def gan_pair(self) -> str:
        """The pair of the plain GANs and of the collapse diagnostics: the first pair (EN-IT by default)."""
        return self.pairs[0].name if self.pairs else "EN-IT"

    @property
    def gan_target(self) -> str:
        """The target language of :attr:`gan_pair`, as the prose names it ("Italian")."""
        return language_name(languages(self.gan_pair)[1])

    @property
    def own_pairs(self) -> set[str]:
        """The pairs that run on data given by the parameters: no paper figure, no verdict against the paper."""
        return {p.name for p in self.pairs if p.own_data}

    def glue_values(self) -> dict[str, Any]:
        """The sizes the prose quotes, as plain ints / strings for ``ch.glue``."""
        return {
            "steps": self.steps,
            "gan_steps": self.gan_steps,
            "syn_steps": self.syn_steps,
            "log_every": self.log_every,
            "n_probe": self.n_probe,
            "refine_iters": self.refine_iters,
            "refine_words": self.refine_words,
            "retrieval": " and ".join(self.retrieval),
            "gan_pair": self.gan_pair,
            "gan_target": self.gan_target,
        }


def _vectors_param(name: str, value: Any, default: tuple[str, str]) -> tuple[str, str]:
    """A ``(source, target)`` vectors parameter (``en_it``, ...): ``None`` gives ``default``; a string is parsed
    (papermill's ``-p``); two items, each a vectors dataset name or an existing file."""
    if value is None:
        return tuple(default)
    got = list_param(name, value, example='["src.vec", "tgt.vec"]')
    if len(got) != 2:
        raise ValueError(
            f"parameter {name}: expected (source, target) vectors, two items, got {got!r}; write "
            f'{name} = ["src.vec", "tgt.vec"] (files or dataset names)'
        )
    for v in got:
        check_source(name, None, v, kind="vectors")
    return tuple(got)


def pair_specs(
    profile: str,
    *,
    pairs: Any = None,
    en_it: Any = None,
    en_fr: Any = None,
    en_de: Any = None,
    src_vectors: Any = None,
    tgt_vectors: Any = None,
    dictionaries: Any = None,
    max_en: int = 20_000,
    n_train: int = 1500,
    n_train_fr: int = 5000,
) -> tuple[PairSpec, ...]:
    """The run's pairs from the notebook's parameters, checked (every error names the parameter):

    ``pairs`` (default :data:`DEFAULT_PAIRS`) may name any pair (``"en-xx"``; languages from the name); a pair
    that is not one of the book's needs ``src_vectors``, ``tgt_vectors`` and ``dictionaries`` (mappings from pair
    to dataset name or file; ``dictionaries`` is used only to evaluate). ``en_it`` / ``en_fr`` / ``en_de`` set the
    book pairs' (source, target) vectors (defaults :data:`EN_IT`, :data:`EN_FR`, the profile's EN-DE); the
    mappings override them. Lists and mappings may be the strings papermill's ``-p`` passes. A pair whose vectors
    or dictionary differ from the book's is marked ``given`` (no paper figure beside it).
    """
    names = [p.lower() for p in (list_param("pairs", pairs, example='["en-xx"]') or DEFAULT_PAIRS)]
    en_de_default = EN_DE_FULL if profile == "full" else EN_DE_SMOKE
    vectors = {
        "en-it": _vectors_param("en_it", en_it, EN_IT),
        "en-fr": _vectors_param("en_fr", en_fr, EN_FR),
        "en-de": _vectors_param("en_de", en_de, en_de_default),
    }
    book = {"en-it": (EN_IT,), "en-fr": (EN_FR,), "en-de": (EN_DE_FULL, EN_DE_SMOKE)}
    lower = {
        k: {str(p).lower(): v for p, v in mapping_param(k, v, example='{"en-xx": "/path/to/file"}').items()}
        for k, v in (("src_vectors", src_vectors), ("tgt_vectors", tgt_vectors), ("dictionaries", dictionaries))
    }
    given = check_data_params(names, DEFAULT_PAIRS, **lower)
    out = []
    for p in names:
        g = given[p]
        src, tgt = vectors.get(p, (None, None))
        src, tgt = g.get("src", src), g.get("tgt", tgt)
        if p not in book:
            own = [src, tgt, g["dictionary"]]
        else:
            own = [] if (src, tgt) in book[p] else [src, tgt]
            own += [g["dictionary"]] if g.get("dictionary", "merged") != "merged" else []
        fr = p == "en-fr"
        out.append(
            PairSpec(
                p.upper(),
                src,
                tgt,
                g.get("dictionary", "merged"),
                max_src=max_en if fr else None,
                n_train=n_train_fr if fr else n_train,
                given=tuple(dict.fromkeys(own)),
            )
        )
    return tuple(out)


def settings(
    profile: str,
    steps: int | None = None,
    max_en_words: int | None = None,
    en_de: tuple[str, str] | None = None,
    **data: Any,
) -> Settings:
    """The sizes of the ``profile`` ("full": what the book shows; "smoke": a quick check for CI), with the
    papermill overrides ``steps`` (AAE steps per pair), ``max_en_words`` (EN-FR's GloVe words) and ``en_de``;
    ``data``: the data parameters of :func:`pair_specs` (``pairs``, ``en_it``, ``en_fr``, ``src_vectors``,
    ``tgt_vectors``, ``dictionaries``), checked here; the resolved pairs are :attr:`Settings.pairs`."""
    en_de = _vectors_param("en_de", en_de, EN_DE_FULL if profile == "full" else EN_DE_SMOKE)
    if profile == "full":
        cfg = Settings(
            steps=steps or 3000,
            gan_steps=1500,
            syn_steps=1500,
            log_every=100,
            max_en=max_en_words or 20_000,
            n_test=500,
            n_train=1500,
            n_train_fr=5000,
            n_probe=1000,
            refine_iters=5,
            refine_words=5000,
            retrieval=("nn", "csls"),
            en_de=en_de,
        )
    else:
        cfg = Settings(
            steps=steps or 40,
            gan_steps=40,
            syn_steps=40,
            log_every=20,
            max_en=max_en_words or 20_000,
            n_test=200,
            n_train=300,
            n_train_fr=300,
            n_probe=300,
            refine_iters=1,
            refine_words=2000,
            retrieval=("nn",),
            en_de=en_de,
        )
    specs = pair_specs(profile, en_de=en_de, max_en=cfg.max_en, n_train=cfg.n_train, n_train_fr=cfg.n_train_fr, **data)
    return replace(cfg, pairs=specs)


def load_pairs(cfg: Settings, seed: int = 0) -> dict[str, LanguagePair]:
    """The pairs of ``cfg.pairs`` (:func:`pair_specs`; by default EN-IT, EN-FR with the ``cfg.max_en`` most
    frequent English words, and EN-DE) through :func:`load_pair`, each with ``cfg.n_test`` test words."""
    return {
        p.name: load_pair(
            p.name,
            p.src,
            p.tgt,
            *p.langs,
            max_src=p.max_src,
            dictionary_source=p.dictionary,
            n_test=cfg.n_test,
            n_train=p.n_train,
            seed=seed,
            own_data=p.own_data,
        )
        for p in cfg.pairs
    }


def data_table(pairs: Mapping[str, LanguagePair]) -> pd.DataFrame:
    """The pairs' provenance and sizes, one column per pair."""
    df = pd.DataFrame([p.info for p in pairs.values()]).set_index("pair")
    return df.reindex(
        columns=[
            "source_text",
            "target_text",
            "source_words",
            "target_words",
            "source_dim",
            "target_dim",
            "target_pca_variance_kept",
            "source_counts",
            "target_counts",
            "test_words",
            "train_pairs",
        ]
    ).T


def _key(pair: str) -> str:
    """ "EN-IT" -> "en_it": a pair's name in glue keys."""
    return pair.lower().replace("-", "_")


def pair_labels(pairs: Mapping[str, LanguagePair]) -> dict[str, str]:
    """``vectors_<pair>`` (e.g. ``vectors_en_it``): each pair's vectors as loaded, "<source> -> <target>" with
    their sizes, for the prose."""
    return {f"vectors_{_key(n)}": f"{p.src.describe()} -> {p.tgt.describe()}" for n, p in pairs.items()}


def train_gans(pair: LanguagePair, cfg: Settings, seed: int = 0, device=None) -> dict[str, PlainGAN]:
    """Barone sec. 2, steps 1-6: two plain GANs (the released code's MLP generator and a linear one with the
    AAE's orthogonal start) trained ``cfg.gan_steps`` steps on ``pair``; keys :data:`GAN_RUNS`."""
    gan_cfg = AAEConfig(steps=cfg.gan_steps, log_every=cfg.log_every, n_probe=cfg.n_probe)
    return {
        f"GAN, {g} generator": PlainGAN(gan_cfg, seed=seed, device=device, generator=g).fit(
            pair.src.vectors, pair.tgt.vectors, pair.counts_src, pair.counts_tgt
        )
        for g in ("mlp", "linear")
    }


def train_aaes(
    pairs: Mapping[str, LanguagePair], cfg: Settings, seed: int = 0, device=None
) -> dict[str, AdversarialAutoencoder]:
    """One AAE per pair (Barone sec. 2, Fig. 2, sec. 3): ``cfg.steps`` steps, discriminator depth
    :data:`DEPTH` (:data:`DEFAULT_DEPTH` for other pairs) and width :data:`WIDTH`, the paper's learning rates and
    lambdas (``AAEConfig`` defaults)."""
    aaes = {}
    for name, p in pairs.items():
        c = AAEConfig(
            steps=cfg.steps,
            depth=DEPTH.get(name, DEFAULT_DEPTH),
            width=WIDTH,
            log_every=cfg.log_every,
            n_probe=cfg.n_probe,
        )
        aaes[name] = AdversarialAutoencoder(c, seed=seed, device=device).fit(
            p.src.vectors, p.tgt.vectors, p.counts_src, p.counts_tgt
        )
    return aaes


def train_synthetic(syn: SyntheticPair, cfg: Settings, seed: int = 0, device=None) -> dict[str, AdversarialAutoencoder]:
    """Two AAEs (T = 4, ``cfg.syn_steps`` steps) on the synthetic pair: one started at the true map
    (:meth:`SyntheticPair.true_init`), one at the usual random orthogonal start; keys "true map" and
    "random orthogonal"."""
    syn_cfg = AAEConfig(steps=cfg.syn_steps, depth=4, log_every=cfg.log_every, n_probe=cfg.n_probe)
    return {
        start: AdversarialAutoencoder(syn_cfg, seed=seed, device=device).fit(
            syn.X, syn.Y, syn.counts_src, syn.counts_tgt, init=syn.true_init() if start == "true map" else None
        )
        for start in ("true map", "random orthogonal")
    }


# --------------------------------------------------------------------------------------------------------------
# tables and figures of the training runs
# --------------------------------------------------------------------------------------------------------------
def collapse_histories(gans: Mapping[str, PlainGAN], aae: AdversarialAutoencoder) -> dict[str, pd.DataFrame]:
    """The training histories (one row per ``log_every`` steps) of the plain GANs and of the AAE ("AAE") of the
    same pair (EN-IT by default, :attr:`Settings.gan_pair`)."""
    return {**{k: g.history_ for k, g in gans.items()}, "AAE": aae.history_}


def collapse_table(runs: Mapping[str, pd.DataFrame], reference: float, target: str = "Italian") -> pd.DataFrame:
    """Final and worst collapse diagnostics of each run (rows), plus the target vectors' own mean pairwise cosine
    ``reference`` as the last row "<target> vectors (reference)" (``target``: the target language's name)."""
    collapse = pd.DataFrame(
        [
            {
                "run": label,
                "final mean pairwise cos": h["mean_pairwise_cos"].iloc[-1],
                "max mean pairwise cos": h["mean_pairwise_cos"].max(),
                "final distinct NN": int(h["distinct_nn"].iloc[-1]),
                "min distinct NN": int(h["distinct_nn"].min()),
                "final discriminator acc": h["disc_acc"].iloc[-1],
            }
            for label, h in runs.items()
        ]
    ).set_index("run")
    collapse.loc[f"{target} vectors (reference)"] = [reference] * 2 + [np.nan] * 3
    return collapse


def _palette() -> list:
    return plt.rcParams["axes.prop_cycle"].by_key()["color"]  # the book's colourblind palette


def plot_collapse(
    runs: Mapping[str, pd.DataFrame], reference: float, n_probe: int, target: str = "Italian"
) -> plt.Figure:
    """Collapse diagnostics over training: mean pairwise cosine of the mapped probe words (left, dashed: the target
    vectors' own value ``reference``) and distinct target nearest neighbours among the ``n_probe`` (right);
    ``target``: the target language's name."""
    pal = _palette()
    run_color = {GAN_RUNS[0]: pal[3], GAN_RUNS[1]: pal[1], "AAE": plotting.color_for("ours")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for label, h in runs.items():
        axes[0].plot(h["step"], h["mean_pairwise_cos"], label=label, color=run_color.get(label))
        axes[1].plot(h["step"], h["distinct_nn"], label=label, color=run_color.get(label))
    axes[0].axhline(reference, ls="--", color="grey", label=f"{target} vectors")
    axes[0].set(xlabel="training step", ylabel="mean pairwise cosine", title="Generated vectors bunch together")
    axes[1].set(
        xlabel="training step",
        ylabel=f"distinct NN (of {n_probe})",
        yscale="log",
        title=f"How many {target} words are hit",
    )
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_training(aaes: Mapping[str, AdversarialAutoencoder]) -> plt.Figure:
    """One column per pair: accuracy of the training and the monitoring discriminator (top, 0.5 = fooled) and the
    three terms of L_GR (bottom), over training."""
    fig, axes = plt.subplots(2, len(aaes), figsize=(13, 6.5), sharex=True, squeeze=False)
    for j, (name, m) in enumerate(aaes.items()):
        h = m.history_
        axes[0, j].plot(h["step"], h["disc_acc"], label="training discriminator")
        axes[0, j].plot(h["step"], h["monitor_acc"], label="monitoring discriminator")
        axes[0, j].axhline(0.5, ls="--", color="grey")
        axes[0, j].set(title=f"{name} (T = {m.config.depth})", ylabel="accuracy", ylim=(0.3, 1.02))
        for col, lab in (
            ("recon", "$L_r$ reconstruction"),
            ("adv", "$-\\log p$ adversarial"),
            ("cos", "$L_r(e, \\hat e)$ cosine to targets"),
        ):
            axes[1, j].plot(h["step"], h[col], label=lab)
        axes[1, j].set(xlabel="training step", ylabel="loss")
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def discriminator_table(
    aaes: Mapping[str, AdversarialAutoencoder], pairs: Mapping[str, LanguagePair], seed: int = 0
) -> pd.DataFrame:
    """One row per pair: the discriminators' accuracies in the last window of training and on a held-out sample
    drawn uniformly over the vocabularies (``final_accuracies``), the share of the last window's steps that used
    the adversarial term, and the collapse diagnostics of the mapped words."""
    return pd.DataFrame(
        [
            {
                "pair": name,
                "T": m.config.depth,
                "training disc. acc (last 100 steps)": m.history_["disc_acc"].iloc[-1],
                "monitor disc. acc (last 100 steps)": m.history_["monitor_acc"].iloc[-1],
                **{
                    f"{k} acc, held-out uniform sample": v
                    for k, v in m.final_accuracies(p.src.vectors, p.tgt.vectors, seed=seed).items()
                },
                "adversarial term used (share of last 100 steps)": m.history_["adv_used"].iloc[-1],
                "mean pairwise cos (mapped)": m.history_["mean_pairwise_cos"].iloc[-1],
                "distinct NN": int(m.history_["distinct_nn"].iloc[-1]),
            }
            for (name, m), p in zip(aaes.items(), pairs.values())
        ]
    ).set_index("pair")


def synthetic_table(syn: SyntheticPair, runs: Mapping[str, AdversarialAutoencoder]) -> pd.DataFrame:
    """P@1 and P@10 against the known correspondence, and the discriminators' final accuracies, per start."""
    return pd.DataFrame(
        [
            {
                "start": start,
                **syn.precision(m.transform(syn.X), m.transform_target(syn.Y)),
                "training disc. acc (end)": m.history_["disc_acc"].iloc[-1],
                "monitor disc. acc (end)": m.history_["monitor_acc"].iloc[-1],
            }
            for start, m in runs.items()
        ]
    ).set_index("start")


def caption_values(
    figure: str, pairs: Mapping[str, LanguagePair], runs: int, seed: int, per: str = "pair"
) -> dict[str, str]:
    """The glued parts of figure ``figure``'s caption: ``<figure>_data`` (the pairs' vectors as loaded) and
    ``<figure>_runs`` (``runs`` runs, one per ``per``, and the seed); dashes in the name become underscores."""
    key = figure.replace("-", "_")
    data = "; ".join(f"{k}: {p.src.describe()} -> {p.tgt.describe()}" for k, p in pairs.items())
    return {f"{key}_data": data, f"{key}_runs": f"{plotting.n_runs(runs, 'run')}, one per {per} (seed {seed})"}


# --------------------------------------------------------------------------------------------------------------
# 10-best lists (sec. 3)
# --------------------------------------------------------------------------------------------------------------
class Lists(NamedTuple):
    """One pair's 10-best lists: ``long`` (one row per (query, rank), see :func:`ten_best`, plus ``pair``) and
    ``wide`` (one row per query, see :func:`ten_best_wide`, plus the dictionary's translations in the vocabulary)."""

    long: pd.DataFrame
    wide: pd.DataFrame


@dataclass
class TenBestLists:
    """The 10-best lists of every pair: ``paper[pair]`` for the paper's words present in the source vocabulary,
    ``frequent[pair]`` for the pair's :func:`frequent_words`."""

    paper: dict[str, Lists]
    frequent: dict[str, Lists]

    def long(self) -> pd.DataFrame:
        """All lists in one long table (the paper's words of every pair, then the frequent ones), with a column
        ``list`` ("paper words" | "20 frequent")."""
        return pd.concat(
            [self.paper[n].long.assign(list="paper words") for n in self.paper]
            + [self.frequent[n].long.assign(list="20 frequent") for n in self.frequent],
            ignore_index=True,
        )


def pair_lists(pair: LanguagePair, aae: AdversarialAutoencoder, words: Sequence[str]) -> Lists:
    """The 10-best target words of each of ``words`` (source words of ``pair``) after the AAE's map (empty tables
    with the same columns when ``words`` is empty, e.g. a vocabulary without the paper's words)."""
    if not len(words):
        long = pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in (("src", object), ("rank", "int64"), ("tgt", object), ("cosine", "float64"), ("gold", bool))
            }
        )
        wide = pd.DataFrame(
            {
                "ten_best": pd.Series(dtype=object),
                "first_gold_rank": pd.Series(dtype="float64"),
                "dictionary translations in vocabulary": pd.Series(dtype=object),
            },
            index=pd.Index([], name="src", dtype=object),
        )
        return Lists(long.assign(pair=pair.name), wide)
    rows = pair.src.lookup(words)
    long = ten_best(
        aae.transform(pair.src.vectors[rows]),
        aae.transform_target(pair.tgt.vectors),
        words,
        pair.tgt.words,
        pair.dictionary,
    )
    d = pair.dictionary
    gold = d[d["src"].isin(words) & d["tgt"].isin(pair.tgt.index)]
    wide = ten_best_wide(long)
    wide["dictionary translations in vocabulary"] = (
        gold.groupby("src")["tgt"].apply(lambda s: ", ".join(s.head(6))).reindex(wide.index).fillna("")
    )
    return Lists(long.assign(pair=pair.name), wide)


def frequent_lists(lists: TenBestLists) -> pd.DataFrame:
    """The lists of every pair's frequent words (:attr:`TenBestLists.frequent`) in one table, rows (pair, word)."""
    return pd.concat({name: ls.wide for name, ls in lists.frequent.items()}, names=["pair"])


def vocabulary_presence(pairs: Mapping[str, LanguagePair], words: Sequence[str]) -> pd.DataFrame:
    """Whether each of ``words`` (rows) is in each pair's source and target vocabulary (columns (pair, side))."""
    presence = pd.DataFrame(
        {
            (name, side): {w: w in getattr(p, side) for w in words}
            for name, p in pairs.items()
            for side in ("src", "tgt")
        }
    )
    presence.index.name = "word in the vocabulary?"
    return presence


def ten_best_lists(
    pairs: Mapping[str, LanguagePair],
    aaes: Mapping[str, AdversarialAutoencoder],
    paper_words: Sequence[str],
    n_frequent: int = 20,
    skip: int = 100,
) -> TenBestLists:
    """Barone sec. 3's 10-best lists for the ``paper_words`` each source vocabulary has, and for the
    ``n_frequent`` :func:`frequent_words` of each pair (outside the ``skip`` most frequent)."""
    paper, frequent = {}, {}
    for name, p in pairs.items():
        present = [w for w in paper_words if w in p.src]
        paper[name] = pair_lists(p, aaes[name], present)
        frequent[name] = pair_lists(p, aaes[name], frequent_words(p, n=n_frequent, skip=skip))
    return TenBestLists(paper, frequent)


def side_by_side(paper_lists: Mapping[str, str], lists: TenBestLists, own: Sequence[str] = ()) -> pd.DataFrame:
    """The paper's lists (``paper_lists``: word -> list as printed, ``papers.AAE_TEN_BEST``) in the column
    :data:`PAPER_COLUMN`, and ours per pair ("(not in vocabulary)" where the source vocabulary lacks the word);
    the pairs of ``own`` (run on data given by the parameters) are left out: the paper's lists are not theirs."""
    side = pd.DataFrame({PAPER_COLUMN: pd.Series(dict(paper_lists))})
    for name, ls in lists.paper.items():
        if name in own:
            continue
        side[f"ours, {name}"] = ls.wide["ten_best"].reindex(side.index).fillna("(not in vocabulary)")
    return side


def gold_hits(long: pd.DataFrame, pairs: Mapping[str, LanguagePair]) -> pd.DataFrame:
    """Per (pair, list): queries, dictionary translations among the 10-best, queries with one at rank 1, and the
    number a list of 10 random target words would hold, sum over queries of 10 n_gold(q) / |target vocabulary|
    (n_gold(q): the query's dictionary translations in the target vocabulary). ``long``: :meth:`TenBestLists.long`.
    """
    hits = long.groupby(["pair", "list"]).agg(
        queries=("src", "nunique"),
        gold_in_10best=("gold", "sum"),
        queries_with_gold_at_1=("gold", lambda g: int(g[long.loc[g.index, "rank"] == 1].sum())),
    )
    queried = long[["pair", "list", "src"]].drop_duplicates()
    n_gold = pd.concat(
        [
            p.dictionary[p.dictionary["tgt"].isin(p.tgt.index)]
            .groupby("src")
            .size()
            .rename("n")
            .reset_index()
            .assign(pair=name, vocab=len(p.tgt))
            for name, p in pairs.items()
        ]
    )
    exp = queried.merge(n_gold, on=["pair", "src"], how="left").fillna({"n": 0})
    exp["expected"] = 10 * exp["n"] / exp.groupby("pair")["vocab"].transform("max")
    hits["expected_gold_if_random"] = exp.groupby(["pair", "list"])["expected"].sum().round(2)
    return hits


# --------------------------------------------------------------------------------------------------------------
# beyond the paper: P@k of the maps
# --------------------------------------------------------------------------------------------------------------
def compare_all(
    pairs: Mapping[str, LanguagePair], aaes: Mapping[str, AdversarialAutoencoder], cfg: Settings, seed: int = 0
) -> dict[str, tuple[pd.DataFrame, dict]]:
    """:func:`compare_maps` on every pair with ``cfg.retrieval``, ``cfg.refine_iters`` and ``cfg.refine_words``."""
    return {
        name: compare_maps(
            p,
            aaes[name],
            seed=seed,
            methods=cfg.retrieval,
            refine_iters=cfg.refine_iters,
            refine_words=cfg.refine_words,
        )
        for name, p in pairs.items()
    }


def precision_table(comparisons: Mapping[str, tuple[pd.DataFrame, dict]]) -> pd.DataFrame:
    """The P@k tables of :func:`compare_all` stacked: columns pair, map, retrieval, p@1, p@10, n_queries."""
    return pd.concat([t for t, _ in comparisons.values()], ignore_index=True)


def precision_pivot(prec: pd.DataFrame) -> pd.DataFrame:
    """P@1 and P@10 (columns, per retrieval) of each (pair, map) (rows), rounded to 3 decimals."""
    return prec.pivot_table(index=["pair", "map"], columns="retrieval", values=["p@1", "p@10"], sort=False).round(3)


def plot_precision(prec: pd.DataFrame) -> plt.Figure:
    """Bars of P@1 (left) and P@10 (right), nearest-neighbour retrieval, of the :data:`MAP_ORDER` maps per pair."""
    nn = prec[prec["retrieval"] == "nn"]
    pairs = list(dict.fromkeys(prec["pair"]))
    map_color = dict(
        zip(
            MAP_ORDER,
            [
                plotting.color_for("baseline"),
                plotting.color_for("ours"),
                _palette()[4],
                plotting.color_for("Procrustes"),
            ],
        )
    )
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=False)
    x = np.arange(len(pairs))
    for i, mname in enumerate(MAP_ORDER):
        sub = nn[nn["map"] == mname].set_index("pair").reindex(pairs)
        for ax, col in zip(axes, ("p@1", "p@10")):
            ax.bar(x + (i - 1.5) * 0.2, sub[col], width=0.2, label=mname, color=map_color[mname])
    for ax, col in zip(axes, ("P@1", "P@10")):
        ax.set_xticks(x, pairs)
        ax.set(ylabel=col, title=f"{col}, nearest-neighbour retrieval")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def refinement_table(comparisons: Mapping[str, tuple[pd.DataFrame, dict]]) -> pd.DataFrame:
    """Mutual-NN pairs each refinement round used (rows), per pair (columns)."""
    refine = pd.DataFrame(
        {
            name: {f"round {h['iteration']}": h["pairs"] for h in extra["refinement"]}
            for name, (_, extra) in comparisons.items()
        }
    )
    refine.index.name = "mutual-NN pairs used by the refinement"
    return refine


# --------------------------------------------------------------------------------------------------------------
# records, findings and claims
# --------------------------------------------------------------------------------------------------------------
def record_results(
    results: Results,
    cfg: Settings,
    *,
    pairs: Mapping[str, LanguagePair],
    gans: Mapping[str, PlainGAN],
    aaes: Mapping[str, AdversarialAutoencoder],
    collapse: pd.DataFrame,
    disc: pd.DataFrame,
    syn_table: pd.DataFrame,
    prec: pd.DataFrame,
    lists: TenBestLists,
    side: pd.DataFrame,
) -> None:
    """Store the run in ``results``: its parameters; records of the collapse diagnostics (GANs and the EN-IT AAE),
    the discriminators' accuracies, P@1 on the synthetic pair and P@k of every map; tables ``ten_best``,
    ``paper_lists_side_by_side``, ``collapse``, ``discriminators``, ``history_<run>`` and ``precision``."""
    results.params.update(
        {
            "steps": cfg.steps,
            "gan_steps": cfg.gan_steps,
            "synthetic_steps": cfg.syn_steps,
            "pairs": {n: p.info for n, p in pairs.items()},
            "depth": DEPTH,
            "width": WIDTH,
            "half_batch": 128,
            "lr_gen": 1e-3,
            "lr_disc": 1e-2,
            "lambdas": [1, 1, 1],
            "n_probe": cfg.n_probe,
            "refine_iters": cfg.refine_iters,
            "refine_words": cfg.refine_words,
            "retrieval": list(cfg.retrieval),
        }
    )
    name = cfg.gan_pair
    pit, own = pairs[name], cfg.own_pairs
    kind = "Bible word2vec" if str(pit.info["source"]).startswith("bible-") else "vectors"
    data_it = f"{name} {kind} {pit.src.dim}d ({_short(pit.info['source'])} -> {_short(pit.info['target'])})"
    if own:
        results.params["not_in_the_paper"] = sorted(own)
    for label, h in collapse_histories(gans, aaes[name]).items():
        results.add(
            "final mean pairwise cosine of generated vectors",
            data=data_it,
            method=label,
            mean=h["mean_pairwise_cos"].iloc[-1],
            max_over_training=h["mean_pairwise_cos"].max(),
            reference_target=aaes[name].target_pairwise_cos_,
            steps=int(h["step"].iloc[-1]),
        )
        results.add(
            f"distinct nearest target words of {cfg.n_probe} mapped source words",
            data=data_it,
            method=label,
            mean=int(h["distinct_nn"].iloc[-1]),
            min_over_training=int(h["distinct_nn"].min()),
            unit="words",
            paper=None if name in own else f"GAN: {PAPER_GAN}",
            paper_ref=None if name in own else "section 2",
        )
    for name, r in disc.iterrows():
        d = f"{name}: {pairs[name].info['source']} -> {pairs[name].info['target']}"
        results.add(
            "training discriminator accuracy (last window)",
            data=d,
            method=f"AAE T={int(r['T'])}",
            mean=r["training disc. acc (last 100 steps)"],
            held_out=r["train_disc acc, held-out uniform sample"],
        )
        results.add(
            "monitoring discriminator accuracy (last window)",
            data=d,
            method=f"AAE T={int(r['T'])}",
            mean=r["monitor disc. acc (last 100 steps)"],
            held_out=r["monitor_disc acc, held-out uniform sample"],
        )
    for start, r in syn_table.iterrows():
        results.add(
            "P@1 on the synthetic rotated pair",
            data="synthetic: 10d mixture, exact rotation",
            method=f"AAE from {start}",
            mean=r["p@1"],
            p_at_10=r["p@10"],
        )
    for _, r in prec.iterrows():
        ours, mine = r["map"] == "AAE (ours)", r["pair"] in own
        for k in ("p@1", "p@10"):
            results.add(
                k.upper(),
                data=f"{r['pair']} test words",
                method=f"{r['map']} ({r['retrieval']})",
                mean=r[k],
                n_queries=int(r["n_queries"]),
                paper=(NOT_IN_PAPER if mine else "not reported") if ours else None,
                paper_ref="section 3 (qualitative only)" if ours and not mine else None,
            )
    results.add_table("ten_best", lists.long())
    results.add_table("paper_lists_side_by_side", side)
    results.add_table("collapse", collapse.reset_index())
    results.add_table("discriminators", disc.reset_index())
    for name, m in aaes.items():
        results.add_table(f"history_{name}", m.history_)
    for label, g in gans.items():
        results.add_table(f"history_{label}", g.history_)
    results.add_table("precision", prec)


def _collapsed(row: pd.Series, reference: float, n_probe: int) -> bool:
    """The chapter's collapse rule: the mapped words' mean pairwise cosine rose 0.5 above the target vectors' own
    value at some point, or fewer than 10 % of the ``n_probe`` words had distinct nearest target words."""
    return bool(row["max mean pairwise cos"] > reference + 0.5 or row["min distinct NN"] < 0.1 * n_probe)


def _reference(collapse: pd.DataFrame) -> float:
    row = [r for r in collapse.index if str(r).endswith(" vectors (reference)")][0]
    return float(collapse.loc[row, "final mean pairwise cos"])


def _per_list(hits: pd.DataFrame, which: str, pairs: Sequence[str]) -> pd.DataFrame:
    """Rows of ``hits`` for list ``which``, one per pair (zeros where a pair asked no word of that list)."""
    if which not in hits.index.get_level_values("list"):
        return pd.DataFrame(0, index=pd.Index(list(pairs), name="pair"), columns=hits.columns)
    return hits.xs(which, level="list").reindex(pairs).fillna(0)


def _lists_verdict(got: int, chance: float) -> str:
    """ "yes": at least 2 and 3 x the translations random lists would hold; "partly": more than random; "no"."""
    return "yes" if got >= max(2, 3 * chance) else ("partly" if got > chance else "no")


def findings(
    cfg: Settings,
    collapse: pd.DataFrame,
    disc: pd.DataFrame,
    syn_table: pd.DataFrame,
    hits: pd.DataFrame,
    prec: pd.DataFrame,
) -> dict[str, Any]:
    """The values the "What we found" prose glues (Python floats, ints and strings; keys per pair end in
    ``_en_it`` / ``_en_fr`` / ``_en_de``; per map in ``_random`` / ``_aae`` / ``_refined`` / ``_supervised``).

    Verdict words follow fixed rules: collapse (:func:`_collapsed`), the discriminators "fooled" below 0.7, the
    monitor "ahead" by more than 0.15 on every pair, the synthetic map kept / found at P@1 0.9 / 0.5, the AAE "at
    chance" within 0.01 of the random map's P@1, the lists' claim reproduced if the gold counts exceed twice what
    random lists would hold, plus one (over the pairs that ran on the book's data only).

    For prose that names no pair, the same values per pair as strings: ``disc_by_pair``, ``monitor_by_pair``,
    ``held_by_pair``, ``held_monitor_by_pair`` ("EN-IT 0.93, EN-FR 0.88, ..."), ``lists_by_pair`` and
    ``precision_by_pair``; ``own_data_sentence`` names the pairs run on data given by the parameters
    (:attr:`Settings.own_pairs`), which the claims table holds against nothing.
    """
    ref = _reference(collapse)
    out: dict[str, Any] = {"ref_cos": ref}
    for key, run in (("gan_mlp", GAN_RUNS[0]), ("gan_linear", GAN_RUNS[1]), ("aae", "AAE")):
        r = collapse.loc[run]
        out[f"{key}_max_cos"] = float(r["max mean pairwise cos"])
        out[f"{key}_min_nn"] = int(r["min distinct NN"])
        out[f"{key}_verdict"] = "collapses" if _collapsed(r, ref, cfg.n_probe) else "does not collapse"
    acc, mon = disc["training disc. acc (last 100 steps)"], disc["monitor disc. acc (last 100 steps)"]
    held, held_mon = disc["train_disc acc, held-out uniform sample"], disc["monitor_disc acc, held-out uniform sample"]
    for n in disc.index:
        out.update(
            {
                f"disc_acc_{_key(n)}": float(acc[n]),
                f"monitor_acc_{_key(n)}": float(mon[n]),
                f"held_acc_{_key(n)}": float(held[n]),
                f"held_monitor_{_key(n)}": float(held_mon[n]),
            }
        )
    for key, col in (("disc", acc), ("monitor", mon), ("held", held), ("held_monitor", held_mon)):
        out[f"{key}_by_pair"] = ", ".join(f"{n} {float(v):.2f}" for n, v in col.items())
    out["disc_sentence"] = (
        "Both stay well above 0.5 on every pair: the encoder does not make English look like the target language."
        if min(acc.min(), mon.min()) > 0.7
        else "At least one of them ends at 0.7 or below on some pair: there the encoder fools it, at least in part."
    )
    out["held_out_sentence"] = (
        "The training discriminator falls well below the monitor on every pair: the encoder has learned to fool the "
        "one discriminator it trains against, not to match the target distribution; this is what the paper's "
        "monitor is for."
        if (held_mon - held).min() > 0.15
        else "The monitor is not 0.15 ahead of the training discriminator on every pair, so this sample does not show "
        "the encoder fooling only the discriminator it trains against."
    )
    true, rand = syn_table.loc["true map"], syn_table.loc["random orthogonal"]
    out.update(
        syn_true_p1=float(true["p@1"]),
        syn_true_disc=float(true["training disc. acc (end)"]),
        syn_true_verdict="keeps it" if true["p@1"] > 0.9 else "loses it",
        syn_random_p1=float(rand["p@1"]),
        syn_random_disc=float(rand["training disc. acc (end)"]),
        syn_random_verdict="it finds the map" if rand["p@1"] > 0.5 else "it does not find the map",
    )
    names = list(dict.fromkeys(prec["pair"]))
    hp, hf = _per_list(hits, "paper words", names), _per_list(hits, "20 frequent", names)
    for n in names:
        out.update(
            {
                f"paper_gold_{_key(n)}": int(hp.loc[n, "gold_in_10best"]),
                f"paper_chance_{_key(n)}": float(hp.loc[n, "expected_gold_if_random"]),
                f"freq_gold_{_key(n)}": int(hf.loc[n, "gold_in_10best"]),
                f"freq_chance_{_key(n)}": float(hf.loc[n, "expected_gold_if_random"]),
                f"freq_at1_{_key(n)}": int(hf.loc[n, "queries_with_gold_at_1"]),
            }
        )
    nn = prec[prec["retrieval"] == "nn"].set_index(["pair", "map"])
    short = dict(zip(MAP_ORDER, ("random", "aae", "refined", "supervised")))
    for (n, m), r in nn.iterrows():
        out[f"p1_{_key(n)}_{short[m]}"] = float(r["p@1"])
        out[f"p10_{_key(n)}_{short[m]}"] = float(r["p@10"])
    at_chance = [n for n in names if nn.loc[(n, "AAE (ours)"), "p@1"] <= nn.loc[(n, "random orthogonal"), "p@1"] + 0.01]
    out["at_chance_sentence"] = (
        f"The AAE is at the level of a random orthogonal map on {', '.join(at_chance)}."
        if at_chance
        else "The AAE is above a random orthogonal map on every pair."
    )
    out["lists_by_pair"] = "; ".join(
        f"{n}: {int(hp.loc[n, 'gold_in_10best'])} among the paper's words (random lists: "
        f"{hp.loc[n, 'expected_gold_if_random']:.2f}), {int(hf.loc[n, 'gold_in_10best'])} among the 20 frequent "
        f"words (random: {hf.loc[n, 'expected_gold_if_random']:.2f}; {int(hf.loc[n, 'queries_with_gold_at_1'])} at "
        f"rank 1)"
        for n in names
    )
    out["precision_by_pair"] = "; ".join(
        f"{n}: "
        + ", ".join(
            f"{m} {nn.loc[(n, m), 'p@1']:.3f} / {nn.loc[(n, m), 'p@10']:.3f}" for m in MAP_ORDER if (n, m) in nn.index
        )
        for n in names
    )
    book = [n for n in names if n not in cfg.own_pairs]
    gold = hp.loc[book, "gold_in_10best"].sum() + hf.loc[book, "gold_in_10best"].sum()
    chance = hp.loc[book, "expected_gold_if_random"].sum() + hf.loc[book, "expected_gold_if_random"].sum()
    out["lists_claim_sentence"] = (
        "cannot be held against these runs: every pair ran on data given by the parameters."
        if not book
        else "is not reproduced here: compare the gold counts with what random lists would contain."
        if gold <= 2 * chance + 1
        else "is partly reproduced: the lists contain more translations than random lists would."
    )
    own = [n for n in names if n in cfg.own_pairs]
    out["own_data_sentence"] = (
        f"{', '.join(own)} ran on vectors or a dictionary given by the parameters, not the book's or the paper's: "
        f"the paper has no list or figure for {'it' if len(own) == 1 else 'them'}, so the claims table draws no "
        f"verdict against the paper there."
        if own
        else "Every pair ran on the book's data (the paper's own Wikipedia vectors cannot be had offline)."
    )
    return out


def claims(cfg: Settings, collapse: pd.DataFrame, hits: pd.DataFrame, prec: pd.DataFrame) -> pd.DataFrame:
    """The chapter's claims table (columns artefact, claim, paper, ours, verdict; artefacts are keys of
    ``papers.ARTEFACTS``): the plain GAN's collapse (sec. 2) and, per pair, whether the 10-best lists of the
    frequent words hold translations ("yes": at least 2 and 3 x what random lists would; "partly": more).
    Pairs run on data given by the parameters (:attr:`Settings.own_pairs`) get no row; if the GAN's pair is one
    of them, its row reads :data:`NOT_IN_PAPER` with the verdict :data:`NO_PAPER_FIGURE`."""
    ref, g = _reference(collapse), collapse.loc[GAN_RUNS[0]]
    hf = hits.xs("20 frequent", level="list")
    p1 = prec[prec["retrieval"] == "nn"].set_index(["pair", "map"])["p@1"]
    own = cfg.own_pairs
    gan_own = cfg.gan_pair in own
    rows = [
        {
            "artefact": "aae.gan",
            "claim": "a plain GAN collapses to (near-)constant outputs",
            "paper": NOT_IN_PAPER if gan_own else PAPER_GAN,
            "ours": f"MLP generator: max mean pairwise cosine {g['max mean pairwise cos']:.2f} (target vectors "
            f"{ref:.2f}), min {int(g['min distinct NN'])} distinct nearest words of {cfg.n_probe}"
            + (f" ({cfg.gan_pair}, data given by the parameters)" if gan_own else ""),
            "verdict": NO_PAPER_FIGURE if gan_own else ("yes" if _collapsed(g, ref, cfg.n_probe) else "no"),
        }
    ]
    for n in hf.index:
        if n not in LIST_ARTEFACT or n in own:
            continue
        got, chance = int(hf.loc[n, "gold_in_10best"]), float(hf.loc[n, "expected_gold_if_random"])
        rows.append(
            {
                "artefact": LIST_ARTEFACT[n],
                "claim": f"{n}: the AAE's 10-best lists hold translations or related words",
                "paper": PAPER_LISTS,
                "ours": f"dictionary translations in the 10-best of 20 frequent words: {got} (random lists: "
                f"{chance:.2f}); P@1 {p1[(n, 'AAE (ours)')]:.3f} vs random map "
                f"{p1[(n, 'random orthogonal')]:.3f}",
                "verdict": _lists_verdict(got, chance),
            }
        )
    return pd.DataFrame(rows)
