"""MUSE-style train / validation / test splits of a bilingual dictionary over two vocabularies.

1. Keep the pairs whose source word is in the source vocabulary and target word in the target vocabulary
   (how many were dropped is reported in the manifest).
2. Test: ``n_test`` source words drawn uniformly at random (``seed``) from the covered source words (or from
   the ``test_pool`` most frequent of them, 5,000 by default as MUSE tests on frequent words), with
   all their pairs (as in Dinu et al. 2015 and MUSE, a test word is scored correct if any of its
   translations is retrieved).
3. Train: pairs of the most frequent remaining source words (frequency = row order of the source
   vocabulary; the targets of a word ordered by the target vocabulary), the first ``n_train`` pairs.
4. Validation: the next ``n_val`` pairs, from source words not used in train or test.
5. ``rest``: every pair whose source word is neither a test nor a validation word (train is part of it):
   the full training dictionary for runs that use all the supervision there is.

The splits are written as TSV (``src<TAB>tgt``) with a ``manifest.json`` under ``<data_dir>/splits/``.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..checks import whole_number
from ..config import data_dir
from ..io import atomic_path, write_json
from .cachedir import ensure_writable
from .errors import DataError


@dataclass
class DictionarySplit:
    """``train``, ``val``, ``test``, ``rest``: DataFrames ``["src", "tgt"]`` (all words in both vocabularies);
    ``manifest``: seed, sizes, vocabularies, coverage; ``path``: the folder with the TSV files."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    rest: pd.DataFrame
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    def pairs(self, which: str, src_emb, tgt_emb) -> np.ndarray:
        """Rows ``(p, 2)`` int64 ``(src_row, tgt_row)`` of split ``which`` in the two vocabularies."""
        df = getattr(self, which)
        return np.stack([src_emb.lookup(df["src"]), tgt_emb.lookup(df["tgt"])], axis=1)


def make_split(
    d: pd.DataFrame,
    src_emb,
    tgt_emb,
    n_test: int = 1500,
    n_train: int = 3000,
    n_val: int = 150,
    seed: int = 0,
    test_pool: int | None = 5000,
    name: str | None = None,
    save: bool = True,
) -> DictionarySplit:
    """Split dictionary ``d`` (``["src", "tgt"]``) MUSE-style over ``src_emb`` / ``tgt_emb`` (see module doc).

    ``test_pool``: draw the test words among the ``test_pool`` most frequent covered source words
    (default 5,000, like MUSE, whose test words rank 5,000-6,500; ``None``: among all of them). Raises
    :class:`DataError` if no pair has both words in the vocabularies, or if there are fewer
    covered source words than ``n_test`` + 1. Sizes are checked where they enter: ``n_test``, ``n_train``, ``n_val``
    and ``seed`` must be integers >= 0 and ``test_pool`` an integer >= 1 or None (``ValueError`` / ``TypeError``
    naming the argument).

    With ``save``, the split is written under ``<data_dir>/splits/<name>-<key>``, ``key`` hashing the dictionary,
    the parameters and the words of both vocabularies in order (all that decides the split): two vocabularies of
    the same name and size but other words never share a folder.
    """
    if not isinstance(d, pd.DataFrame):
        raise DataError(
            f"the dictionary d must be a DataFrame with columns 'src' and 'tgt', got {type(d).__name__}",
            hint="use lpa_utils.data.load_dictionary()",
        )
    if not {"src", "tgt"} <= set(d.columns):
        raise DataError(f"the dictionary needs columns 'src' and 'tgt', has {list(d.columns)}")
    n_test = whole_number(n_test, "make_split: n_test", 0)
    n_train = whole_number(n_train, "make_split: n_train", 0)
    n_val = whole_number(n_val, "make_split: n_val", 0)
    seed = whole_number(seed, "make_split: seed", 0)
    test_pool = whole_number(test_pool, "make_split: test_pool", 1, allow_none=True)
    for arg, emb in (("src_emb", src_emb), ("tgt_emb", tgt_emb)):
        if not (hasattr(emb, "lookup") and hasattr(emb, "words")):
            raise TypeError(
                f"make_split: {arg} must be an Embeddings (with .words and .lookup), got {type(emb).__name__}"
            )
    d = d[["src", "tgt"]].drop_duplicates(ignore_index=True)
    src_vocab = getattr(src_emb, "name", "") or "source vocabulary"
    tgt_vocab = getattr(tgt_emb, "name", "") or "target vocabulary"
    rs, rt = src_emb.lookup(d["src"]), tgt_emb.lookup(d["tgt"])
    ok = (rs >= 0) & (rt >= 0)
    if not ok.any():
        raise DataError(
            f"empty overlap: none of the {len(d)} dictionary pairs has its source word in {src_vocab} "
            f"({len(src_emb)} words) and its target word in {tgt_vocab} ({len(tgt_emb)} words)",
            hint="check the languages and the casing (dictionaries are lowercase), or use a larger max_words",
        )
    cov = pd.DataFrame({"src": d["src"][ok].to_numpy(), "tgt": d["tgt"][ok].to_numpy(), "rs": rs[ok], "rt": rt[ok]})
    cov = cov.sort_values(["rs", "rt"], kind="stable").reset_index(drop=True)
    words = cov["src"].drop_duplicates().to_numpy()  # by source frequency
    if len(words) <= n_test:
        raise DataError(
            f"only {len(words)} covered source words, fewer than n_test + 1 = {n_test + 1}",
            hint="lower n_test or use larger vocabularies",
        )
    rng = np.random.default_rng(seed)
    pool = len(words) if test_pool is None else min(int(test_pool), len(words))
    if pool < n_test:
        raise DataError(f"test_pool={test_pool} is smaller than n_test={n_test}")
    test_words = set(words[np.sort(rng.choice(pool, size=n_test, replace=False))])
    is_test = cov["src"].isin(test_words).to_numpy()
    remaining = cov[~is_test]
    train = remaining.iloc[:n_train]
    after = remaining.iloc[len(train) :]
    after = after[~after["src"].isin(set(train["src"]))]
    val = after.iloc[:n_val]
    val_words = set(val["src"])
    rest = remaining[~remaining["src"].isin(val_words)]
    test = cov[is_test]
    strip = lambda df: df[["src", "tgt"]].reset_index(drop=True)  # noqa: E731
    train, val, test, rest = strip(train), strip(val), strip(test), strip(rest)
    if len(train) < n_train or len(val) < n_val:
        warnings.warn(
            f"make_split: asked for {n_train} train / {n_val} val pairs, got {len(train)} / {len(val)} "
            f"({len(words)} covered source words, {len(cov)} covered pairs)",
            UserWarning,
            stacklevel=2,
        )
    manifest = {
        "seed": int(seed),
        "requested": {"n_test_words": n_test, "n_train_pairs": n_train, "n_val_pairs": n_val, "test_pool": test_pool},
        "sizes": {
            k: {"pairs": int(len(v)), "src_words": int(v["src"].nunique())}
            for k, v in (("train", train), ("val", val), ("test", test), ("rest", rest))
        },
        "vocabularies": {
            "src": {"name": src_vocab, "size": len(src_emb)},
            "tgt": {"name": tgt_vocab, "size": len(tgt_emb)},
        },
        "coverage": {
            "dictionary_pairs": int(len(d)),
            "covered_pairs": int(len(cov)),
            "dropped_pairs": int(len(d) - len(cov)),
            "dropped_src_oov": int((rs < 0).sum()),
            "dropped_tgt_oov": int(((rs >= 0) & (rt < 0)).sum()),
            "dictionary_src_words": int(d["src"].nunique()),
            "covered_src_words": int(len(words)),
            "pair_coverage": round(float(len(cov) / max(len(d), 1)), 4),
        },
        "method": "test: random source words (seed); train: most frequent remaining source words; "
        "val: next source words; rest: all pairs but test and val words",
    }
    split = DictionarySplit(train, val, test, rest, manifest)
    if save:
        split.path = _save(split, d, name or f"{src_vocab}--{tgt_vocab}", (src_emb.words, tgt_emb.words))
        split.manifest["path"] = str(split.path)
    return split


def _words_digest(words) -> bytes:
    """sha1 of a vocabulary's words in order (what decides a split; the vectors do not)."""
    return hashlib.sha1(
        pd.util.hash_pandas_object(pd.Series(list(words), dtype=object), index=False).to_numpy().tobytes()
    ).digest()


def _save(split: DictionarySplit, d: pd.DataFrame, name: str, vocabularies) -> Path:
    h = hashlib.sha1(pd.util.hash_pandas_object(d, index=False).to_numpy().tobytes())
    h.update(json.dumps({k: split.manifest[k] for k in ("seed", "requested", "vocabularies")}, sort_keys=True).encode())
    for words in vocabularies:  # the content of both vocabularies, not only their names and sizes
        h.update(_words_digest(words))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    folder = data_dir() / "splits" / f"{safe}-{h.hexdigest()[:12]}"
    if (folder / "manifest.json").exists():
        return folder
    ensure_writable(folder.parent)
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        for k in ("train", "val", "test", "rest"):
            getattr(split, k).to_csv(tmp / f"{k}.tsv", sep="\t", index=False, lineterminator="\n")
        write_json(tmp / "manifest.json", {**split.manifest, "path": str(folder)})
    return folder
