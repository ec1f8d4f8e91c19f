"""File formats of the data layer, on small files written here in the real formats, and every bad input
of issue 3: each error must name the file and the line."""

from __future__ import annotations

import gzip
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from lpa_utils.data.errors import DataError
from lpa_utils.data.formats import (
    read_dictd,
    read_multiwordnet_lemmas,
    read_nli_jsonl,
    read_pairs,
    read_vectors,
    read_vectors_binary,
    read_vectors_text,
    single_words,
    write_vectors_binary,
    write_vectors_text,
)

RNG = np.random.default_rng(0)
WORDS = ["the", "città", "nan", "null", '"quoted', "#hash", "e-mail", "naïve"]
VECS = RNG.standard_normal((len(WORDS), 4)).astype(np.float32)


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def _rows(words, vecs, trailing=""):
    return "".join(f"{w} " + " ".join(repr(float(x)) for x in v) + trailing + "\n" for w, v in zip(words, vecs))


# ----------------------------------------------------------------------------------------------- good files
@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("trailing", ["", " "])
def test_text_vectors_roundtrip(tmp_path, header, trailing):
    """word2vec text (header), GloVe (no header), fastText .vec (header + trailing space); odd words kept."""
    text = (f"{len(WORDS)} 4\n" if header else "") + _rows(WORDS, VECS, trailing)
    words, vecs = read_vectors_text(_write(tmp_path / "v.vec", text))
    assert words == WORDS
    np.testing.assert_array_equal(vecs, VECS)  # repr(float) round-trips float32 exactly
    assert vecs.dtype == np.float32


def test_text_vectors_gz_and_max_words(tmp_path):
    p = tmp_path / "v.txt.gz"
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write(f"{len(WORDS)} 4\n" + _rows(WORDS, VECS))
    words, vecs = read_vectors(p, max_words=3)
    assert words == WORDS[:3]
    np.testing.assert_array_equal(vecs, VECS[:3])


def test_writer_and_reader_agree(tmp_path):
    p = write_vectors_text(tmp_path / "w.txt", WORDS, VECS)
    words, vecs = read_vectors(p)
    assert words == WORDS
    np.testing.assert_allclose(vecs, VECS, atol=1e-6)


def test_binary_roundtrip(tmp_path):
    p = write_vectors_binary(tmp_path / "v.bin", WORDS, VECS)
    words, vecs = read_vectors(p)  # by suffix
    assert words == WORDS
    np.testing.assert_array_equal(vecs, VECS)
    words, vecs = read_vectors_binary(p, max_words=2)
    assert words == WORDS[:2]


def test_binary_without_newlines(tmp_path):
    """Some writers (the original word2vec C tool, optionally) put no newline after each vector."""
    p = tmp_path / "v.bin"
    with open(p, "wb") as fh:
        fh.write(b"2 4\n")
        for w, v in zip(WORDS[:2], VECS[:2]):
            fh.write(w.encode() + b" " + v.astype("<f4").tobytes())
    words, vecs = read_vectors_binary(p)
    assert words == WORDS[:2]
    np.testing.assert_array_equal(vecs, VECS[:2])


# ----------------------------------------------------------------------------------------------- bad files
def _err(excinfo, path, line):
    msg = str(excinfo.value)
    assert str(path) in msg, msg
    if line is not None:
        assert f"line {line}" in msg, msg
        assert excinfo.value.line == line
    return msg


def test_truncated_text_file(tmp_path):
    p = _write(tmp_path / "t.vec", "5 4\n" + _rows(WORDS[:3], VECS[:3]))
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "truncated" in _err(e, p, 5)


def test_truncated_last_row(tmp_path):
    text = "3 4\n" + _rows(WORDS[:2], VECS[:2]) + "naïve 0.1 0.2"  # cut in the middle of line 4
    p = _write(tmp_path / "t.vec", text)
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "ragged" in _err(e, p, 4) and "truncated" in str(e.value)


def test_wrong_header_count(tmp_path):
    p = _write(tmp_path / "h.vec", "2 4\n" + _rows(WORDS[:3], VECS[:3]))
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "wrong header count" in _err(e, p, 4)
    # asking only for the first rows is fine
    words, _ = read_vectors_text(p, max_words=2)
    assert words == WORDS[:2]


def test_ragged_row(tmp_path):
    rows = _rows(WORDS[:4], VECS[:4]).splitlines()
    rows[2] = rows[2] + " 0.5"  # one number too many on line 3 (no header)
    p = _write(tmp_path / "r.txt", "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "ragged" in _err(e, p, 3)


def test_mismatched_dimension_with_header(tmp_path):
    """The header says d=5 but rows have 4 numbers."""
    p = _write(tmp_path / "d.vec", "3 5\n" + _rows(WORDS[:3], VECS[:3]))
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "expected 5" in _err(e, p, 2)


def test_non_number(tmp_path):
    rows = _rows(WORDS[:3], VECS[:3]).splitlines()
    rows[1] = rows[1].rsplit(" ", 1)[0] + " 0.3x"
    p = _write(tmp_path / "n.vec", "3 4\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "not a number" in _err(e, p, 3) and "0.3x" in str(e.value)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "NaN"])
def test_nan_inf_rows(tmp_path, bad):
    rows = _rows(WORDS[:3], VECS[:3]).splitlines()
    rows[2] = rows[2].rsplit(" ", 1)[0] + f" {bad}"
    p = _write(tmp_path / "x.vec", "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "NaN or infinite" in _err(e, p, 3)


def test_undecodable_text(tmp_path):
    p = tmp_path / "u.vec"
    p.write_bytes(b"2 2\nok 1 2\nbad\xff\xfe 1 2\n")
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    _err(e, p, 3)


def test_empty_file(tmp_path):
    p = _write(tmp_path / "e.vec", "")
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "empty" in _err(e, p, 1)


def test_duplicate_words_keep_first_and_warn(tmp_path):
    words = ["a", "b", "a", "c", "b"]
    p = _write(tmp_path / "dup.vec", "5 4\n" + _rows(words, VECS[:5]))
    with pytest.warns(UserWarning, match=r"2 duplicate word\(s\).*'a' \(line 4\)") as w:
        got, vecs = read_vectors_text(p)
    assert str(p) in str(w[0].message)
    assert got == ["a", "b", "c"]
    np.testing.assert_array_equal(vecs, VECS[[0, 1, 3]])


def test_binary_truncated_and_header(tmp_path):
    p = write_vectors_binary(tmp_path / "t.bin", WORDS[:3], VECS[:3])
    blob = p.read_bytes()
    p.write_bytes(blob[:-10])
    with pytest.raises(DataError) as e:
        read_vectors_binary(p)
    assert "truncated" in _err(e, p, 4)
    p.write_bytes(b"2 4\n" + blob[blob.index(b"\n") + 1 :])  # header says 2, three follow
    with pytest.raises(DataError) as e:
        read_vectors_binary(p)
    assert "wrong header count" in str(e.value)
    p.write_bytes(b"not a header\n" + blob)
    with pytest.raises(DataError) as e:
        read_vectors_binary(p)
    _err(e, p, 1)


def test_binary_nan(tmp_path):
    v = VECS[:3].copy()
    v[1, 2] = np.nan
    p = write_vectors_binary(tmp_path / "n.bin", WORDS[:3], v)
    with pytest.raises(DataError) as e:
        read_vectors_binary(p)
    assert "NaN" in _err(e, p, 3)


# ----------------------------------------------------------------------------------------------- dictionaries
def test_read_pairs_muse_and_dinu(tmp_path):
    p = _write(tmp_path / "en-it.txt", "house casa\nhouse abitazione\ndog\tcane\n\nhouse casa\n")
    d = read_pairs(p)
    assert d.values.tolist() == [["house", "casa"], ["house", "abitazione"], ["dog", "cane"]]


def test_read_pairs_bad_line_and_empty(tmp_path):
    p = _write(tmp_path / "bad.txt", "a b\nc d e\n")
    with pytest.raises(DataError) as e:
        read_pairs(p)
    assert "expected 2 fields" in _err(e, p, 2)
    p = _write(tmp_path / "empty.txt", "\n\n")
    with pytest.raises(DataError) as e:
        read_pairs(p)
    assert "empty" in _err(e, p, None)


def _b64(n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    out = ""
    while True:
        out = alphabet[n % 64] + out
        n //= 64
        if n == 0:
            return out


def _dictd(tmp_path, entries: list[tuple[str, str]], name="freedict-eng-xxx"):
    body, index = b"", []
    for head, text in [("00databaseinfo", "info about the database\n"), *entries]:
        b = text.encode("utf-8")
        index.append(f"{head}\t{_b64(len(body))}\t{_b64(len(b))}")
        body += b
    (tmp_path / f"{name}.index").write_text("\n".join(index) + "\n", encoding="utf-8")
    with gzip.open(tmp_path / f"{name}.dict.dz", "wb") as fh:
        fh.write(body)
    return tmp_path / f"{name}.index", tmp_path / f"{name}.dict.dz"


def test_read_dictd_freedict_layouts(tmp_path):
    """Hand-made entries in the layouts seen in eng-ita/fra (plain, numbered senses), eng-deu (tags,
    indented examples/synonyms) and eng-fin (translation line + English gloss lines)."""
    idx, dz = _dictd(
        tmp_path,
        [
            ("house", "house /haus/\nmaison\n"),
            ("run", "run /rʌn/\n1. fonctionner\n2. courir, s'élancer\n"),
            (
                "dog",
                'dog /dˈɒɡ/\nHund <masc> [zool.]\n      "train a dog"  - einen Hund abrichten\n'
                "   Synonym: {dawg}\n\n see: {dogs}\n",
            ),
        ],
    )
    d = read_dictd(idx, dz)
    assert d.values.tolist() == [
        ["house", "maison"],
        ["run", "fonctionner"],
        ["run", "courir"],
        ["run", "s'élancer"],
        ["dog", "Hund"],
    ]
    idx, dz = _dictd(
        tmp_path,
        [
            ("dog", "dog //dɒɡ// <n>\n1. koira\nanimal\n2. uroskoira, koira\nmale canine\n"),
            ("tipsy", "tipsy //ˈtɪp.si// <adj>\nhuppelissa, juovuksissa\nslightly drunk\n"),
            ("house", "house //haʊs// <n>\n1. talo 2.\nhuman abode\n 3.\narchetypal structure\n"),
        ],
        name="freedict-eng-fin",
    )
    d = read_dictd(idx, dz, gloss_lines=True)
    assert d.values.tolist() == [
        ["dog", "koira"],
        ["dog", "uroskoira"],
        ["dog", "koira"],
        ["tipsy", "huppelissa"],
        ["tipsy", "juovuksissa"],
        ["house", "talo"],
    ]
    sw = single_words(d)
    assert sw.values.tolist() == [
        ["dog", "koira"],
        ["dog", "uroskoira"],
        ["tipsy", "huppelissa"],
        ["tipsy", "juovuksissa"],
        ["house", "talo"],
    ]


def test_read_dictd_bad_index(tmp_path):
    idx, dz = _dictd(tmp_path, [("house", "house /haus/\nmaison\n")])
    idx.write_text(idx.read_text() + "broken line without tabs\n")
    with pytest.raises(DataError) as e:
        read_dictd(idx, dz)
    _err(e, idx, 3)
    idx.write_text("house\tZZZZ\tB\n")
    with pytest.raises(DataError) as e:
        read_dictd(idx, dz)
    assert "past the end" in _err(e, idx, 1)


def test_multiwordnet_sql_join():
    en = read_multiwordnet_lemmas(
        "CREATE TABLE english_lemma (...);\n"
        'INSERT INTO english_lemma VALUES ("n#1","n","dog","N");\n'
        'INSERT INTO english_lemma VALUES ("n#1","n","domestic_dog","N");\n'
        'INSERT INTO english_lemma VALUES ("n#2","n","House","N");\n'
    )
    it = read_multiwordnet_lemmas(
        'INSERT INTO italian_lemma VALUES ("n#1","n","cane","N");\n'
        'INSERT INTO italian_lemma VALUES ("n#2","n","casa","N");\n'
        'INSERT INTO italian_lemma VALUES ("n#2","n","l\\"abitazione","N");\n'
    )
    assert it["lemma"].tolist() == ["cane", "casa", 'l"abitazione']
    j = en.merge(it, on="synset", suffixes=("_en", "_it"))
    d = single_words(pd.DataFrame({"src": j["lemma_en"], "tgt": j["lemma_it"]}))
    assert d.values.tolist() == [["dog", "cane"], ["house", "casa"]]


def test_multiwordnet_bad_sql():
    with pytest.raises(DataError, match="x.sql.*no lemma rows"):
        read_multiwordnet_lemmas("CREATE TABLE t (x);\n", "x.sql")
    with pytest.raises(DataError, match="line 2.*unexpected INSERT row"):
        read_multiwordnet_lemmas('INSERT INTO l VALUES ("n#1","n","a","N");\nINSERT INTO l VALUES (1,2);\n', "y.sql")


# ----------------------------------------------------------------------------------------------- NLI
def _nli(tmp_path, recs, name="snli.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    return p


def test_nli_jsonl(tmp_path):
    recs = [
        {"gold_label": lab, "sentence1": f"p{i}", "sentence2": f"h{i}", "pairID": str(i)}
        for i, lab in enumerate(["neutral", "-", "entailment", "contradiction"])
    ]
    df = read_nli_jsonl(_nli(tmp_path, recs))
    assert list(df.columns) == ["premise", "hypothesis", "label", "label_id"]
    assert df["label"].tolist() == ["neutral", "entailment", "contradiction"]
    assert df["label_id"].tolist() == [1, 0, 2]
    assert df["premise"].tolist() == ["p0", "p2", "p3"]
    recs[0]["genre"] = "fiction"
    assert "genre" in read_nli_jsonl(_nli(tmp_path, recs, "mnli.jsonl")).columns


def test_nli_bad_lines(tmp_path):
    ok = {"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}
    p = _nli(tmp_path, [ok, '{"gold_label": "neutral", "sentence1": "a"'])
    with pytest.raises(DataError) as e:
        read_nli_jsonl(p)
    assert "not valid JSON" in _err(e, p, 2)
    p = _nli(tmp_path, [ok, ok, {"gold_label": "maybe", "sentence1": "a", "sentence2": "b"}])
    with pytest.raises(DataError) as e:
        read_nli_jsonl(p)
    assert "unknown gold_label" in _err(e, p, 3)
    p = _nli(tmp_path, [{"gold_label": "neutral", "sentence1": "a"}])
    with pytest.raises(DataError) as e:
        read_nli_jsonl(p)
    assert "missing field" in _err(e, p, 1)


def test_no_warning_on_clean_file(tmp_path):
    p = _write(tmp_path / "ok.vec", "3 4\n" + _rows(WORDS[:3], VECS[:3]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_vectors_text(p)
