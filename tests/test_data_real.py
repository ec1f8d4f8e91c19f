"""The offline defaults, as fetched by `make data` (marked slow: they need the cache)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import lpa_utils.data as D
from lpa_utils.data import registry as R

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def need_data():
    missing = [
        n
        for n in (
            "glove-en-50d",
            "fasttext-fr-300d",
            "floret-fi-300d",
            "bible-en-w2v-100d",
            "bible-it-w2v-100d",
            "dict-multiwordnet",
            "dict-freedict-en-it",
            "snli",
            "minilm",
        )
        if not R.get(n).is_cached()
    ]
    if missing:
        pytest.skip(f"not fetched: {missing}; run `make data`")


def test_glove_loads_fast_and_is_glove():
    t0 = time.perf_counter()
    emb = D.load_embeddings("glove-en-50d")
    seconds = time.perf_counter() - t0
    assert seconds < 2.0, f"loading GloVe 400k x 50 took {seconds:.2f} s"
    assert len(emb) == 400_000 and emb.dim == 50 and emb.vectors.dtype == np.float32
    assert emb.words[:5] == ["the", ",", ".", "of", "to"]
    # the official glove.6B.50d.txt first row starts "the 0.418 0.24968 -0.41242 0.1217 0.34527"
    np.testing.assert_allclose(emb.vectors[0, :5], [0.418, 0.24968, -0.41242, 0.1217, 0.34527], rtol=1e-6)
    king, queen, man, woman = emb.vectors[emb.lookup(["king", "queen", "man", "woman"])]
    v = king - man + woman
    sims = emb.vectors[:20000] @ v / np.linalg.norm(emb.vectors[:20000], axis=1)
    assert "queen" in [emb.words[i] for i in np.argsort(-sims)[:5]]
    assert D.load_embeddings("glove-en-50d", max_words=1000).vectors.shape == (1000, 50)


def test_fasttext_fr_and_floret_fi():
    fr = D.load_embeddings("fasttext-fr-300d")
    assert 17_000 < len(fr) <= 20_000 and fr.dim == 300
    assert fr.words[1] == "de" and all(w == w.lower() for w in fr.words)
    x = fr.vectors / np.linalg.norm(fr.vectors, axis=1, keepdims=True)
    roi = fr.lookup(["roi"])[0]
    assert "reine" in [fr.words[i] for i in np.argsort(-(x @ x[roi]))[:10]]
    fi = D.load_embeddings("floret-fi-300d")
    assert len(fi) == 50_000 and fi.dim == 300 and fi.words[2] == "ja"
    assert np.isfinite(fi.vectors).all() and (np.linalg.norm(fi.vectors, axis=1) > 0).all()


def test_bible_w2v_counts_and_halves():
    en = D.load_embeddings("bible-en-w2v-100d")
    assert en.dim == 100 and en.counts is not None and (np.diff(en.counts) <= 0).all()
    assert en.counts.min() >= 5 and en.words[0] == "the"
    sents = D.bible_corpus("en")
    assert len(sents) == 31_102 and sents[0][:4] == ["in", "the", "beginning", "god"]
    from collections import Counter

    c = Counter(w for s in sents for w in s)  # independent count of the corpus
    assert [c[w] for w in en.words[:50]] == en.counts[:50].tolist()
    a, b = D.bible_corpus("it", part="a", tokenized=False), D.bible_corpus("it", part="b", tokenized=False)
    assert len(a) + len(b) == 31_102
    assert (a["chapter"] % 2 == 1).all() and (b["chapter"] % 2 == 0).all()
    assert not set(zip(a.book, a.chapter)) & set(zip(b.book, b.chapter))


def test_word2vec_is_byte_identical_across_processes():
    """A process with another Python hash seed trains the same vectors, byte for byte."""
    import hashlib

    from lpa_utils.data.bible import bible_corpus, train_word2vec

    code = (
        "import hashlib; from lpa_utils.data.bible import bible_corpus, train_word2vec; "
        "w, v, c = train_word2vec(bible_corpus('it')[:1500], 16, epochs=1); "
        "print(hashlib.sha1(v.tobytes()).hexdigest(), len(w))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    w, v, c = train_word2vec(bible_corpus("it")[:1500], 16, epochs=1)
    assert other == f"{hashlib.sha1(v.tobytes()).hexdigest()} {len(w)}"


def test_dictionaries():
    mwn = D.load_dictionary("en-it", source="multiwordnet")
    fd = D.load_dictionary("en-it", source="freedict")
    merged = D.load_dictionary("en-it")
    assert 90_000 < len(mwn) < 100_000 and 5_000 < len(fd) < 7_000
    u = set(map(tuple, mwn.values)) | set(map(tuple, fd.values))
    assert set(map(tuple, merged.values)) == u and len(merged) == len(u)
    assert merged["src"].str.isalpha().all() and (merged["src"] == merged["src"].str.lower()).all()
    assert ("dog", "cane") in u and ("house", "casa") in u
    rev = D.load_dictionary("it-en", source="freedict")
    assert set(map(tuple, rev[["tgt", "src"]].values)) == set(map(tuple, fd.values))


def test_split_on_real_vocabularies():
    en = D.load_embeddings("glove-en-50d", max_words=200_000)
    fr = D.load_embeddings("fasttext-fr-300d")
    sp = D.make_split(D.load_dictionary("en-fr"), en, fr, seed=0)
    m = sp.manifest
    assert m["sizes"]["test"]["src_words"] == 1500 and len(sp.train) == 3000 and len(sp.val) == 150
    assert m["coverage"]["covered_pairs"] > 15_000 and (sp.path / "manifest.json").exists()
    assert not set(sp.test["src"]) & set(sp.rest["src"])


def test_snli():
    s = D.load_snli()
    n = {k: len(v) for k, v in s.items()}
    assert n["train"] + n["dev"] == 99_890 and 5_000 <= n["dev"] < 5_010 and n["test"] == 9_824
    for df in s.values():
        assert list(df.columns) == ["premise", "hypothesis", "label", "label_id"]
        assert set(df["label"]) == {"entailment", "neutral", "contradiction"}
        assert (df["label_id"] == df["label"].map({"entailment": 0, "neutral": 1, "contradiction": 2})).all()
    assert not set(s["dev"]["premise"]) & set(s["train"]["premise"])  # whole premises, like the official splits
    assert D.load_snli()["dev"].equals(s["dev"])


def test_encoders():
    texts = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
    X = D.encode_sentences(texts, "minilm")
    assert X.shape == (3, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert X[0] @ X[1] > X[0] @ X[2] + 0.3
    np.testing.assert_array_equal(D.encode_sentences(texts[::-1], "minilm"), X[::-1])  # from the cache
    G = D.encode_sentences(texts, "glove-mean")
    emb = D.load_embeddings("glove-en-50d")
    ref = emb.vectors[emb.lookup(["the", "stock", "market", "fell", "sharply", "today", "."])].mean(0)
    np.testing.assert_allclose(G[2], ref, rtol=1e-5, atol=1e-6)
