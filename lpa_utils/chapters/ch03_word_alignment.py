"""Chapter 03 (cross-lingual word alignment, LPL paper section 4.2): pairs, data, Table 1a's rows, Table 2.

The notebook ``notebooks/03_word_alignment.ipynb`` calls these functions; they do the work:

- :func:`settings` checks the notebook's parameters (:func:`check_data_params`; lists and mappings may be the
  strings papermill's ``-p`` passes) and resolves them for the profile (pairs, seeds, sizes, SGD settings) into a
  :class:`Settings`; :func:`load_data` loads its pairs. A pair is any name: one of :data:`PAIRS`, or a new one
  given by its vectors, dictionary and optional test dictionary (languages from the name ``"src-tgt"``, labels
  from the files' names).
- :func:`load_pair` loads a language pair's embeddings, dictionary and a MUSE-style split through
  :mod:`lpa_utils.data` (names from :data:`PAIRS`, or paths, so the Dinu / VecMap files work unchanged).
- The paper's figures stand beside ours only where the pair and the data are the paper's own or the book's
  (:attr:`PairConfig.paper_figures`); a pair run on one's own data (:func:`own_data_pairs`) reads
  :data:`NOT_IN_PAPER` in the tables and :data:`NO_PAPER_FIGURE` in the claims.
- :data:`TABLE1A` lists the rows of the paper's Table 1a (plus orthogonal Procrustes and MSE with CSLS) as
  compositions of the Artetxe et al. (2018) steps of :mod:`lpa_utils.align`, each with its retrieval; the paper's
  numbers (on its own data: Dinu EN-IT and the VecMap EN-DE/FI/ES files) are :data:`lpa_utils.report.papers.TABLE1A`.
- :func:`planted_check` runs every aligner on a planted rotation first; :func:`compact_space` gives retrieval the
  same cosines in the mapped sources' dimension.
- :func:`neighbour_table` (Table 2: the neighbours of "windows" in the source, target and combined aligned spaces)
  and :func:`plot_table1a`.
- The study itself (runs that redraw the split, the validation grid, the self-learning peer, the fewer-pairs sweep,
  the verdicts) is :mod:`lpa_utils.chapters.ch03_study`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from lpa_utils.align import (
    LeastSquares,
    Normalize,
    Pipeline,
    Procrustes,
    SGDAligner,
    ShigetoRidge,
    artetxe2016,
    artetxe2018,
    smith2017,
)
from lpa_utils.chapters.common import Chapter, list_param, own_pair_hint
from lpa_utils.chapters.common import check_data_params as _check_data_params
from lpa_utils.data import DictionarySplit, load_dictionary, load_embeddings, make_split
from lpa_utils.maths.retrieval import evaluate_translation, translate, word_rows
from lpa_utils.report import papers, plotting

# ------------------------------------------------------------------------------------------------- pairs


def languages(pair: str) -> tuple[str, str]:
    """The source and target languages of a pair name ``"src-tgt"`` (``"en-xx"`` -> ``("en", "xx")``); a name of
    another form gives ``("src", "tgt")``."""
    m = re.fullmatch(r"([A-Za-z]{2,3})-([A-Za-z]{2,3})", pair)
    return (m[1].lower(), m[2].lower()) if m else ("src", "tgt")


def short_name(spec: str) -> str:
    """A dataset name as it is, a file path by its file name (how tables and labels name the data)."""
    s = str(spec)
    return Path(s).name if (os.sep in s or "/" in s or Path(s).suffix) else s


@dataclass
class PairConfig:
    """Where one language pair's data comes from (names of :mod:`lpa_utils.data` datasets, or file paths)."""

    pair: str  # "en-it"
    src: str  # source embeddings: a dataset name or a path
    tgt: str  # target embeddings
    dictionary: str = "merged"  # dictionary source ("merged" | "multiwordnet" | "freedict") or a path
    label: str = ""  # short description of the vectors, shown in every table row
    n_test: int = 1500  # test source words
    test_dictionary: str | None = None  # a separate test dictionary file (Dinu / VecMap); then no random test
    given: tuple[str, ...] = ()  # what the run was given instead of the book's defaults (names or paths)

    @property
    def langs(self) -> tuple[str, str]:
        """Source and target language, from the pair name (:func:`languages`)."""
        return languages(self.pair)

    @property
    def arrow(self) -> str:
        """``"EN->IT"``: the direction as the labels write it."""
        return "->".join(lang.upper() for lang in self.langs)

    @property
    def paper_figures(self) -> bool:
        """Whether the paper's Table 1a figures stand beside this pair's (:func:`papers.table1a_applies`): the
        pair is in the table and it runs on the book's data or on the paper's own files."""
        return papers.table1a_applies(self.pair, self.given)

    @property
    def own_data(self) -> bool:
        """The run was given vectors or dictionaries other than the book's and the paper's: no paper figure."""
        return bool(self.given) and not self.paper_figures


def given_label(cfg: PairConfig) -> str:
    """The label of a pair whose vectors were given: their names (files by file name) and the direction."""
    return f"{short_name(cfg.src)} -> {short_name(cfg.tgt)} {cfg.arrow}"


def bible_pairs(dim: int = 100) -> dict[str, PairConfig]:
    """EN-IT / EN-DE / EN-ES on our Bible word2vec vectors (``dim`` = 100 or 300), both sides trained alike."""
    return {
        f"en-{lang}": PairConfig(
            f"en-{lang}",
            f"bible-en-w2v-{dim}d",
            f"bible-{lang}-w2v-{dim}d",
            "merged",
            f"Bible word2vec {dim}d EN->{lang.upper()}",
            n_test=500,
        )
        for lang in ("it", "de", "es")
    }


#: the offline defaults (DATA.md): Bible word2vec for IT / DE / ES; GloVe 50d -> floret (FI) and -> fastText (FR)
PAIRS: dict[str, PairConfig] = {
    **bible_pairs(100),
    "en-fi": PairConfig(
        "en-fi", "glove-en-50d", "floret-fi-300d", "freedict", "GloVe 50d -> floret 300d EN->FI", n_test=1500
    ),
    "en-fr": PairConfig(
        "en-fr", "glove-en-50d", "fasttext-fr-300d", "merged", "GloVe 50d -> fastText 300d EN->FR", n_test=1500
    ),
}


def pair_config(pair: str, known: Mapping[str, PairConfig] | None = None) -> PairConfig:
    """The :class:`PairConfig` of a book pair (a key of ``known``, default :data:`PAIRS`); ``ValueError`` listing
    the book's pairs and how to give one's own otherwise."""
    known = PAIRS if known is None else known
    if pair not in known:
        raise ValueError(f"pair {pair!r} is not one of the book's pairs ({', '.join(known)}); " + own_pair_hint(pair))
    return known[pair]


def check_data_params(
    pairs: Sequence[str], known: Mapping[str, PairConfig] | None = None, **params: Any
) -> dict[str, dict[str, str]]:
    """:func:`lpa_utils.chapters.common.check_data_params` with the chapter's pairs (``known``, default
    :data:`PAIRS`): checks ``src_vectors``, ``tgt_vectors``, ``dictionaries`` and ``test_dictionaries`` against
    ``pairs`` and returns, per pair, the :func:`load_pair` arguments they give (``src``, ``tgt``, ``dictionary``,
    ``test_dictionary``)."""
    return _check_data_params(pairs, PAIRS if known is None else known, **params)


@dataclass
class PairData:
    """One pair, ready to align: vectors, words, row pairs of the split, and provenance."""

    config: PairConfig
    src_emb: Any
    tgt_emb: Any
    split: Any  # lpa_utils.data.DictionarySplit (train, val, test, rest DataFrames)
    train: np.ndarray  # (p, 2) int64 rows (source row, target row)
    val: np.ndarray  # (p_val, 2)
    rest: np.ndarray  # (p_rest, 2): every pair whose source word is neither test nor validation
    manifest: dict = field(default_factory=dict)

    @property
    def X(self) -> np.ndarray:
        return self.src_emb.vectors

    @property
    def Y(self) -> np.ndarray:
        return self.tgt_emb.vectors

    @property
    def label(self) -> str:
        return self.config.label or f"{self.src_emb.name} -> {self.tgt_emb.name}"

    @property
    def vectors_label(self) -> str:
        """:attr:`label` without its direction (``"Bible word2vec 100d"``), for a panel's title."""
        return self.label.removesuffix(f" {self.config.arrow}")

    @property
    def data_label(self) -> str:
        """What every table row says about its data: vectors, dictionary, sizes."""
        return (
            f"{self.label}; dictionary {short_name(self.config.dictionary)}; "
            f"vocab {len(self.src_emb):,}/{len(self.tgt_emb):,}; train {len(self.train):,} pairs, "
            f"val {len(self.val):,}, test {self.split.test['src'].nunique():,} words"
        )


def _band_validation(train: pd.DataFrame, n_val: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validation pairs = all pairs of source words drawn at random (``seed``) from the training frequency band,
    until at least ``n_val`` pairs; the rest stays training data. Returns ``(train, val)``."""
    words = pd.unique(train["src"])
    order = np.random.default_rng(seed).permutation(len(words))
    counts = train.groupby("src", sort=False).size().reindex(words[order]).to_numpy()
    take = int(np.searchsorted(np.cumsum(counts), n_val) + 1)
    val_words = set(words[order[:take]])
    is_val = train["src"].isin(val_words)
    return train[~is_val].reset_index(drop=True), train[is_val].reset_index(drop=True)


def _band_validation_words(train: pd.DataFrame, n_words: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validation = all pairs of ``n_words`` source words drawn at random (``seed``) from the training frequency
    band; the rest stays training data, in its order. Returns ``(train, val)``."""
    words = pd.unique(train["src"])
    if n_words >= len(words):
        raise ValueError(f"n_val_words={n_words}: the training band has only {len(words)} source words")
    pick = set(words[np.random.default_rng(seed).permutation(len(words))[:n_words]])
    is_val = train["src"].isin(pick)
    return train[~is_val].reset_index(drop=True), train[is_val].reset_index(drop=True)


def load_pair(
    pair: str | PairConfig,
    *,
    src: str | None = None,
    tgt: str | None = None,
    dictionary: str | None = None,
    test_dictionary: str | None = None,
    n_test: int | None = None,
    n_train: int = 3000,
    n_val: int = 150,
    val_from: str = "band",
    max_src: int | None = 20000,
    max_tgt: int | None = 20000,
    seed: int = 0,
    save_split: bool = True,
    vectors: tuple | None = None,
    n_val_words: int | None = None,
) -> PairData:
    """Load a pair's embeddings, dictionary and train / validation / test split.

    Args:
        pair: a key of :data:`PAIRS` (``"en-it"``, ...) or a :class:`PairConfig`; ``src`` / ``tgt`` / ``dictionary``
            override its embeddings (dataset names or paths of word2vec text/binary files) and dictionary (source
            name or path of a ``"src tgt"`` file, e.g. Dinu's ``OPUS_en_it_europarl_train_5K.txt``).
        test_dictionary: path of a separate test dictionary (Dinu / VecMap protocol); without it, ``n_test``
            random source words of the dictionary are held out (MUSE style, :func:`lpa_utils.data.make_split`).
        n_train, n_val: training and validation pairs (the paper: 3,000 and 150).
        val_from: ``"band"`` (default): validation words drawn at random from the training frequency band (the
            most frequent non-test words), so that validation resembles training and test; ``"next"``: the data
            layer's words right after the training ones (on the small Bible vocabularies these are rare words
            with P@1 near 0 for every method, useless for model selection).
        max_src, max_tgt: vocabulary sizes (most frequent words); retrieval searches the whole target vocabulary.
        n_val_words: with ``val_from="band"``, validation = all pairs of this many source words drawn at random from
            the training band (``n_val`` is then ignored), and training = the first ``n_train`` of the remaining
            band pairs (fewer when the dictionary has fewer; the manifest's ``final_sizes`` says how many).
        vectors: ``(source, target)`` embeddings already loaded (the same files and sizes), so that runs that only
            redraw the split (``seed``) do not read the files again.
    """

    cfg = pair_config(pair) if isinstance(pair, str) else pair
    new = {"src": src, "tgt": tgt, "dictionary": dictionary, "test_dictionary": test_dictionary}
    changed = {k: str(v) for k, v in new.items() if v and str(v) != getattr(cfg, k)}
    cfg = replace(
        cfg,
        **changed,
        n_test=n_test if n_test is not None else cfg.n_test,
        given=tuple(dict.fromkeys([*cfg.given, *changed.values()])),
    )
    if "src" in changed or "tgt" in changed:
        cfg.label = given_label(cfg)
    if val_from not in ("band", "next"):
        raise ValueError(f"val_from must be 'band' or 'next', got {val_from!r}")
    if vectors is not None:
        se, te = vectors
    else:
        se = load_embeddings(cfg.src, max_words=max_src)
        te = load_embeddings(cfg.tgt, max_words=max_tgt)
    lang_pair = cfg.pair

    def dictionary_of(spec: str):
        if spec in ("merged", "multiwordnet", "freedict") or spec.startswith(("dinu-", "vecmap-", "muse-")):
            return load_dictionary(lang_pair, source=spec)
        return load_dictionary(spec)

    d = dictionary_of(cfg.dictionary)
    if n_val_words is not None and val_from != "band":
        raise ValueError("n_val_words needs val_from='band'")
    extra_val = (4 * int(n_val_words) if n_val_words else n_val) if val_from == "band" else 0
    if cfg.test_dictionary:
        split = _split_with_test_file(
            d, dictionary_of(cfg.test_dictionary), se, te, n_train + extra_val, n_val if val_from == "next" else 0
        )
    else:
        split = make_split(
            d,
            se,
            te,
            n_test=cfg.n_test,
            n_train=n_train + extra_val,
            n_val=n_val if val_from == "next" else 0,
            seed=seed,
            save=save_split,
            name=f"{cfg.pair}-{se.name}--{te.name}",
        )
    if val_from == "band" and n_val_words:
        split.train, split.val = _band_validation_words(split.train, int(n_val_words), seed)
        split.train = split.train.iloc[:n_train].reset_index(drop=True)
    elif val_from == "band":
        split.train, split.val = _band_validation(split.train, n_val, seed)
    if val_from == "band":
        val_words = set(split.val["src"])
        split.rest = split.rest[~split.rest["src"].isin(val_words)].reset_index(drop=True)
    manifest = dict(split.manifest)
    manifest["validation"] = val_from
    manifest["final_sizes"] = {
        k: {"pairs": int(len(getattr(split, k))), "src_words": int(getattr(split, k)["src"].nunique())}
        for k in ("train", "val", "test", "rest")
    }
    return PairData(
        cfg,
        se,
        te,
        split,
        split.pairs("train", se, te),
        split.pairs("val", se, te),
        split.pairs("rest", se, te),
        manifest,
    )


def _split_with_test_file(d_train, d_test, se, te, n_train, n_val):
    """Dinu / VecMap protocol: the test file is the test set; train (first ``n_train`` in-vocabulary pairs of the
    training file, in file order) and the next ``n_val`` pairs of other source words."""

    def covered(df):
        ok = (se.lookup(df["src"]) >= 0) & (te.lookup(df["tgt"]) >= 0)
        return df[ok].reset_index(drop=True)

    test = d_test[["src", "tgt"]].reset_index(drop=True)  # OOV test pairs are dropped and counted later
    pool = covered(d_train)
    pool = pool[~pool["src"].isin(set(test["src"]))].reset_index(drop=True)
    train = pool.iloc[:n_train]
    after = pool.iloc[len(train) :]
    val = after[~after["src"].isin(set(train["src"]))].iloc[:n_val]
    rest = pool[~pool["src"].isin(set(val["src"]))]
    strip = lambda df: df[["src", "tgt"]].reset_index(drop=True)  # noqa: E731
    return DictionarySplit(
        strip(train),
        strip(val),
        test,
        strip(rest),
        {
            "method": "test: the given test dictionary; train: first pairs of the training file",
            "sizes": {"train": len(train), "val": len(val), "test": len(test)},
        },
    )


# ---------------------------------------------------------------------------------------------- settings
#: The planted problem of :func:`planted_check`, the same in every profile: ``n`` random ``dim``-d source vectors,
#: targets = a random rotation plus Gaussian noise (std ``noise``); ``n_train`` training pairs, ``n_val``
#: validation pairs and ``n_test`` test words; the SGD rows run ``epochs`` epochs without early stopping.
PLANTED = dict(n=3000, dim=24, noise=0.05, n_train=1000, n_val=100, n_test=500, epochs=100)
#: P@1 (CSLS) that every aligner must reach on the planted problem.
PLANTED_MIN_P1 = 0.99


@dataclass
class Settings:
    """What the chapter runs in this profile (from the notebook's parameters, see :func:`settings`)."""

    profile: str  # "full" | "smoke"
    seeds: tuple[int, ...]  # SGD runs per cell
    pairs: list[str]  # pairs of Table 1a, in column order
    configs: dict[str, PairConfig]  # where each pair's data comes from (keys of PAIRS, Bible pairs at bible_dim)
    overrides: dict[str, dict]  # per pair: load_pair keyword arguments (src, tgt, dictionary, ..., n_test)
    max_words: int  # vocabulary size per side
    n_train: int  # training pairs (the paper: 3,000)
    n_val: int  # validation pairs (the paper: 150)
    sgd: dict[str, Any]  # SGDAligner settings of every SGD row (SGD_DEFAULTS with k and beta)
    sweep_pairs: list[str]  # pairs of the fewer-pairs study
    sizes: tuple  # training-set sizes of the fewer-pairs study ("all": the whole pool)
    ks: tuple[int, ...]  # ablation grid of the LPL neighbourhood size k
    betas: tuple[float, ...]  # ablation grid of the LPL weight beta (eq. 7)
    ablation_pair: str
    table2_words: list[str]

    def params(self) -> dict[str, Any]:
        """The resolved settings, as the results file stores them."""
        return {
            "pairs": self.pairs,
            "seeds": list(self.seeds),
            "max_words": self.max_words,
            "sgd": self.sgd,
            "sweep_pairs": self.sweep_pairs,
            "sizes": [str(s) for s in self.sizes],
            "ks": list(self.ks),
            "betas": list(self.betas),
            "ablation_pair": self.ablation_pair,
            "table2_words": self.table2_words,
        }

    def __str__(self) -> str:
        return (
            f"profile {self.profile}: pairs {self.pairs}, seeds {self.seeds}, vocabularies up to "
            f"{self.max_words:,} words, SGD up to {self.sgd['epochs']} epochs;\n"
            f"fewer pairs on {self.sweep_pairs}, sizes {self.sizes}; ablation on {self.ablation_pair}, "
            f"k in {self.ks}, beta in {self.betas}"
        )


def settings(
    ch: Chapter,
    *,
    seeds: Sequence[int] | None = None,
    pairs: Sequence[str] | None = None,
    bible_dim: int = 100,
    max_words: int | None = None,
    n_train: int = 3000,
    n_val: int = 150,
    k: int = 10,
    beta: float = 1.0,
    sweep_pairs: Sequence[str] | None = None,
    ablation_pair: str | None = None,
    table2_words: Sequence[str] = ("windows",),
    src_vectors: dict | None = None,
    tgt_vectors: dict | None = None,
    dictionaries: dict | None = None,
    test_dictionaries: dict | None = None,
) -> Settings:
    """The chapter's :class:`Settings` for ``ch.profile``; the notebook's parameters keep their meaning.

    ``None`` picks the profile's default: full -- seeds (0, 1, 2), the five pairs, 20,000 words, SGD_DEFAULTS,
    fewer pairs on EN-IT and EN-DE at 100 ... 3,000 and all pairs, k in (1, 5, 10, 20), beta in (0.1 ... 10);
    smoke -- seed 0, EN-IT and EN-FR, 5,000 words, 200 / 300 test words, 10 SGD epochs without early stopping,
    fewer pairs on EN-IT at 100, 500 and all pairs, k in (1, 10), beta in (1, 3). Fewer pairs and the ablation
    run on those default pairs that are in ``pairs``, else on the first pair. ``k`` and ``beta`` are LPL's
    neighbourhood size and weight (eq. 7).

    ``pairs`` may name any pair: one of :data:`PAIRS`, or a new one (``"en-xx"``; languages from the name) given
    with ``src_vectors``, ``tgt_vectors`` and ``dictionaries`` (and optionally ``test_dictionaries``), which map a
    pair to a dataset name or a file path (for a book pair they replace its default, see :func:`load_pair`).
    Lists and mappings may come as the strings papermill's ``-p`` passes (``'["en-xx"]'``); every parameter is
    checked here (:func:`check_data_params`, :func:`lpa_utils.chapters.common.list_param`), with an error that
    names it. The resolved settings are added to the parameters of ``ch.results``.
    """
    smoke_n_test = {"en-it": 200, "en-fr": 300, "en-de": 200, "en-es": 200, "en-fi": 300}
    pairs = list_param("pairs", pairs, example='["en-xx"]') or ch.pick(
        ["en-it", "en-de", "en-fi", "en-es", "en-fr"], ["en-it", "en-fr"]
    )
    seeds = list_param("seeds", seeds, item=int, example="[0, 1, 2]")
    sweep_pairs = list_param("sweep_pairs", sweep_pairs, example=json.dumps(pairs[:1]))
    table2_words = list_param("table2_words", table2_words, example='["windows", "king"]', empty=True)
    for name, chosen in (
        ("sweep_pairs", sweep_pairs or []),
        ("ablation_pair", [ablation_pair] if ablation_pair else []),
    ):
        for p in chosen:
            if not isinstance(p, str) or p not in pairs:
                raise ValueError(
                    f"parameter {name}: {p!r} is not in pairs {pairs}; name one of them (or add it to pairs)"
                )
    known = {**PAIRS, **bible_pairs(bible_dim)}
    given = check_data_params(
        pairs,
        known,
        src_vectors=src_vectors,
        tgt_vectors=tgt_vectors,
        dictionaries=dictionaries,
        test_dictionaries=test_dictionaries,
    )
    configs = dict(known)
    for p in pairs:
        if p not in known:
            g = given[p]
            cfg = PairConfig(
                p,
                g["src"],
                g["tgt"],
                g["dictionary"],
                n_test=ch.pick(1500, 300),
                test_dictionary=g.get("test_dictionary"),
                given=tuple(dict.fromkeys(g.values())),
            )
            configs[p] = replace(cfg, label=given_label(cfg))
    n_test = ch.pick({}, smoke_n_test)
    overrides = {p: {**given[p], **({"n_test": n_test[p]} if p in n_test else {})} if p in known else {} for p in pairs}
    default_sweep = ch.pick(["en-it", "en-de"], ["en-it"])
    cfg = Settings(
        profile=ch.profile,
        seeds=tuple(seeds or ch.pick((0, 1, 2), (0,))),
        pairs=pairs,
        configs=configs,
        overrides=overrides,
        max_words=max_words or ch.pick(20_000, 5_000),
        n_train=n_train,
        n_val=n_val,
        sgd=ch.pick(dict(SGD_DEFAULTS, k=k, beta=beta), dict(SGD_DEFAULTS, k=k, beta=beta, epochs=10, patience=None)),
        sweep_pairs=sweep_pairs or [p for p in default_sweep if p in pairs] or pairs[:1],
        sizes=ch.pick((100, 250, 500, 1000, 2000, 3000, "all"), (100, 500, "all")),
        ks=ch.pick((1, 5, 10, 20), (1, 10)),
        betas=ch.pick((0.1, 0.3, 1.0, 3.0, 10.0), (1.0, 3.0)),
        ablation_pair=ablation_pair or ("en-it" if "en-it" in pairs else pairs[0]),
        table2_words=table2_words,
    )
    ch.results.params.update(cfg.params())
    return cfg


def load_data(cfg: Settings) -> dict[str, PairData]:
    """:func:`load_pairs` of ``cfg.pairs`` (in order) with the settings' vocabulary and split sizes."""
    return load_pairs(
        [cfg.configs[p] for p in cfg.pairs],
        overrides=cfg.overrides,
        max_src=cfg.max_words,
        max_tgt=cfg.max_words,
        n_train=cfg.n_train,
        n_val=cfg.n_val,
    )


def data_glue(cfg: Settings, datas: dict[str, PairData]) -> dict[str, Any]:
    """Values for the prose of the data and methods sections: vocabulary size, training / validation pairs asked
    for, the test words per pair (e.g. ``"200 for EN-IT, 300 for EN-FR"``), the size of the paper's training
    dictionaries, and the planted problem (``planted_<key>`` of :data:`PLANTED`, ``planted_min_p1``)."""
    tests = ", ".join(f"{d.split.test['src'].nunique():,} for {p.upper()}" for p, d in datas.items())
    return {
        "data_max_words": int(cfg.max_words),
        "data_n_train": int(cfg.n_train),
        "data_n_val": int(cfg.n_val),
        "data_test_words": tests,
        "paper_train_pairs": papers.DATA_SIZES["train_pairs"][0],
        **{f"planted_{k}": v for k, v in PLANTED.items()},
        "planted_min_p1": PLANTED_MIN_P1,
    }


# ---------------------------------------------------------------------------------------------- Table 1a
@dataclass
class MethodSpec:
    """A Table 1a row: how to build the aligner, which retrieval scores it, which steps of Table 1b it uses."""

    name: str
    steps: str  # Table 1b transformations, as the paper lists them
    build: Callable[..., Any]  # build(**hyper, seed=, device=, sgd=) -> aligner
    retrieval: str  # "nn" | "csls" | "isf"
    grid: dict[str, Sequence[Any]] = field(default_factory=dict)  # hyperparameters tuned on validation
    sgd: bool = False  # trained by SGD: one run per seed


def sgd_pipeline(loss: str, seed: int = 0, device=None, **kw) -> Pipeline:
    """The SGD rows' aligner: S0 (unit, center) then :class:`lpa_utils.align.SGDAligner` (``loss`` "mse" | "lpa")."""
    return Pipeline(
        [Normalize(("unit", "center"), device=device), SGDAligner(loss, seed=seed, device=device, **kw)],
        name=f"SGD {loss}",
    )


def _sgd(loss: str):
    def build(seed=0, device=None, sgd=None, **hyper):
        return sgd_pipeline(loss, seed=seed, device=device, **{**(sgd or {}), **hyper})

    return build


TABLE1A: list[MethodSpec] = [
    MethodSpec(
        "Shigeto 2015 (T->S)",
        "S0, ridge T->S",
        lambda alpha=1.0, device=None, **_: Pipeline(
            [Normalize(("unit", "center"), device=device), ShigetoRidge(alpha, device=device)]
        ),
        "nn",
        {"alpha": (0.1, 1.0, 10.0)},
    ),
    MethodSpec("Artetxe 2016", "S0, S2", lambda device=None, **_: artetxe2016(device=device), "nn"),
    MethodSpec(
        "Smith 2017 (IS)",
        "S0, S2, S5",
        lambda dims=1.0, device=None, **_: smith2017(dims, device=device),
        "isf",
        {"dims": (0.6, 0.8, 1.0), "beta": (1.0, 10.0, 30.0)},
    ),
    MethodSpec(
        "Artetxe 2018 (NN)",
        "S0-S5",
        lambda dims=1.0, device=None, **_: artetxe2018(dims, device=device),
        "nn",
        {"dims": (0.6, 0.8, 1.0)},
    ),
    MethodSpec(
        "Artetxe 2018 (IS)",
        "S0-S5",
        lambda dims=1.0, device=None, **_: artetxe2018(dims, device=device),
        "isf",
        {"dims": (0.6, 0.8, 1.0), "beta": (1.0, 10.0, 30.0)},
    ),
    MethodSpec("Procrustes (CSLS)", "S0, S2", lambda device=None, **_: artetxe2016(device=device), "csls"),
    MethodSpec("MSE, SGD (NN)", "S0, S2 (ortho) SGD", _sgd("mse"), "nn", sgd=True),
    MethodSpec("MSE, SGD (CSLS)", "S0, S2 (ortho) SGD", _sgd("mse"), "csls", sgd=True),
    MethodSpec("LPA+MSE, SGD (CSLS)", "S0, S2 (ortho) SGD", _sgd("lpa"), "csls", sgd=True),
]

#: SGD settings of the chapter, the same for MSE and LPA (fixed during development on EN-IT, Bible 100d): Adam,
#: lr 0.03, mini-batches of 256 pairs (shuffled by the seed), at most 150 epochs, validation P@1 every 5 epochs,
#: patience 50 epochs, L_ortho weight 1 (eq. 7), W starting at zero; LPA: k = 10, beta = 1.
SGD_DEFAULTS = dict(
    k=10, beta=1.0, ortho=1.0, epochs=150, lr=0.03, batch_size=256, patience=50, val_every=5, init="zeros"
)


def compact_space(Zs, Zt) -> tuple[torch.Tensor, torch.Tensor]:
    """The same cosines in fewer dimensions: mapped sources ``Zs`` (n, d) of rank r < d - 1 (a 50d source mapped
    into a 300d target space has r <= 50) and targets ``Zt`` (m, d) become ``Zs Q`` and ``[Zt Q, rho]`` with Q (d, r)
    an orthonormal basis of the sources' span and ``rho = sqrt(|z|^2 - |z Q|^2)`` the targets' norm outside it (the
    sources' is 0). Every inner product and norm, hence every cosine, NN / CSLS / inverted-softmax score, is
    unchanged (up to float rounding), while retrieval costs r + 1 instead of d per pair. Returns the inputs as
    tensors when nothing is gained."""
    Zs, Zt = torch.as_tensor(Zs, dtype=torch.float32), torch.as_tensor(Zt, dtype=torch.float32)
    d = Zs.shape[1]
    if d < 64 or Zt.shape[1] != d:
        return Zs, Zt
    _, sv, Vh = torch.linalg.svd(Zs.double(), full_matrices=False)
    r = int((sv > sv[0] * 1e-6).sum())
    if r >= d - 1 or r * 2 > d:
        return Zs, Zt
    Q = Vh[:r].T  # (d, r)
    Zt64 = Zt.double()
    inside = Zt64 @ Q
    rho = (Zt64.pow(2).sum(1) - inside.pow(2).sum(1)).clamp_min(0).sqrt()[:, None]
    src = torch.cat([Zs.double() @ Q, torch.zeros(len(Zs), 1, dtype=torch.float64)], 1)
    return src.float(), torch.cat([inside, rho], 1).float()


def _score(
    aligner, data: PairData, df: pd.DataFrame, method: str, beta: float = 10.0, device=None, mapped=None
) -> dict:
    Zs, Zt = mapped if mapped is not None else (aligner.transform(data.X), aligner.transform_target(data.Y))
    Zs, Zt = compact_space(Zs.cpu() if hasattr(Zs, "cpu") else Zs, Zt.cpu() if hasattr(Zt, "cpu") else Zt)
    return evaluate_translation(
        Zs, Zt, data.src_emb.words, data.tgt_emb.words, df, method=method, beta=beta, device=device
    )


def _tune(spec: MethodSpec, data: PairData, device=None) -> tuple[dict, Any, tuple, float]:
    """Grid search of ``spec.grid`` on the validation pairs (retrieval = the row's own); returns the best
    hyperparameters, the fitted aligner, its mapped vocabularies and the best validation P@1. The retrieval
    parameter ``beta`` (inverse temperature) is searched for the best mapping only (it needs no refit)."""
    fit_grid = {k: v for k, v in spec.grid.items() if k != "beta"}
    betas = spec.grid.get("beta", (10.0,))
    keys = list(fit_grid)
    combos = [dict(zip(keys, vals)) for vals in _product([fit_grid[k] for k in keys])] or [{}]
    best = None
    for hyper in combos:
        al = spec.build(device=device, **hyper).fit(data.X, data.Y, data.train, val_pairs=data.val)
        mapped = (al.transform(data.X), al.transform_target(data.Y))
        # mappings compared by NN on validation (cheap); isf temperature chosen afterwards for the best one
        p1 = (
            _score(
                al,
                data,
                data.split.val,
                "nn" if spec.retrieval == "isf" else spec.retrieval,
                device=device,
                mapped=mapped,
            )["p@1"]
            if len(combos) > 1
            else 0.0
        )
        if best is None or p1 > best[3]:
            best = (hyper, al, mapped, p1)
    hyper, al, mapped, p1 = best
    if spec.retrieval == "isf":
        scores = [
            (_score(al, data, data.split.val, "isf", beta=b, device=device, mapped=mapped)["p@1"], -i, b)
            for i, b in enumerate(betas)
        ]
        p1, _, b = max(scores)
        hyper = {**hyper, "beta": b}
    return hyper, al, mapped, p1


def _product(lists):
    if not lists:
        return []
    return list(itertools.product(*lists))


def load_pairs(
    pairs: Sequence[str | PairConfig], overrides: dict[str, dict] | None = None, **kw
) -> dict[str, PairData]:
    """:func:`load_pair` for several pairs (keys of :data:`PAIRS` or :class:`PairConfig`), keyed by pair name;
    ``overrides[pair]`` holds per-pair keyword arguments (``src``, ``tgt``, ``dictionary``, ``test_dictionary``,
    ``n_test``, ...), ``kw`` the shared ones."""
    overrides = overrides or {}
    out = {}
    for p in pairs:
        name = p if isinstance(p, str) else p.pair
        out[name] = load_pair(p, **{**kw, **overrides.get(name, {})})
    return out


def data_table(datas: dict[str, PairData]) -> pd.DataFrame:
    """One row per pair: vectors, dictionary, vocabulary sizes, split sizes and dictionary coverage."""
    rows = []
    for p, d in datas.items():
        cov = d.manifest.get("coverage", {})
        rows.append(
            {
                "pair": p,
                "vectors": d.label,
                "dictionary": d.config.dictionary,
                "src vocab": len(d.src_emb),
                "tgt vocab": len(d.tgt_emb),
                "dim": f"{d.src_emb.dim} -> {d.tgt_emb.dim}",
                "train pairs": len(d.train),
                "train words": d.split.train["src"].nunique(),
                "val pairs": len(d.val),
                "test words": d.split.test["src"].nunique(),
                "test pairs": len(d.split.test),
                "pool (all) pairs": len(d.rest),
                "dictionary pairs in both vocabularies": cov.get("covered_pairs"),
            }
        )
    return pd.DataFrame(rows)


#: What the paper column says for a pair run on data other than the book's and the paper's own.
NOT_IN_PAPER = "not in the paper"


def own_data_pairs(datas: Mapping[str, PairData] | None) -> set[str]:
    """The pairs of ``datas`` that ran on vectors or dictionaries given by the user, not the book's defaults or
    the paper's own files (:attr:`PairConfig.own_data`): no paper figure stands beside them."""
    return {p for p, d in (datas or {}).items() if d.config.own_data}


# ------------------------------------------------------------------------------------------ fewer pairs


def _subset_by_words(pool: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """All pairs of random source words (``seed``) until ``size`` pairs, cut to exactly ``size``."""
    words = pd.unique(pool["src"])
    order = words[np.random.default_rng(seed).permutation(len(words))]
    rank = pd.Series(np.arange(len(order)), index=order)
    sub = pool.assign(_r=rank.reindex(pool["src"]).to_numpy()).sort_values("_r", kind="stable")
    return sub.iloc[:size][["src", "tgt"]].reset_index(drop=True)


# -------------------------------------------------------------------------------------------- ablations


# ---------------------------------------------------------------------------------------------- Table 2
def neighbour_table(
    data: PairData, aligners: dict[str, Any], words: Sequence[str], n: int = 8, device=None
) -> pd.DataFrame:
    """Table 2: nearest neighbours (cosine) of each word in the source space, in the target space (of its first
    gold translation in the test/train dictionary that the target vocabulary holds), and in the combined aligned
    space of each aligner (mapped source vocabulary and target vocabulary together, so neighbours mix both
    languages; target words marked ``[xx]``). Neighbours that are themselves training source words are marked
    with ``*`` (the paper's "nt/2000" discussion). Words missing from the source vocabulary are skipped.

    Returns a long table: ``word``, ``space`` (``"source"``, ``"target (<translation>)"``, ``"aligned: <name>"``),
    ``neighbours`` (a comma-separated string) and ``n_train_neighbours``.
    """
    se, te = data.src_emb, data.tgt_emb
    words = [w for w in words if w in se]
    if not words:
        return pd.DataFrame(columns=["word", "space", "neighbours", "n_train_neighbours"])
    rows_w = word_rows(se.words, words)
    train_src = set(data.split.train["src"])
    src_lang, lang = data.config.langs
    src_words = np.asarray(se.words, dtype=object)
    tgt_words = np.asarray(te.words, dtype=object)
    gold = pd.concat([data.split.test, data.split.train, data.split.val, data.split.rest])
    gold = gold[gold["src"].isin(words) & (te.lookup(gold["tgt"]) >= 0)].drop_duplicates("src")
    gold_of = dict(zip(gold["src"], gold["tgt"]))  # one entry per word: a small dict, not a loop
    out = []

    def mark(ws, is_train):
        return ", ".join(f"{w}*" if t else w for w, t in zip(ws, is_train))

    # source space
    Xs = torch.as_tensor(se.vectors)
    top = translate(Xs[rows_w], Xs, "nn", topk=n + 1, device=device).cpu().numpy()
    for w, r, t in zip(words, rows_w, top):
        t = t[t != r][:n]
        ws = src_words[t]
        flags = [x in train_src for x in ws]
        out.append(
            {
                "word": w,
                "space": f"source ({src_lang.upper()})",
                "neighbours": mark(ws, flags),
                "n_train_neighbours": sum(flags),
            }
        )
    # target space: neighbours of the gold translation
    Yt = torch.as_tensor(te.vectors)
    have = [w for w in words if w in gold_of]
    if have:
        trow = te.lookup([gold_of[w] for w in have])
        topt = translate(Yt[trow], Yt, "nn", topk=n + 1, device=device).cpu().numpy()
        for w, r, t in zip(have, trow, topt):
            t = t[t != r][:n]
            out.append(
                {
                    "word": w,
                    "space": f"target ({lang.upper()}: {gold_of[w]})",
                    "neighbours": ", ".join(tgt_words[t]),
                    "n_train_neighbours": 0,
                }
            )
    # combined aligned space
    for name, al in aligners.items():
        Zs, Zt = al.transform(se.vectors), al.transform_target(te.vectors)
        Z = torch.cat([Zs, Zt.to(Zs.device)], 0)
        labels = np.concatenate([src_words, (pd.Series(tgt_words) + f" [{lang}]").to_numpy(dtype=object)])
        is_train = np.concatenate([np.isin(src_words, list(train_src)), np.zeros(len(te), bool)])
        topc = (
            translate(Zs[torch.as_tensor(rows_w, device=Zs.device)], Z, "nn", topk=n + 1, device=device).cpu().numpy()
        )
        for w, r, t in zip(words, rows_w, topc):
            t = t[t != r][:n]
            out.append(
                {
                    "word": w,
                    "space": f"aligned: {name}",
                    "neighbours": mark(labels[t], is_train[t]),
                    "n_train_neighbours": int(is_train[t].sum()),
                }
            )
    df = pd.DataFrame(out)
    order = {w: i for i, w in enumerate(words)}
    return df.sort_values("word", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------- methods and checks
def methods_table() -> pd.DataFrame:
    """One row per :data:`TABLE1A` method: its Table 1b steps, retrieval, what is tuned on validation and whether
    the paper's Table 1a has the row (``"yes"``) or the chapter adds it (``"added"``)."""
    return pd.DataFrame(
        [
            {
                "method": s.name,
                "steps (Table 1b)": s.steps,
                "retrieval": s.retrieval.upper(),
                "tuned on validation": ", ".join(s.grid) or ("early stopping" if s.sgd else "-"),
                "paper row": "yes" if s.name in papers.TABLE1A else "added",
            }
            for s in TABLE1A
        ]
    )


def planted_check(
    n: int, dim: int, noise: float, n_train: int, n_val: int, n_test: int, epochs: int, seed: int = 0
) -> pd.DataFrame:
    """Every aligner on a planted problem (the notebook passes :data:`PLANTED`): X (n, dim) standard normal,
    Y = X R + noise (R a random rotation, noise std ``noise``); word i translates to word i. Fits on ``n_train``
    pairs of a random permutation (validation: the next ``n_val`` words), scores P@1 with CSLS on ``n_test`` words
    from the middle of the permutation on; the SGD rows (MSE, eq. 4; LPA, eq. 7) run ``epochs`` epochs of
    :data:`SGD_DEFAULTS` without early stopping. Returns one row per aligner: ``aligner``, ``P@1 (CSLS)``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim)).astype(np.float32)
    R = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    Y = (X @ R + noise * rng.normal(size=X.shape)).astype(np.float32)
    perm = rng.permutation(n)
    tr, va = perm[:n_train], perm[n_train : n_train + n_val]
    te = perm[n // 2 : n // 2 + n_test]
    words = np.array([f"w{i}" for i in range(n)])
    test = pd.DataFrame({"src": words[te], "tgt": words[te]})
    sgd_kw = dict(SGD_DEFAULTS, epochs=epochs, patience=None)
    aligners = {
        "least squares": LeastSquares(device="cpu"),
        "Procrustes": Procrustes(device="cpu"),
        "Shigeto ridge": ShigetoRidge(device="cpu"),
        "Artetxe 2016": artetxe2016(device="cpu"),
        "Smith 2017": smith2017(0.8, device="cpu"),
        "Artetxe 2018": artetxe2018(0.8, device="cpu"),
        "MSE, SGD": sgd_pipeline("mse", seed=seed, device="cpu", **sgd_kw),
        "LPA+MSE, SGD": sgd_pipeline("lpa", seed=seed, device="cpu", **sgd_kw),
    }
    rows = []
    for name, al in aligners.items():
        al.fit(X, Y, np.stack([tr, tr], 1), val_pairs=np.stack([va, va], 1))
        ev = evaluate_translation(
            al.transform(X), al.transform_target(Y), list(words), list(words), test, method="csls", device="cpu"
        )
        rows.append({"aligner": name, "P@1 (CSLS)": ev["p@1"]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------- ablation and Table 2


def neighbour_tables(
    datas: dict[str, PairData], fitted: dict, words: Sequence[str], seed: int = 0, n: int = 8, device=None
) -> dict[str, pd.DataFrame]:
    """:func:`neighbour_table` of every pair for the MSE and LPA+MSE maps of ``seed``; ``fitted`` is the ``keep``
    dict of :func:`run_table1a` (keys ``(pair, "mse" | "lpa", seed)``). Returns the tables keyed by pair."""
    return {
        p: neighbour_table(
            d, {"MSE": fitted[(p, "mse", seed)], "LPA+MSE": fitted[(p, "lpa", seed)]}, words, n=n, device=device
        )
        for p, d in datas.items()
    }


def table2_view(
    neighbours: dict[str, pd.DataFrame], datas: dict[str, PairData], show: Sequence[str] = ("en-it", "en-fr")
) -> pd.DataFrame:
    """Table 2 as the paper lays it out, one neighbour per column: rows (pair, word, space), columns the
    neighbours by rank (1 ... n; ``*`` marks training source words, ``[xx]`` target words) and the number of
    training words among them. Pairs: those of ``show`` that were run, else the first one."""
    keep = [p for p in show if p in neighbours] or list(neighbours)[:1]
    frames = []
    for p in keep:
        t = neighbours[p]
        ranks = t["neighbours"].str.split(", ", expand=True).fillna("")
        ranks.columns = [str(i + 1) for i in range(ranks.shape[1])]
        idx = pd.MultiIndex.from_arrays(
            [[f"{p.upper()} ({datas[p].label})"] * len(t), t["word"], t["space"]], names=["pair", "word", "space"]
        )
        frames.append(ranks.set_index(idx).assign(**{"training words": t["n_train_neighbours"].to_numpy()}))
    return pd.concat(frames) if frames else pd.DataFrame()


# ------------------------------------------------------------------------------------------------ figures
def plot_table1a(runs: pd.DataFrame, datas: dict[str, PairData]) -> plt.Figure:
    """Grouped bars, one panel per pair of the paper's Table 1a that was run: our P@1 (%) of the paper's rows
    (mean, error bars the std over seeds of the SGD rows) beside the paper's figure (on its own data). A pair that
    ran on one's own data (:func:`own_data_pairs`) gets a panel of our bars alone, titled "not in the paper"."""
    panels, own = _paper_pairs(datas), own_data_pairs(datas)
    stats = (runs.groupby(["pair", "method"], sort=False)["p@1"].agg(["mean", "std"]).fillna(0.0) * 100).reset_index()
    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.4), sharey=True, squeeze=False)
    for ax, p in zip(axes[0], panels):
        s = stats[(stats["pair"] == p) & stats["method"].isin(list(papers.TABLE1A))].copy()
        title = f"{p.upper()}: {datas[p].vectors_label}"
        if p in own:
            ax.bar(
                np.arange(len(s)),
                s["mean"],
                yerr=s["std"],
                capsize=3,
                color=plotting.color_for("ours"),
                label="ours (this run)",
            )
            ax.set_xticks(np.arange(len(s)), s["method"], rotation=30, ha="right")
            ax.set(title=f"{title} ({NOT_IN_PAPER})", ylabel="P@1 (%)")
            ax.legend()
        else:
            s["paper"] = s["method"].map(lambda m: papers.TABLE1A[m].get(p, np.nan))
            plotting.ours_vs_paper(
                s, category="method", ours="mean", paper="paper", ours_std="std", ax=ax, title=title, ylabel="P@1 (%)"
            )
        ax.tick_params(axis="x", labelsize=8)
    for ax in axes[0][1:]:
        ax.get_legend().remove()
    note = f"; {', '.join(p.upper() for p in panels if p in own)}: {NOT_IN_PAPER}" if own & set(panels) else ""
    fig.suptitle(f"Table 1a: ours (this run, mean ± std over seeds) beside the paper's (its own data){note}", y=1.02)
    return fig


def _paper_pairs(datas: dict[str, PairData]) -> list[str]:
    """The panels of the Table 1a figure: the pairs beside which the paper's figures stand, and the pairs that ran
    on one's own data (ours alone), in run order."""
    return [p for p in datas if datas[p].config.paper_figures or datas[p].config.own_data]


# ------------------------------------------------------------------------------------- claims and findings
#: The verdict of a claim measured on one's own data: no figure of the paper to hold it against.
NO_PAPER_FIGURE = "no paper figure"


def findings_own(datas: Mapping[str, PairData] | None) -> str:
    """A sentence naming the pairs of ``datas`` that ran on one's own data, for which the claims table draws no
    verdict against the paper (or saying that every pair ran on the book's data)."""
    own = [p for p in (datas or {}) if p in own_data_pairs(datas)]
    if not own:
        return (
            "every pair ran on the book's own data or the paper's files; the paper's figures stand beside ours "
            "wherever the paper has the pair."
        )
    return (
        f"{', '.join(f'{p.upper()} ({datas[p].label})' for p in own)} ran on data given by the parameters, not "
        f"the paper's: the paper has no figure for {'it' if len(own) == 1 else 'them'}, so the tables say "
        f'"{NOT_IN_PAPER}" and the claims table draws no verdict against the paper there '
        f'("{NO_PAPER_FIGURE}").'
    )
