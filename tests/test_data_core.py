"""Embeddings, the registry / prepared cache, MUSE-style splits and the sentence cache, on small
synthetic data (hand-worked cases and plain-Python references). Fast: no fetched data needed."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import lpa_utils.data as D
from lpa_utils.data import encoders as E
from lpa_utils.data import registry as R
from lpa_utils.data.errors import DataError
from lpa_utils.data.formats import write_vectors_text


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LPA_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _emb(n=50, d=8, seed=0, prefix="w", name="toy"):
    rng = np.random.default_rng(seed)
    return D.Embeddings([f"{prefix}{i}" for i in range(n)], rng.standard_normal((n, d)), name=name)


# ----------------------------------------------------------------------------------------------- Embeddings
def test_lookup_matches_a_dict_reference():
    emb = _emb(1000)
    rng = np.random.default_rng(1)
    queries = [f"w{i}" for i in rng.integers(0, 1500, 500)]
    ref = {w: i for i, w in enumerate(emb.words)}
    np.testing.assert_array_equal(emb.lookup(queries), [ref.get(q, -1) for q in queries])
    assert emb.lookup(pd.Series(["w3", "zz"])).tolist() == [3, -1]
    assert emb.lookup("w7").tolist() == [7]
    assert "w5" in emb and "zz" not in emb
    assert emb.lookup([]).shape == (0,)


def test_top_subset_tensor():
    emb = _emb(20, 4)
    emb.counts = np.arange(20, 0, -1)
    t = emb.top(5)
    assert t.words == emb.words[:5] and t.counts.tolist() == [20, 19, 18, 17, 16] and len(t) == 5
    s = emb.subset(["w9", "nope", "w2", "w9"])
    assert s.words == ["w9", "w2"]
    np.testing.assert_array_equal(s.vectors, emb.vectors[[9, 2]])
    assert s.counts.tolist() == [11, 18]
    x = emb.tensor("cpu")
    assert tuple(x.shape) == (20, 4) and str(x.dtype) == "torch.float32"
    np.testing.assert_array_equal(x.numpy(), emb.vectors)
    assert emb.dim == 4 and emb.frequencies().sum() == pytest.approx(1.0)


def test_embeddings_bad_input():
    with pytest.raises(DataError, match="mismatched sizes: 3 words but 2 vector rows"):
        D.Embeddings(["a", "b", "c"], np.zeros((2, 4)), name="x")
    v = np.zeros((3, 4))
    v[1, 2] = np.inf
    with pytest.raises(DataError, match="NaN or inf.*'b'"):
        D.Embeddings(["a", "b", "c"], v)
    with pytest.warns(UserWarning, match="1 duplicate word"):
        e = D.Embeddings(["a", "b", "a"], np.arange(12.0).reshape(3, 4))
    assert e.words == ["a", "b"] and e.vectors[0].tolist() == [0, 1, 2, 3]


def test_load_embeddings_from_path_and_cache(tmp_path, cache):
    emb = _emb(30, 5)
    p = write_vectors_text(tmp_path / "toy.vec", emb.words, emb.vectors)
    a = D.load_embeddings(p, max_words=10)
    assert a.words == emb.words[:10] and a.vectors.shape == (10, 5)
    np.testing.assert_allclose(a.vectors, emb.vectors[:10], atol=1e-6)
    b = D.load_embeddings(p, cache=True)  # parsed once into .npy under the cache
    folders = list((cache / "embeddings").glob("file-toy.vec-*"))
    assert len(folders) == 1 and (folders[0] / "vectors.npy").exists()
    c = D.load_embeddings(str(p), cache=True, max_words=7)
    np.testing.assert_array_equal(c.vectors, b.vectors[:7])
    with pytest.raises(DataError, match="not found"):
        D.load_embeddings(tmp_path / "missing.vec")


# ----------------------------------------------------------------------------------------------- registry
def test_registry_is_complete():
    names = set(D.DATASETS)
    for lang in ("en", "it", "de", "es"):
        for dim in (100, 300):
            assert f"bible-{lang}-w2v-{dim}d" in names
            assert {f"bible-{lang}-w2v-{dim}d-a", f"bible-{lang}-w2v-{dim}d-b"} <= names
    assert {
        "glove-en-50d",
        "fasttext-fr-300d",
        "floret-fi-300d",
        "snli",
        "minilm",
        "dict-multiwordnet",
        "dinu-en-300d",
        "vecmap-fi-300d",
        "muse-it-300d",
        "snli-official",
        "mnli",
    } <= names
    for d in D.DATASETS.values():
        assert d.licence and d.title and d.chapters, d.name
        assert callable(R._resolve(d.builder)), d.name
        for s in d.sources:
            if d.offline:  # the offline defaults are pinned
                assert s.sha256 and len(s.sha256) == 64, d.name
            else:  # the papers' data: a URL; a checksum is recorded on first download where none is published
                assert s.url.startswith("http"), d.name
    assert R.get("bible-en-w2v-64d").params["vector_size"] == 64  # any dimension on demand
    with pytest.raises(KeyError, match="unknown dataset"):
        R.get("glove-xx-1d")


def test_keys_depend_on_inputs():
    a = R.get("bible-en-w2v-100d")
    assert a.key() == R.get("bible-en-w2v-100d").key()
    assert (
        len(
            {
                a.key(),
                R.get("bible-en-w2v-100d-a").key(),
                R.get("bible-en-w2v-300d").key(),
                R.get("bible-it-w2v-100d").key(),
            }
        )
        == 4
    )
    b = R.Dataset(**{**a.__dict__, "params": {**a.params, "seed": 1}})
    assert b.key() != a.key()


CALLS = []


def build_toy(ds, files, out):
    CALLS.append(ds.name)
    if ds.params.get("fail"):
        (out / "half.npy").write_bytes(b"half-written")
        raise RuntimeError("interrupted")
    emb = _emb(12, 3)
    from lpa_utils.data.embeddings import save_arrays

    return save_arrays(out, emb.words, emb.vectors)


def test_prepare_is_atomic_and_idempotent(cache, monkeypatch, capsys):
    toy = R.Dataset("toy-emb", "embeddings", "toy", builder="test_data_core:build_toy", licence="none", chapters="-")
    bad = R.Dataset("toy-bad", "embeddings", "toy", builder="test_data_core:build_toy", params={"fail": True})
    monkeypatch.setitem(R.DATASETS, "toy-emb", toy)
    monkeypatch.setitem(R.DATASETS, "toy-bad", bad)
    CALLS.clear()
    with pytest.raises(RuntimeError, match="interrupted"):
        bad.prepare(quiet=True)
    assert not bad.is_cached() and not bad.path().exists()
    assert not any((cache / "embeddings").iterdir())  # no temporary left behind
    assert D.fetch(["toy-emb"], quiet=True) == {"toy-emb": "prepared"}
    meta = json.loads((toy.path() / "meta.json").read_text())
    assert meta["rows"] == 12 and set(meta["files"]) == {"vectors.npy", "words.txt"}
    capsys.readouterr()
    assert D.fetch(["toy-emb"]) == {"toy-emb": "cached"}
    assert "nothing to do" in capsys.readouterr().out
    assert CALLS == ["toy-bad", "toy-emb"]
    emb = D.load_embeddings("toy-emb")
    assert len(emb) == 12 and emb.name == "toy-emb"
    (toy.path() / "words.txt").unlink()  # a damaged folder is not trusted
    assert not toy.is_cached()
    t = D.info_table()
    assert {"name", "source", "licence", "rows / dims", "status", "MB"} <= set(t.columns)
    assert t.set_index("name").loc["dinu-en-300d", "status"] == "needs network"


# ----------------------------------------------------------------------------------------------- splits
def test_make_split_hand_worked():
    """12 source words s0..s11 (frequency order), 2 targets each (t{i}a, t{i}b); s11's targets are OOV."""
    src = _emb(12, 3, prefix="s", name="SRC")
    tw = [f"t{i}{x}" for i in range(11) for x in "ab"]
    tgt = D.Embeddings(tw, np.ones((len(tw), 3)), name="TGT")
    d = pd.DataFrame(
        {
            "src": [f"s{i}" for i in range(12) for _ in "ab"] + ["zz"],
            "tgt": [f"t{i}{x}" for i in range(12) for x in "ab"] + ["t0a"],
        }
    )
    sp = D.make_split(d.sample(frac=1, random_state=3), src, tgt, n_test=4, n_train=5, n_val=2, seed=0, save=False)
    rng = np.random.default_rng(0)  # the same draw as the implementation: 4 of the 11 covered words
    test_words = {f"s{i}" for i in np.sort(rng.choice(11, size=4, replace=False))}
    assert set(sp.test["src"]) == test_words and len(sp.test) == 8
    remaining = [f"s{i}" for i in range(11) if f"s{i}" not in test_words]
    want_train = [(w, f"t{w[1:]}{x}") for w in remaining for x in "ab"][:5]
    assert list(map(tuple, sp.train.values)) == want_train  # most frequent first, 5 pairs
    third = remaining[2]  # its 2nd pair did not fit in train; val starts at the next word
    assert list(sp.val["src"]) == [remaining[3]] * 2
    assert set(sp.rest["src"]) == set(remaining) - {remaining[3]}
    assert (third, f"t{third[1:]}b") in set(map(tuple, sp.rest.values))
    m = sp.manifest
    assert m["coverage"]["dropped_pairs"] == 3 and m["coverage"]["dropped_src_oov"] == 1
    assert m["coverage"]["dropped_tgt_oov"] == 2 and m["sizes"]["test"]["src_words"] == 4
    assert m["vocabularies"]["src"] == {"name": "SRC", "size": 12}
    P = sp.pairs("train", src, tgt)
    assert P.shape == (5, 2) and (P >= 0).all()


def test_make_split_properties_and_saving(cache):
    rng = np.random.default_rng(5)
    src, tgt = _emb(3000, 4, prefix="s", name="S"), _emb(3000, 4, prefix="t", name="T")
    d = pd.DataFrame(
        {"src": [f"s{i}" for i in rng.integers(0, 3500, 9000)], "tgt": [f"t{i}" for i in rng.integers(0, 3500, 9000)]}
    ).drop_duplicates()
    sp = D.make_split(d, src, tgt, n_test=500, n_train=1000, n_val=50, seed=7)
    tr, va, te, rest = (set(x["src"]) for x in (sp.train, sp.val, sp.test, sp.rest))
    assert not (te & (tr | va | rest)) and not (va & tr) and not (va & rest) and tr <= rest
    assert len(sp.train) == 1000 and len(sp.val) == 50 and len(te) == 500
    for part in (sp.train, sp.val, sp.test, sp.rest):
        assert (src.lookup(part["src"]) >= 0).all() and (tgt.lookup(part["tgt"]) >= 0).all()
    ranks = src.lookup(sp.train["src"])
    assert (np.diff(ranks) >= 0).all()  # most frequent first
    again = D.make_split(d, src, tgt, n_test=500, n_train=1000, n_val=50, seed=7)
    pd.testing.assert_frame_equal(again.test, sp.test)
    other = D.make_split(d, src, tgt, n_test=500, n_train=1000, n_val=50, seed=8, save=False)
    assert set(other.test["src"]) != te
    files = sorted(p.name for p in sp.path.iterdir())
    assert files == ["manifest.json", "rest.tsv", "test.tsv", "train.tsv", "val.tsv"]
    back = pd.read_csv(sp.path / "test.tsv", sep="\t", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, sp.test)
    assert json.loads((sp.path / "manifest.json").read_text())["seed"] == 7


def test_make_split_empty_overlap():
    d = pd.DataFrame({"src": ["House", "Dog"], "tgt": ["casa", "cane"]})
    with pytest.raises(DataError, match="empty overlap: none of the 2 dictionary pairs.*SRC.*TGT"):
        D.make_split(d, _emb(5, name="SRC"), _emb(5, name="TGT"), n_test=1, save=False)


def test_load_dictionary_from_path(tmp_path):
    p = tmp_path / "en-it.0-5000.txt"
    p.write_text("House casa\nhouse casa\ndog cane\n")
    d = D.load_dictionary(p)
    assert d.values.tolist() == [["house", "casa"], ["dog", "cane"]]
    with pytest.raises(DataError, match="pair must look like"):
        D.load_dictionary("english")


# ----------------------------------------------------------------------------------------------- sentence cache
def test_sentence_cache_encodes_only_new_texts(monkeypatch, cache):
    seen = []

    import torch

    threads_seen = []

    def fake(texts, device, batch_size, path="fp32"):
        seen.extend(texts)
        threads_seen.append(torch.get_num_threads())
        return np.array([[len(t), t.count("a"), 1.0] + [0.0] * 381 for t in texts], dtype=np.float32)

    monkeypatch.setattr(E, "_encode_minilm", fake)
    monkeypatch.setattr(E, "SHARD", 2)
    X = D.encode_sentences(["a cat", "a dog", "a cat", "banana"], "minilm", progress=False)
    assert X.shape == (4, 384) and X.dtype == np.float32
    assert seen == ["a cat", "a dog", "banana"]  # repeats encoded once
    np.testing.assert_array_equal(X[0], X[2])
    seen.clear()
    Y = D.encode_sentences(["banana", "new one", "a dog"], "minilm", progress=False)
    assert seen == ["new one"]
    np.testing.assert_array_equal(Y[0], X[3])
    np.testing.assert_array_equal(Y[2], X[1])
    assert len(list(E._cache_dir("minilm").glob("shard-*.npz"))) == 3
    # each encoding of new texts is logged (3 texts, then 1); the caller's thread count is restored
    assert [e["texts"] for e in E.encode_log()] == [3, 1]
    before = torch.get_num_threads()
    threads_seen.clear()
    D.encode_sentences(["one more"], "minilm", progress=False, threads=1)
    assert threads_seen == [1] and torch.get_num_threads() == before
    assert E.encode_log()[-1]["threads"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert D.encode_sentences([], "minilm").shape == (0, 384)
    with pytest.raises(DataError, match="unknown encoder"):
        D.encode_sentences(["x"], "bert")


def test_glove_mean_reference():
    emb = D.Embeddings(["the", "cat", "sat", "."], np.array([[1, 0], [0, 2], [4, 4], [9, 9]], np.float32))
    X = E.glove_mean(["The cat.", "unknown words", "cat cat sat"], emb)
    np.testing.assert_allclose(X, [[10 / 3, 11 / 3], [0, 0], [4 / 3, 8 / 3]], rtol=1e-6)


def test_cli_info_and_fetch_errors(capsys):
    from lpa_utils.data.__main__ import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "glove-en-50d" in out and "needs network" in out and "built on first use" in out
    assert main(["fetch", "no-such-dataset"]) == 2
    assert "unknown dataset 'no-such-dataset'" in capsys.readouterr().err


def test_describe_uses_registry_title_or_name():
    import numpy as np

    from lpa_utils.data import DATASETS
    from lpa_utils.data.embeddings import Embeddings

    e = Embeddings(["a", "b"], np.eye(2), name="glove-en-50d")
    assert e.describe() == f"{DATASETS['glove-en-50d'].title}, 2 words x 2d"
    assert Embeddings(["a"], np.ones((1, 3)), name="my.vec").describe() == "my.vec, 1 word x 3d"
