"""Issue 16: every bad input gets a clear error, and nothing is trusted that was not checked.

One test per case of the probe: the input, and the error it must now raise (the data layer's error naming the
file and the line or entry, or a ``ValueError`` / ``TypeError`` naming the argument). The property-based
counterpart is ``test_data_fuzz.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lpa_utils.data as D
from lpa_utils.align import LeastSquares, Procrustes, ShigetoRidge
from lpa_utils.data import cachedir as C
from lpa_utils.data import registry as R
from lpa_utils.data import sources as S
from lpa_utils.data.__main__ import main as cli
from lpa_utils.data.errors import CacheError, ChecksumError, DataError
from lpa_utils.data.fetch import prune
from lpa_utils.data.formats import (
    read_dictd,
    read_nli_jsonl,
    read_pairs,
    read_vectors,
    read_vectors_binary,
    read_vectors_text,
    write_vectors_binary,
    write_vectors_text,
)
from lpa_utils.maths.retrieval import evaluate_translation

WORDS = ["the", "città", "of", "naïve"]
VECS = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
BOM = b"\xef\xbb\xbf"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LPA_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _text(words=WORDS, vecs=VECS, header=True) -> str:
    rows = "".join(f"{w} " + " ".join(repr(float(x)) for x in v) + "\n" for w, v in zip(words, vecs))
    return (f"{len(words)} {vecs.shape[1]}\n" if header else "") + rows


def _where(e, path, line=None) -> str:
    """The error names the file (and the line) at the start of its message."""
    msg = str(e.value)
    assert isinstance(e.value, DataError), type(e.value)
    assert str(path) in msg, msg
    if line is not None:
        assert f"line {line}" in msg and e.value.line == line, msg
    return msg


def _peak_mb(fn, *args, **kwargs):
    """(result or exception, peak traced allocation in MB) of ``fn(*args, **kwargs)``."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - returned to the caller, which checks its type
            out = e
        return out, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


# ============================================================================================== 1. header claims
def test_binary_header_claiming_1e12_rows_is_refused_before_allocating(tmp_path):
    p = tmp_path / "huge.bin"
    blob = write_vectors_binary(tmp_path / "ok.bin", WORDS, VECS).read_bytes()
    p.write_bytes(b"1000000000000 3\n" + blob[blob.index(b"\n") + 1 :])
    t0 = time.perf_counter()
    err, peak = _peak_mb(read_vectors_binary, p)
    assert isinstance(err, DataError), err
    assert time.perf_counter() - t0 < 2 and peak < 5, peak
    msg = str(err)
    assert str(p) in msg and err.line == 1 and "1000000000000" in msg and "bytes" in msg


def test_binary_header_claiming_a_huge_dimension_is_refused(tmp_path):
    p = tmp_path / "wide.bin"
    p.write_bytes(b"2 100000000000\nab " + b"\0" * 64)
    err, peak = _peak_mb(read_vectors_binary, p)
    assert isinstance(err, DataError) and err.line == 1 and str(p) in str(err) and peak < 5


def test_text_header_claiming_1e11_dimensions_fails_fast_on_line_2(tmp_path):
    p = tmp_path / "wide.vec"
    p.write_text("4 100000000000\n" + _text(header=False), encoding="utf-8")
    t0 = time.perf_counter()
    err, peak = _peak_mb(read_vectors_text, p)
    assert isinstance(err, DataError), err
    assert time.perf_counter() - t0 < 2 and peak < 5, peak
    assert err.line == 2 and str(p) in str(err) and "100000000000" in str(err)


# ============================================================================================== 4. text reader
def test_truncated_gz_names_the_file(tmp_path):
    p = tmp_path / "v.txt.gz"
    blob = gzip.compress(_text().encode())
    p.write_bytes(blob[: len(blob) - 12])
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "truncated" in _where(e, p) or "damaged" in str(e.value)
    with pytest.raises(DataError) as e:
        D.load_embeddings(p)
    _where(e, p)


def test_corrupted_gz_binary_and_text_name_the_file(tmp_path):
    for name, raw in (
        ("v.bin.gz", write_vectors_binary(tmp_path / "b.bin", WORDS, VECS).read_bytes()),
        ("v.vec.gz", _text().encode()),
    ):
        blob = bytearray(gzip.compress(raw))
        blob[len(blob) // 2] ^= 0xFF  # damage the deflate stream (zlib.error or a CRC mismatch)
        p = tmp_path / name
        p.write_bytes(bytes(blob))
        with pytest.raises(DataError) as e:
            read_vectors(p)
        _where(e, p)


def test_header_only_file_names_line_2(tmp_path):
    p = tmp_path / "h.vec"
    p.write_text("3 4\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "truncated" in _where(e, p, 2)
    p.write_text("0 4\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "no vectors" in _where(e, p, 2)
    p2 = tmp_path / "h.bin"
    p2.write_bytes(b"0 4\n")
    with pytest.raises(DataError) as e:
        read_vectors_binary(p2)
    assert "no vectors" in _where(e, p2)


@pytest.mark.parametrize("header", [True, False])
def test_trailing_blank_lines_are_ignored_as_by_the_line_checker(tmp_path, header):
    clean = read_vectors_text(_write(tmp_path / "a.vec", _text(header=header)))
    got = read_vectors_text(_write(tmp_path / "b.vec", _text(header=header) + "\n\n \n"))
    assert got[0] == clean[0] == WORDS
    np.testing.assert_array_equal(got[1], clean[1])
    with pytest.raises(DataError) as e:  # a blank line in the middle is still an error, at its line
        read_vectors_text(_write(tmp_path / "c.vec", _text(header=header).replace("\n", "\n\n", 2)))
    assert "blank line" in _where(e, tmp_path / "c.vec", 2)


def test_float32_overflow_names_the_line(tmp_path):
    p = _write(tmp_path / "o.vec", _text(header=False).replace(repr(float(VECS[2, 1])), "1e39"))
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "float32" in _where(e, p, 3)


@pytest.mark.parametrize("bad", [-1, 0, 2.5, "3", True])
def test_max_words_is_validated_naming_it(tmp_path, bad):
    p = _write(tmp_path / "v.vec", _text())
    b = write_vectors_binary(tmp_path / "v.bin", WORDS, VECS)
    for fn, path in ((read_vectors_text, p), (read_vectors_binary, b), (read_vectors, p), (D.load_embeddings, p)):
        with pytest.raises((ValueError, TypeError), match="max_words"):
            fn(path, max_words=bad)


def test_max_words_integral_float_still_works(tmp_path):
    words, _ = read_vectors_text(_write(tmp_path / "v.vec", _text()), max_words=2.0)
    assert words == WORDS[:2]


@pytest.mark.parametrize("header", [True, False])
def test_bom_before_the_header_or_first_row(tmp_path, header):
    p = tmp_path / "bom.vec"
    p.write_bytes(BOM + _text(header=header).encode())
    words, vecs = read_vectors_text(p)
    assert words == WORDS
    np.testing.assert_array_equal(vecs, read_vectors_text(_write(tmp_path / "n.vec", _text(header=header)))[1])
    g = tmp_path / "bom.vec.gz"
    g.write_bytes(gzip.compress(BOM + _text(header=header).encode()))
    assert read_vectors(g)[0] == WORDS


def test_bom_in_binary_header(tmp_path):
    b = write_vectors_binary(tmp_path / "v.bin", WORDS, VECS)
    b.write_bytes(BOM + b.read_bytes())
    words, vecs = read_vectors_binary(b)
    assert words == WORDS and np.array_equal(vecs, VECS)


def test_dictionary_bom_is_not_part_of_the_first_word(tmp_path):
    p = tmp_path / "en-it.txt"
    p.write_bytes(BOM + "house casa\ndog cane\n".encode())
    d = read_pairs(p)
    assert d["src"].tolist() == ["house", "dog"]
    assert D.load_dictionary(p)["src"].tolist() == ["house", "dog"]


def test_text_file_named_bin_is_read_as_text(tmp_path):
    p = _write(tmp_path / "vectors.bin", _text())
    words, vecs = read_vectors(p)
    assert words == WORDS
    np.testing.assert_array_equal(vecs, read_vectors_text(p)[1])
    assert D.load_embeddings(p).words == WORDS
    with pytest.raises(DataError) as e:  # forcing the binary reader on it is refused, not read as garbage
        read_vectors_binary(p, max_words=2)
    assert "text" in _where(e, p, 2)


def test_binary_file_named_txt_is_read_as_binary(tmp_path):
    p = tmp_path / "vectors.txt"
    p.write_bytes(write_vectors_binary(tmp_path / "v.bin", WORDS, VECS).read_bytes())
    words, vecs = read_vectors(p)
    assert words == WORDS and np.array_equal(vecs, VECS)


def test_text_reader_on_binary_content_names_line_2(tmp_path):
    p = write_vectors_binary(tmp_path / "v.bin", WORDS, VECS)
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    assert "binary" in _where(e, p, 2)


def test_unicode_digits_in_the_header_are_not_a_crash(tmp_path):
    p = _write(tmp_path / "u.vec", "4² 3\n" + _text(header=False))
    with pytest.raises(DataError) as e:
        read_vectors_text(p)
    _where(e, p)


def test_nli_bom_and_bad_field_types(tmp_path):
    rec = {"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}
    p = tmp_path / "s.jsonl"
    p.write_bytes(BOM + (json.dumps(rec) + "\n").encode())
    assert len(read_nli_jsonl(p)) == 1
    p.write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "gold_label": ["x"]}) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_nli_jsonl(p)
    _where(e, p, 2)
    p.write_bytes(json.dumps(rec).encode() + b"\n\xff\xfe{}\n")
    with pytest.raises(DataError) as e:
        read_nli_jsonl(p)
    _where(e, p, 2)


def test_dictd_bad_index_encoding_and_truncated_body(tmp_path):
    idx, dz = tmp_path / "x.index", tmp_path / "x.dict.dz"
    dz.write_bytes(gzip.compress(b"house\ncasa\n"))
    idx.write_bytes(b"house\tA\tL\n\xff\tA\tB\n")
    with pytest.raises(DataError) as e:
        read_dictd(idx, dz)
    _where(e, idx, 2)
    idx.write_bytes(b"house\tA\tL\n")
    dz.write_bytes(gzip.compress(b"house\ncasa\n")[:-6])
    with pytest.raises(DataError) as e:
        read_dictd(idx, dz)
    _where(e, dz)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ============================================================================================== 2. downloads
def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_corrupted_download_of_the_right_size_is_checked_and_set_aside(cache):
    good = b"the right wheel bytes"
    src = S.PipSource("pkg", "1.0", "pkg-1.0-py3-none-any.whl", _sha(good))
    (cache / "downloads").mkdir(parents=True)
    f = cache / "downloads" / src.filename
    f.write_bytes(good)
    assert S.ensure(src, quiet=True) == f  # recorded in the manifest with its size
    f.write_bytes(bytes(reversed(good)))  # same size, other bytes
    with pytest.raises(ChecksumError) as e:
        S.ensure(src, quiet=True)
    msg = str(e.value)
    assert str(f) in msg and "sha256 checksum mismatch" in msg and ".bad" in msg and "fetch" in msg
    assert not f.exists() and f.with_name(f.name + ".bad").exists()


def test_unpinned_download_that_changed_is_set_aside(cache):
    src = S.UrlSource("http://example.invalid/d.zip", "d.zip")
    (cache / "downloads").mkdir(parents=True)
    f = cache / "downloads" / "d.zip"
    f.write_bytes(b"v1")
    S.ensure(src, quiet=True)
    f.write_bytes(b"v2")
    with pytest.raises(ChecksumError, match=r"\.bad"):
        S.ensure(src, quiet=True)
    assert (cache / "downloads" / "d.zip.bad").read_bytes() == b"v2"


def _tar_xz(path: Path, members: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return path


def _damage(path: Path, at: float = 0.5, n: int = 8) -> Path:
    b = bytearray(path.read_bytes())
    i = int(len(b) * at)
    b[i : i + n] = bytes(x ^ 0x5A for x in b[i : i + n])
    path.write_bytes(bytes(b))
    return path


def _archives(tmp_path):
    data = os.urandom(2000) + b"x" * 50_000
    xz = _damage(_tar_xz(tmp_path / "a.tar.xz", {"pkg/data.bin": data}))
    z = tmp_path / "a.whl"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pkg/data.bin", data)
    zb = bytearray(z.read_bytes())
    zb[60:68] = b"\xff" * 8  # inside the deflate stream of the member
    z.write_bytes(bytes(zb))
    tgz = tmp_path / "a.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        info = tarfile.TarInfo("pkg/data.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    tgz.write_bytes(tgz.read_bytes()[:-200])
    notzip = tmp_path / "b.whl"
    notzip.write_bytes(b"PK\x03\x04" + os.urandom(300))
    plain_xz = tmp_path / "c.tar.xz"
    plain_xz.write_bytes(lzma.compress(b"not a tar at all" * 100)[:-30])
    return [xz, z, tgz, notzip, plain_xz]


def test_archive_errors_of_every_kind_become_data_errors(tmp_path):
    for arch in _archives(tmp_path):
        for call in (
            lambda: S.read_member(arch, "pkg/data.bin"),
            lambda: S.safe_extract(arch, tmp_path / "out" / arch.name),
        ):
            with pytest.raises(DataError) as e:
                call()
            assert str(arch) in str(e.value), (arch, str(e.value))
        assert not (tmp_path / "out" / arch.name).exists()
        try:  # listing reads only a zip's directory, which may be intact: a list, or the data layer's error
            assert isinstance(S.list_members(arch), list)
        except DataError as e:
            assert str(arch) in str(e)


def test_damaged_deb_header_is_a_data_error(tmp_path):
    p = tmp_path / "x.deb"
    p.write_bytes(b"!<arch>\n" + b"debian-binary   " + b"garbage" * 8 + b"\n")
    with pytest.raises(DataError) as e:
        S.list_members(p)
    _where(e, p)


def test_a_builder_failing_on_damaged_bytes_names_the_dataset(cache, monkeypatch):
    ds = R.Dataset("toy-garbage", "embeddings", "toy", builder="test_data_errors:build_garbage")
    monkeypatch.setitem(R.DATASETS, "toy-garbage", ds)
    with pytest.raises(DataError, match="toy-garbage"):
        ds.prepare(quiet=True)


def build_garbage(ds, files, out):
    np.load(io.BytesIO(b"\x93NUMPY garbage"))


# ============================================================================================== 3. splits
def _emb(words, name="V", d=3, seed=0):
    return D.Embeddings(list(words), np.random.default_rng(seed).standard_normal((len(words), d)), name=name)


def _dict(n=40):
    return pd.DataFrame({"src": [f"s{i}" for i in range(n)], "tgt": [f"t{i}" for i in range(n)]})


@pytest.mark.parametrize(
    "arg,value,exc",
    [
        ("n_train", -5, ValueError),
        ("n_test", -5, ValueError),
        ("n_val", -1, ValueError),
        ("test_pool", 0, ValueError),
        ("seed", -1, ValueError),
        ("seed", None, TypeError),
        ("n_test", 1.5, TypeError),
        ("n_train", "10", TypeError),
    ],
)
def test_make_split_sizes_are_validated_naming_the_argument(arg, value, exc):
    src, tgt = _emb([f"s{i}" for i in range(40)], "S"), _emb([f"t{i}" for i in range(40)], "T")
    kw = dict(n_test=5, n_train=10, n_val=2, seed=0, save=False)
    kw[arg] = value
    with pytest.raises(exc, match=arg):
        D.make_split(_dict(), src, tgt, **kw)


def test_make_split_rejects_a_non_dataframe():
    src = _emb([f"s{i}" for i in range(40)], "S")
    with pytest.raises(DataError, match="DataFrame"):
        D.make_split([("s1", "t1")], src, src, n_test=1, save=False)


def test_split_cache_key_covers_the_vocabularies_content(cache):
    d = _dict()
    tgt = _emb([f"t{i}" for i in range(40)], "T")
    a = _emb([f"s{i}" for i in range(40)], "SAME")
    b = _emb([f"s{i}" for i in reversed(range(40))], "SAME")  # same name and size, other frequency order
    sa = D.make_split(d, a, tgt, n_test=5, n_train=10, n_val=2, seed=0)
    sb = D.make_split(d, b, tgt, n_test=5, n_train=10, n_val=2, seed=0)
    assert sa.path != sb.path
    assert list(sb.train["src"]) == [f"s{i}" for i in range(39, -1, -1) if f"s{i}" not in set(sb.test["src"])][:10]
    again = D.make_split(d, a, tgt, n_test=5, n_train=10, n_val=2, seed=0)
    assert again.path == sa.path
    for k in ("train", "val", "test", "rest"):  # the key changes the folder, never the pairs
        nosave = D.make_split(d, a, tgt, n_test=5, n_train=10, n_val=2, seed=0, save=False)
        pd.testing.assert_frame_equal(getattr(nosave, k), getattr(sa, k))
        back = pd.read_csv(sa.path / f"{k}.tsv", sep="\t", dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(back, getattr(sa, k))


# ============================================================================================== 5. cache location
def test_lpa_data_pointing_at_a_file(cache, monkeypatch, capsys, tmp_path):
    f = tmp_path / "not-a-folder"
    f.write_text("x")
    monkeypatch.setenv("LPA_DATA", str(f))
    toy = R.Dataset("toy-w", "embeddings", "toy", builder="test_data_errors:build_garbage")
    monkeypatch.setitem(R.DATASETS, "toy-w", toy)
    with pytest.raises(CacheError) as e:
        D.fetch(["toy-w"], quiet=True)
    msg = str(e.value)
    assert str(f) in msg and "not a folder" in msg and "LPA_DATA=" in msg
    assert cli(["fetch", "toy-w"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert cli(["prune"]) == 0 and cli(["info"]) == 0  # read-only commands still work


def test_unwritable_lpa_data(cache, monkeypatch, capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = C.tempfile.mkstemp

    def refuse(*a, dir=None, **kw):
        if dir is not None and Path(dir).resolve().is_relative_to(ro.resolve()):
            raise PermissionError(13, "Permission denied", str(dir))
        return real(*a, dir=dir, **kw)

    monkeypatch.setattr(C.tempfile, "mkstemp", refuse)
    monkeypatch.setenv("LPA_DATA", str(ro))
    toy = R.Dataset("toy-w", "embeddings", "toy", builder="test_data_errors:build_garbage")
    monkeypatch.setitem(R.DATASETS, "toy-w", toy)
    with pytest.raises(CacheError) as e:
        toy.prepare(quiet=True)
    msg = str(e.value)
    assert str(ro) in msg and "not writable" in msg and "LPA_DATA=" in msg
    assert cli(["fetch", "toy-w"]) == 2
    assert "not writable" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into a read-only folder")
def test_read_only_lpa_data_folder(cache, monkeypatch, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        monkeypatch.setenv("LPA_DATA", str(ro))
        with pytest.raises(CacheError, match="not writable"):
            C.ensure_writable()
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), RuntimeError("boom"), MemoryError()])
def test_cli_turns_every_failure_into_one_line(monkeypatch, capsys, exc):
    import lpa_utils.data.__main__ as M

    def fail(*a, **k):
        raise exc

    monkeypatch.setattr(M, "fetch", fail)
    assert cli(["fetch", "glove-en-50d"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setattr(M, "prune", fail)
    assert cli(["prune"]) != 0
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_cli_interrupted(monkeypatch, capsys):
    import lpa_utils.data.__main__ as M

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(M, "fetch", stop)
    assert cli(["fetch"]) == 130
    assert "interrupted" in capsys.readouterr().err


# ============================================================================================== interrupted work
def _old(p: Path, seconds=2 * 3600):
    t = time.time() - seconds
    for q in [p, *p.rglob("*")] if p.is_dir() else [p]:
        os.utime(q, (t, t))


def test_interrupted_build_leaves_nothing_that_prune_or_fetch_keeps(cache, monkeypatch):
    toy = R.Dataset("toy-emb", "embeddings", "toy", builder="test_data_errors:build_small")
    monkeypatch.setitem(R.DATASETS, "toy-emb", toy)
    kind = cache / "embeddings"
    kind.mkdir(parents=True)
    part = kind / f".{toy.name}-{toy.key()}.ab12cd34.part"  # what a killed build leaves (atomic_path's name)
    part.mkdir()
    (cache / ".locks").mkdir()
    (cache / ".locks" / f"{toy.name}-{toy.key()}.lock").touch()
    gone = prune(dry_run=True)
    assert part in gone and part.exists()
    gone = prune()
    assert part in gone and not part.exists()
    part.mkdir()
    D.fetch(["toy-emb"], quiet=True)  # the next fetch removes it too (and builds)
    assert not part.exists() and toy.is_cached()
    part.mkdir()
    D.load_embeddings("toy-emb")  # cached: nothing to build, nothing removed by a plain load
    toy2 = R.Dataset("toy-emb", "embeddings", "toy", builder="test_data_errors:build_small", params={"v": 2})
    monkeypatch.setitem(R.DATASETS, "toy-emb", toy2)
    part2 = kind / f".{toy2.name}-{toy2.key()}.zz99yy88.part"
    part2.mkdir()
    toy2.prepare(quiet=True)  # a build removes its own leftovers under its lock
    assert not part2.exists()


def build_small(ds, files, out):
    from lpa_utils.data.embeddings import save_arrays

    return save_arrays(out, ["a", "b"], np.eye(2, dtype=np.float32))


def test_temporaries_in_use_are_kept(cache, monkeypatch):
    toy = R.Dataset("toy-emb", "embeddings", "toy", builder="test_data_errors:build_small")
    monkeypatch.setitem(R.DATASETS, "toy-emb", toy)
    part = cache / "embeddings" / f".{toy.name}-{toy.key()}.ab12cd34.part"
    part.mkdir(parents=True)
    fresh = cache / "splits" / ".x-123.qwertyui.part"  # no owner known, recent: kept
    fresh.mkdir(parents=True)
    with C.lock(f"{toy.name}-{toy.key()}"):  # another builder holds the lock
        assert part not in C.sweep()
    assert part.exists() and fresh.exists()
    _old(fresh)
    assert fresh in C.sweep() and not fresh.exists()


def test_interrupted_pip_download_orphan_is_removed(cache, monkeypatch):
    data = b"wheel"
    src = S.PipSource("pkg", "1.0", "pkg-1.0-py3-none-any.whl", _sha(data))
    dl = cache / "downloads"
    orphan = dl / f".pip-{src.filename}-k3j4h5g6"  # what a killed `pip download` leaves
    orphan.mkdir(parents=True)
    (orphan / "partial.whl").write_bytes(b"\0" * 1000)
    part = dl / f".{src.filename}.abcd1234.part"  # a killed url_download
    part.write_bytes(b"\0" * 10)
    old_style = dl / ".pip-a1b2c3d4"
    old_style.mkdir()
    (old_style / "x.whl").write_bytes(b"\0" * 1000)
    (dl / src.filename).write_bytes(data)
    S.ensure(src, quiet=True)
    assert not orphan.exists() and not part.exists()
    assert old_style.exists()  # recent and of unknown owner: left to the age rule
    _old(old_style)
    prune()
    assert not old_style.exists()


def test_pip_download_temporary_is_named_after_the_file(cache, monkeypatch):
    seen = {}

    def fake_run(cmd, **kw):
        seen["dir"] = cmd[-1]
        Path(cmd[-1], "pkg-1.0-py3-none-any.whl").write_bytes(b"w")
        return S.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(S.subprocess, "run", fake_run)
    src = S.PipSource("pkg", "1.0", "pkg-1.0-py3-none-any.whl", _sha(b"w"))
    S.ensure(src, quiet=True)
    assert Path(seen["dir"]).name.startswith(f".pip-{src.filename}-")
    assert not Path(seen["dir"]).exists()


# ============================================================================================== aligners, evaluation
@pytest.mark.parametrize("aligner", [Procrustes, LeastSquares, ShigetoRidge])
@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_aligners_reject_nan_rows_with_their_numbers(aligner, paired, bad):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((12, 3)), rng.standard_normal((12, 3))
    row = 2 if paired else 9
    X[row, 1] = bad
    pairs = np.array([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]])
    with pytest.raises(ValueError, match=rf"X has 1 rows with NaN or infinite values \(rows {row}\)"):
        aligner().fit(X, Y, pairs)
    Xc = np.nan_to_num(X, nan=0.0, posinf=0.0)
    fitted = aligner().fit(Xc, Y, pairs)
    with pytest.raises(ValueError, match=rf"transform: X .*rows {row}"):
        fitted.transform(X)


def _eval(**kw):
    rng = np.random.default_rng(1)
    args = dict(
        mapped_src=rng.standard_normal((4, 3)),
        tgt=rng.standard_normal((5, 3)),
        src_words=list("abcd"),
        tgt_words=list("vwxyz"),
        test_pairs_df=pd.DataFrame({"src": ["a", "b"], "tgt": ["v", "w"]}),
    )
    args.update(kw)
    return evaluate_translation(**args)


def test_evaluation_all_out_of_vocabulary_raises():
    with pytest.raises(ValueError, match="none of the 2 test pairs"):
        _eval(test_pairs_df=pd.DataFrame({"src": ["q", "r"], "tgt": ["v", "w"]}))


@pytest.mark.parametrize(
    "kw,name",
    [
        ({"ks": (1.5,)}, "ks"),
        ({"ks": (1, -5)}, "ks"),
        ({"k": -1, "method": "nn"}, "k"),
        ({"beta": float("nan"), "method": "isf"}, "beta"),
        ({"beta": 0.0, "method": "isf"}, "beta"),
    ],
)
def test_evaluation_counts_are_validated_naming_the_argument(kw, name):
    with pytest.raises((ValueError, TypeError), match=rf"\b{name}\b"):
        _eval(**kw)


def test_evaluation_rejects_nan_targets_with_their_rows():
    T = np.random.default_rng(2).standard_normal((5, 3))
    T[3] = np.nan
    with pytest.raises(ValueError, match=r"tgt has 1 rows with NaN or infinite values \(rows 3\)"):
        _eval(tgt=T)


def test_valid_evaluation_is_unchanged():
    ev = _eval(method="nn", ks=(1, 5))
    assert set(ev) == {"p@1", "p@5", "n_pairs", "n_queries", "n_oov_pairs", "n_oov_words", "coverage"}
    assert ev["n_queries"] == 2 and 0.0 <= ev["p@1"] <= ev["p@5"] <= 1.0


def test_writer_round_trip_still_exact(tmp_path):
    p = write_vectors_text(tmp_path / "w.txt", WORDS, VECS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        words, vecs = read_vectors(p)
    assert words == WORDS and np.allclose(vecs, VECS, atol=1e-6)
