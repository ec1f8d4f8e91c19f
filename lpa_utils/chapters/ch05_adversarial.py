"""Chapter 05 (Barone 2016): the plain GAN and the adversarial autoencoder on a synthetic isomorphic pair and on
real language pairs; 10-best lists, the comparison of maps, the chapter's records, findings and claims.

The notebook ``notebooks/05_adversarial_autoencoder.ipynb`` calls these functions; they do the work:

- :func:`settings` turns the profile (and the papermill overrides) into the run's sizes (:class:`Settings`);
- :func:`load_pairs` / :func:`load_pair` load EN-IT, EN-FR and EN-DE (:class:`LanguagePair`), :func:`data_table`
  shows them;
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
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lpa_utils.align import Procrustes
from lpa_utils.align.refine import procrustes_refine
from lpa_utils.checks import as_matrix
from lpa_utils.data import Embeddings, load_dictionary, load_embeddings, make_split
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
def ten_best(mapped, target, src_words: Sequence[str], tgt_words: Sequence[str], dictionary: pd.DataFrame | None = None,
             topk: int = 10) -> pd.DataFrame:
    """The ``topk`` nearest target words (cosine, ``retrieval.translate(method="nn")``) of each mapped source word,
    as in Barone sec. 3's 10-best lists.

    mapped (q, d): mapped vectors of ``src_words`` (q,); target (m, d) with words ``tgt_words`` (m,);
    dictionary: DataFrame ["src", "tgt"] of gold translations (optional). Returns a long DataFrame with columns
    src, rank (1..topk), tgt, cosine, gold (bool: (src, tgt) is in the dictionary).
    """
    mapped = as_matrix(mapped, "ten_best(mapped)")
    target = as_matrix(target, "ten_best(target)", mapped.device)
    if len(src_words) != len(mapped) or len(tgt_words) != len(target):
        raise ValueError(f"ten_best: {len(src_words)} source words for {len(mapped)} rows, "
                         f"{len(tgt_words)} target words for {len(target)} rows; they must match")
    top = torch.as_tensor(translate(mapped, target, method="nn", topk=topk)).long().cpu()
    cos = (F.normalize(mapped, dim=1).unsqueeze(1) * F.normalize(target, dim=1)[top.to(mapped.device)]).sum(-1)
    q = len(src_words)
    tw = np.asarray(tgt_words, dtype=object)
    df = pd.DataFrame({
        "src": np.repeat(np.asarray(src_words, dtype=object), topk),
        "rank": np.tile(np.arange(1, topk + 1), q),
        "tgt": tw[top.numpy().reshape(-1)],
        "cosine": cos.detach().cpu().numpy().reshape(-1).round(4),
    })
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
        first_gold_rank=("rank", lambda r: float(r[tmp.loc[r.index, "gold"]].min()) if tmp.loc[r.index, "gold"].any()
                         else math.nan),
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
    neither isotropic nor symmetric, so the rotation is identifiable), rotated by a Haar-random Q, rows shuffled."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d)) * 3.0
    X = (centres[rng.integers(0, n_clusters, n)] + rng.standard_normal((n, d)) * np.linspace(1.5, 0.3, d))
    X = X.astype(np.float32)
    Q = random_orthogonal(d, seed=seed + 1).numpy().astype(np.float64)
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


def _counts_for(emb, lang: str):
    if emb.counts is not None:
        return np.asarray(emb.counts, dtype=np.int64), "corpus counts of the word2vec training text"
    return wordfreq_counts(emb.words, lang), "wordfreq 'large' frequencies (the vectors ship without counts)"


def load_pair(name: str, src_name: str, tgt_name: str, src_lang: str, tgt_lang: str, max_src: int | None = None,
              max_tgt: int | None = None, reduce_target: bool = True, dictionary_source: str = "merged",
              n_test: int = 500, n_train: int = 1500, seed: int = 0) -> LanguagePair:
    """Load a language pair through ``lpa_utils.data``: keep letters-only words (:func:`alphabetic_rows`), the
    ``max_src`` / ``max_tgt`` most frequent; counts from the corpus or from wordfreq; if the dimensions differ
    and ``reduce_target``, PCA the target down to the source dimension (:func:`pca_reduce`); load the dictionary
    ``src_lang-tgt_lang`` and split it (``make_split``: ``n_test`` random test words, ``n_train`` training pairs
    of the most frequent other words for the supervised Procrustes baseline)."""

    src_all, tgt_all = load_embeddings(src_name), load_embeddings(tgt_name)
    src = src_all.subset([src_all.words[i] for i in alphabetic_rows(src_all.words, max_src)])
    tgt = tgt_all.subset([tgt_all.words[i] for i in alphabetic_rows(tgt_all.words, max_tgt)])
    counts_src, from_src = _counts_for(src, src_lang)
    counts_tgt, from_tgt = _counts_for(tgt, tgt_lang)
    info = {"pair": name, "source": src_name, "target": tgt_name, "source_words": len(src), "target_words": len(tgt),
            "source_dim": src.dim, "target_dim": tgt.dim, "source_counts": from_src, "target_counts": from_tgt,
            "source_text": src_all.source, "target_text": tgt_all.source}
    if src.dim != tgt.dim and reduce_target:
        Yr, evr = pca_reduce(tgt.vectors, src.dim)
        info.update(target_dim=src.dim, target_pca_from=tgt.dim, target_pca_variance_kept=float(evr.sum()))
        tgt = Embeddings(tgt.words, Yr, tgt.counts, name=f"{tgt_name}-pca{src.dim}", source=tgt.source,
                         licence=tgt.licence, check=False)
    d = load_dictionary(f"{src_lang}-{tgt_lang}", source=dictionary_source)
    split = make_split(d, src, tgt, n_test=n_test, n_train=n_train, n_val=0, seed=seed, save=False)
    info.update(dictionary=f"{src_lang}-{tgt_lang} ({dictionary_source})", test_words=int(split.test["src"].nunique()),
                test_pairs=len(split.test), train_pairs=len(split.train),
                covered_source_words=split.manifest["coverage"]["covered_src_words"])
    return LanguagePair(name, src, tgt, counts_src, counts_tgt, d, split, info)


def frequent_words(pair: LanguagePair, n: int = 20, skip: int = 100) -> list[str]:
    """The ``n`` most frequent source words outside the ``skip`` most frequent ones (mostly function words) that
    have at least one dictionary translation in the target vocabulary: a rule, not a hand-picked list."""
    d = pair.dictionary
    translatable = set(d.loc[d["tgt"].isin(pair.tgt.index), "src"])
    words = pd.Series(pair.src.words[skip:], dtype=object)
    return words[words.isin(translatable)].head(n).tolist()


def compare_maps(pair: LanguagePair, aae: AdversarialAutoencoder, seed: int = 0, methods: Sequence[str] = ("nn", "csls"),
                 ks: Sequence[int] = (1, 10), refine_iters: int = 5, refine_words: int = 5000):
    """P@k on ``pair.split.test`` of: a random orthogonal map, the AAE, the AAE refined MUSE-style
    (:func:`procrustes_refine` from its mutual nearest neighbours among the ``refine_words`` most frequent words),
    and supervised Procrustes fit on ``pair.split.train`` (all in the AAE's standardised coordinates, so every
    map sees the same spaces and is scored on the same test words, with ``retrieval.evaluate_translation``).

    Returns ``(table, extra)``: table with columns pair, map, retrieval, p@k..., n_queries; extra with the
    refinement history and the mapped matrices.
    """

    Xs = (torch.as_tensor(pair.src.vectors, device=aae.device) - aae.src_mean_) / aae.src_std_
    Yt = aae.transform_target(pair.tgt.vectors)
    mapped = {"random orthogonal": Xs @ random_orthogonal(Yt.shape[1], Xs.shape[1], seed=seed + 1000,
                                                             device=aae.device).T,
              "AAE (ours)": aae.transform(pair.src.vectors)}
    refined, hist = procrustes_refine(Xs, Yt, mapped["AAE (ours)"], n_iter=refine_iters, n_src=refine_words,
                                      n_tgt=refine_words)
    mapped["AAE + Procrustes refinement"] = refined
    sup = Procrustes().fit(Xs, Yt, pair.split.pairs("train", pair.src, pair.tgt))
    mapped["supervised Procrustes"] = sup.transform(Xs)
    rows = []
    for name, Z in mapped.items():
        for m in methods:
            ev = evaluate_translation(Z, Yt, pair.src.words, pair.tgt.words, pair.split.test, method=m, ks=ks)
            rows.append({"pair": pair.name, "map": name, "retrieval": m, **{f"p@{k}": ev[f"p@{k}"] for k in ks},
                         "n_queries": ev["n_queries"]})
    return pd.DataFrame(rows), {"refinement": hist, "mapped": mapped, "target": Yt}


