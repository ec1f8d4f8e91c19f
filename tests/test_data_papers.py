"""The papers' own data, end to end on tiny files in the real formats and archive layouts, put in
``downloads/`` by hand as the offline error message says (no network is used)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile

import numpy as np
import pytest

import lpa_utils.data as D
from lpa_utils.data import registry as R
from lpa_utils.data.errors import ChecksumError
from lpa_utils.data.formats import write_vectors_text


@pytest.fixture()
def downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("LPA_DATA", str(tmp_path / "cache"))
    d = tmp_path / "cache" / "downloads"
    d.mkdir(parents=True)
    return d


def _vec_text(words, d=4, seed=0) -> bytes:
    v = np.random.default_rng(seed).standard_normal((len(words), d)).astype(np.float32)
    buf = io.StringIO()
    buf.write(f"{len(words)} {d}\n")
    for w, row in zip(words, v):
        buf.write(w + " " + " ".join(repr(float(x)) for x in row) + "\n")
    return buf.getvalue().encode()


def test_dinu_archive(downloads, capsys):
    en, it = ["the", "house", "dog"], ["la", "casa", "cane"]
    with zipfile.ZipFile(downloads / "transmat.zip", "w") as z:
        z.writestr("data/EN.200K.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt", _vec_text(en))
        z.writestr("data/IT.200K.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt", _vec_text(it, seed=1))
        z.writestr("data/OPUS_en_it_europarl_train_5K.txt", "house casa\nthe la\n")
        z.writestr("data/OPUS_en_it_europarl_test.txt", "dog cane\n")
    e = D.load_embeddings("dinu-en-300d")
    assert e.words == en and e.dim == 4
    assert "recorded sha256 of transmat.zip" in capsys.readouterr().out
    assert D.load_embeddings("dinu-it-300d").words == it
    assert D.load_dictionary("en-it", "dinu-train").values.tolist() == [["house", "casa"], ["the", "la"]]
    assert D.load_dictionary("en-it", "dinu-test").values.tolist() == [["dog", "cane"]]
    rec = json.loads((downloads / "manifest.json").read_text())["transmat.zip"]
    assert len(rec["sha256"]) == 64


def test_vecmap_and_muse(downloads):
    (downloads / "vecmap-fi.emb.txt.gz").write_bytes(gzip.compress(_vec_text(["talo", "koira"])))
    assert D.load_embeddings("vecmap-fi-300d").words == ["talo", "koira"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, text in (
            ("en-fi.train.txt", "house talo\n"),
            ("en-fi.test.txt", "dog koira\n"),
            ("en-de.train.shuf.txt", "x y\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            t.addfile(info, io.BytesIO(text.encode()))
    (downloads / "vecmap-dictionaries.tar.gz").write_bytes(buf.getvalue())
    assert D.load_dictionary("en-fi", "vecmap-test").values.tolist() == [["dog", "koira"]]
    assert D.load_dictionary("fi-en", "vecmap-train").values.tolist() == [["talo", "house"]]
    for suf, text in (("", "house casa\ndog cane\n"), (".0-5000", "house casa\n"), (".5000-6500", "dog cane\n")):
        (downloads / f"muse-en-it{suf}.txt").write_text(text)
    assert D.load_dictionary("en-it", "muse-test").values.tolist() == [["dog", "cane"]]
    assert len(D.load_dictionary("en-it", "muse-full")) == 2
    (downloads / "wiki.it.vec").write_bytes(_vec_text(["casa", "cane", "la"]))
    assert D.load_embeddings("muse-it-300d", max_words=2).words == ["casa", "cane"]


def _nli_lines(n, genre=None):
    labs = ["entailment", "neutral", "contradiction", "-"]
    return "".join(
        json.dumps(
            {
                "gold_label": labs[i % 4],
                "sentence1": f"p{i}",
                "sentence2": f"h{i}",
                **({"genre": genre} if genre else {}),
            }
        )
        + "\n"
        for i in range(n)
    )


def test_snli_official_and_mnli(downloads):
    with zipfile.ZipFile(downloads / "snli_1.0.zip", "w") as z:
        for k, n in (("train", 8), ("dev", 4), ("test", 4)):
            z.writestr(f"snli_1.0/snli_1.0_{k}.jsonl", _nli_lines(n))
    # the published md5/sha1 of the real zip cannot match this tiny one: the checksum is enforced
    with pytest.raises(ChecksumError, match="snli_1.0.zip.*checksum mismatch"):
        D.load_snli("official")
    assert not R.get("snli-official").is_cached()  # nothing prepared from a file that failed its check
    with zipfile.ZipFile(downloads / "multinli_1.0.zip", "w") as z:
        for k in ("train", "dev_matched", "dev_mismatched"):
            z.writestr(f"multinli_1.0/multinli_1.0_{k}.jsonl", _nli_lines(8, genre="fiction"))
    src = R.get("mnli").sources[0]
    import hashlib

    md5 = hashlib.md5((downloads / "multinli_1.0.zip").read_bytes()).hexdigest()
    ds = R.Dataset(**{**R.get("mnli").__dict__, "sources": (type(src)(src.url, src.filename, checksums={"md5": md5}),)})
    folder = ds.prepare(quiet=True)
    import pandas as pd

    dm = pd.read_parquet(folder / "dev_matched.parquet")
    assert len(dm) == 6 and list(dm.columns) == ["premise", "hypothesis", "label", "label_id", "genre"]


def test_snli_and_mnli_from_folders(tmp_path):
    (tmp_path / "snli").mkdir()
    for k in ("train", "dev", "test"):
        (tmp_path / "snli" / f"snli_1.0_{k}.jsonl").write_text(_nli_lines(5))
    s = D.load_snli(tmp_path / "snli")
    assert {k: len(v) for k, v in s.items()} == {"train": 4, "dev": 4, "test": 4}
    (tmp_path / "mnli").mkdir()
    for k in ("train", "dev_matched", "dev_mismatched"):
        (tmp_path / "mnli" / f"multinli_1.0_{k}.jsonl").write_text(_nli_lines(4, genre="travel"))
    m = D.load_mnli(tmp_path / "mnli")
    assert set(m) == {"train", "dev_matched", "dev_mismatched"} and (m["train"]["genre"] == "travel").all()


def test_vectors_by_path_binary(tmp_path):
    from lpa_utils.data.formats import write_vectors_binary

    words = ["a", "b", "c"]
    v = np.arange(12, dtype=np.float32).reshape(3, 4)
    e = D.load_embeddings(write_vectors_binary(tmp_path / "w2v.bin", words, v))
    assert e.words == words
    np.testing.assert_array_equal(e.vectors, v)
    e = D.load_embeddings(write_vectors_text(tmp_path / "glove.txt", words, v, header=False))
    np.testing.assert_array_equal(e.vectors, v)
