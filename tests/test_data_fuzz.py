"""Property-based tests (Hypothesis) of the data layer's readers, issue 16.

Valid word-vector files (word2vec text with or without a header, fastText's trailing spaces, CRLF, a BOM; word2vec
binary; either of them gzip-compressed) and MUSE-style dictionaries are written, then corrupted at random:
truncated, bytes flipped, lines inserted, deleted or repeated, the header replaced (claims of 10^12 rows or 10^11
dimensions among them), before or after compression. Each load must either return exactly what the corrupted bytes
hold, as read by the small reference parsers below (they spell the formats out, line by line, in plain Python), or
raise the data layer's ``DataError`` naming the file: never another exception type, never a traced allocation
larger than the file allows.

Derandomized, with a fixed number of examples per property, so that ``make test`` runs the same cases every time
in well under a minute. ``LPA_FUZZ_SCALE=20`` runs twenty times as many examples, freshly drawn (not derandomized),
to look further.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
import struct
import tracemalloc
import warnings
import zlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lpa_utils.data import load_dictionary, load_embeddings
from lpa_utils.data.errors import DataError
from lpa_utils.data.formats import read_pairs, read_vectors_binary, read_vectors_text

BOM = b"\xef\xbb\xbf"
BLANK = " \t\r\v\f"
# the number fields pandas' C parser reads as floats; nan / inf are read and then refused
NUM = re.compile(
    r"[\t\v\f\r]*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)[\t\v\f\r]*",
    re.IGNORECASE | re.ASCII,
)
CONTROL = re.compile("[\x00-\x08\x0e-\x1f]")


SCALE = float(os.environ.get("LPA_FUZZ_SCALE", "1"))


def fuzz(n: int):
    return settings(
        max_examples=max(1, int(n * SCALE)),
        derandomize=SCALE == 1,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


class Bad(Exception):
    """The reference parser refuses the file."""


# ============================================================================================== reference parsers
def unpack(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.GzipFile(fileobj=io.BytesIO(data)).read()
    except (OSError, EOFError, zlib.error):
        raise Bad from None


def text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad from None


def fields(line: str) -> list[str]:
    return line.rstrip("\r\n").rstrip(" ").split(" ")


def header(line: str):
    toks = line.split()
    if len(toks) == 2 and all(t.isascii() and t.isdigit() for t in toks):
        return int(toks[0]), int(toks[1])
    return None


def number(tok: str) -> np.float32:
    if not NUM.fullmatch(tok):
        raise Bad
    with np.errstate(over="ignore"):
        v = np.float32(float(tok))
    if not math.isfinite(v):
        raise Bad
    return v


def keep_first(words, vecs):
    seen, w2, v2 = set(), [], []
    for w, v in zip(words, vecs):
        if w not in seen:
            seen.add(w)
            w2.append(w)
            v2.append(v)
    return w2, v2


def ref_text(data: bytes, max_words=None):
    """A word2vec / GloVe / fastText text file, line by line: ``(words, vectors)`` or :class:`Bad`."""
    lines = unpack(data).split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if not lines:
        raise Bad
    if lines[0].startswith(BOM):
        lines[0] = lines[0][3:]
    first = text(lines[0])
    if not first.strip(BLANK):
        raise Bad
    head = header(first)
    if head:
        n, d = head
        body = lines[1:]
    else:
        n, d = None, len(fields(first)) - 1
        body = lines
    if d <= 0:
        raise Bad
    limit = max_words if (n is None or max_words is None or max_words <= n) else None
    words, vecs, blank = [], [], False
    for raw in body:
        if limit is not None and len(words) >= limit:
            break
        line = text(raw).rstrip("\r")
        if not line.strip(BLANK):
            blank = True
            continue
        if blank:
            raise Bad
        toks = fields(line)
        if len(toks) != d + 1 or not toks[0]:
            raise Bad
        vecs.append([number(t) for t in toks[1:]])
        words.append(toks[0])
    if n is not None:
        if len(words) < (n if max_words is None else min(n, max_words)) or len(words) > n:
            raise Bad
    if max_words is not None:
        words, vecs = words[:max_words], vecs[:max_words]
    if not words:
        raise Bad
    words, vecs = keep_first(words, vecs)
    return words, np.array(vecs, dtype=np.float32).reshape(len(words), d)


def is_text_row(raw: bytes, d: int) -> bool:
    try:
        toks = fields(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return False
    return len(toks) == d + 1 and bool(toks[0]) and all(NUM.fullmatch(t) for t in toks[1:])


def ref_binary(data: bytes, max_words=None):
    """A word2vec binary file, entry by entry: ``(words, vectors)`` or :class:`Bad`."""
    blob = unpack(data)
    if blob.startswith(BOM):
        blob = blob[3:]
    nl = blob.find(b"\n")
    if nl <= 0:
        raise Bad
    head = blob[:nl].split()
    if len(head) != 2 or not all(h.isdigit() for h in head):
        raise Bad
    n, d = int(head[0]), int(head[1])
    if n == 0 or d == 0:
        raise Bad
    pos = nl + 1
    end = blob.find(b"\n", pos)
    if is_text_row(blob[pos:] if end < 0 else blob[pos:end], d):
        raise Bad  # a text file is not read as binary
    want = n if max_words is None else min(n, max_words)
    words, vecs = [], []
    for _ in range(want):
        while pos < len(blob) and blob[pos] in b"\n\r":
            pos += 1
        sp = blob.find(b" ", pos, pos + 10_000)
        if sp <= pos or sp + 1 + 4 * d > len(blob):
            raise Bad
        words.append(text(blob[pos:sp]))
        vec = struct.unpack(f"<{d}f", blob[sp + 1 : sp + 1 + 4 * d])
        if not all(math.isfinite(x) for x in vec):
            raise Bad
        vecs.append(vec)
        pos = sp + 1 + 4 * d
    if (max_words is None or max_words >= n) and blob[pos:].strip():
        raise Bad
    words, vecs = keep_first(words, vecs)
    return words, np.array(vecs, dtype=np.float32).reshape(len(words), d)


def ref_is_binary(data: bytes, name: str) -> bool:
    """Text or binary, from the content; the name decides only when the content does not."""
    by_name = name.endswith((".bin", ".bin.gz"))
    try:
        raw = unpack(data)
    except Bad:
        return by_name
    first, sep, rest = raw.partition(b"\n")
    first = first.removeprefix(BOM)
    try:
        head = header(first.decode("utf-8"))
    except UnicodeDecodeError:
        return by_name
    if head is None:
        return False
    if not sep or not rest:
        return by_name
    second = rest.partition(b"\n")[0]
    if is_text_row(second, head[1]):
        return False
    try:
        return by_name or bool(CONTROL.search(second.decode("utf-8")))
    except UnicodeDecodeError:
        return True


def ref_pairs(data: bytes):
    raw = unpack(data).removeprefix(BOM)
    pairs = []
    for line in raw.split(b"\n"):
        s = text(line).strip()
        if not s:
            continue
        toks = s.split()
        if len(toks) != 2:
            raise Bad
        pairs.append(tuple(toks))
    if not pairs:
        raise Bad
    return list(dict.fromkeys(pairs))


# ============================================================================================== writers
LETTERS = list("abcxyzé中'\"#-_.0123")
words_st = st.lists(
    st.one_of(
        st.text(alphabet=st.sampled_from(LETTERS), min_size=1, max_size=4),
        st.sampled_from(["nan", "inf", "1e5", "\ufeffw"]),
    ),
    min_size=1,
    max_size=5,
)
FLOAT = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def vector_sets(draw):
    words = draw(words_st)
    d = draw(st.integers(1, 4))
    vecs = np.array(
        draw(st.lists(st.lists(FLOAT, min_size=d, max_size=d), min_size=len(words), max_size=len(words))),
        dtype=np.float32,
    ).reshape(len(words), d)
    return words, vecs


def fmt(v: np.float32, style: str) -> str:
    return {"repr": repr(float(v)), "g": f"{float(v):.9g}", "e": f"{float(v):e}"}[style]


@st.composite
def text_files(draw):
    words, vecs = draw(vector_sets())
    style = draw(st.sampled_from(["repr", "g", "e"]))
    trailing = draw(st.sampled_from(["", " "]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    rows = [w + " " + " ".join(fmt(x, style) for x in v) + trailing for w, v in zip(words, vecs)]
    if draw(st.booleans()):
        rows.insert(0, f"{len(words)} {vecs.shape[1]}")
    body = eol.join(rows) + (eol if draw(st.booleans()) else "")
    return (BOM if draw(st.integers(0, 5)) == 0 else b"") + body.encode("utf-8")


@st.composite
def binary_files(draw):
    words, vecs = draw(vector_sets())
    sep = draw(st.sampled_from([b"\n", b""]))
    out = f"{len(words)} {vecs.shape[1]}\n".encode()
    for w, v in zip(words, vecs):
        out += w.encode() + b" " + v.astype("<f4").tobytes() + sep
    return out


@st.composite
def pair_files(draw):
    n = draw(st.integers(1, 6))
    seps = draw(st.lists(st.sampled_from([" ", "\t", "  "]), min_size=n, max_size=n))
    src = draw(
        st.lists(st.text(alphabet=st.sampled_from(list("abcéñ中-'")), min_size=1, max_size=4), min_size=n, max_size=n)
    )
    tgt = draw(
        st.lists(st.text(alphabet=st.sampled_from(list("xyzàß語")), min_size=1, max_size=4), min_size=n, max_size=n)
    )
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    body = eol.join(f"{s}{sep}{t}" for s, sep, t in zip(src, seps, tgt)) + eol
    return (BOM if draw(st.booleans()) else b"") + body.encode("utf-8")


# ============================================================================================== corruptions
LINES = [
    b"",
    b" ",
    b"\r",
    b"\t",
    b"x 1 2",
    b"y 0.5",
    b"\xff\xfe",
    b"1000000000000 3",
    b"3 100000000000",
    b"nan",
    b"w 1e39",
    b"w\x00 1",
    BOM + b"z 1",
    b"q " + bytes(range(240, 252)),
]
HEADERS = [
    b"1000000000000 3",
    b"3 100000000000",
    b"1000000000000 100000000000",
    b"0 3",
    b"2 0",
    b"",
    b"7 2",
    b"x y",
    b"3",
    b"2 4 ",
    b"\xef\xbb\xbf2 2",
    b"\xc2\xb2 1",
]

ops_st = st.lists(
    st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
        st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(LINES)),
        st.tuples(st.just("delete"), st.floats(0, 1)),
        st.tuples(st.just("repeat"), st.floats(0, 1)),
        st.tuples(st.just("header"), st.sampled_from(HEADERS)),
    ),
    max_size=3,
)


def corrupt(data: bytes, ops) -> bytes:
    for op in ops:
        lines = data.split(b"\n")
        at = lambda f, n: min(int(f * n), max(n - 1, 0))
        if op[0] == "truncate":
            data = data[: int(op[1] * len(data))]
        elif op[0] == "flip" and data:
            i = at(op[1], len(data))
            data = data[:i] + bytes([op[2]]) + data[i + 1 :]
        elif op[0] == "insert":
            i = at(op[1], len(lines) + 1)
            data = b"\n".join(lines[:i] + [op[2]] + lines[i:])
        elif op[0] == "delete" and lines:
            i = at(op[1], len(lines))
            data = b"\n".join(lines[:i] + lines[i + 1 :])
        elif op[0] == "repeat" and lines:
            i = at(op[1], len(lines))
            data = b"\n".join(lines[: i + 1] + lines[i:])
        elif op[0] == "header":
            data = b"\n".join([op[1]] + lines[1:])
    return data


def compressed(data: bytes, gz: bool, ops, after: bool) -> bytes:
    """``data`` corrupted by ``ops``, gzip-compressed (``gz``) before or after the corruption (``after``)."""
    if not gz:
        return corrupt(data, ops)
    return corrupt(gzip.compress(data, mtime=0), ops) if after else gzip.compress(corrupt(data, ops), mtime=0)


# ============================================================================================== the property
def _load(fn, path, **kw):
    """``fn(path, **kw)`` under tracemalloc: (result or None when it raised a DataError, peak bytes)."""
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # duplicate words: warned, first kept
            warnings.simplefilter("error", RuntimeWarning)  # e.g. an overflow nobody looked at
            try:
                got = fn(path, **kw)
            except DataError as e:
                assert str(path) in str(e), f"the error does not name the file: {e}"
                got = None
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def check(tmp_path, name: str, data: bytes, fn, reference, **kw):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        want = reference(data, **kw)
    except Bad:
        want = None
    got, peak = _load(fn, path, **kw)
    try:
        size = len(unpack(data))
    except Bad:
        size = len(data)
    assert peak < 8e6 + 64 * size, f"allocated {peak / 1e6:.1f} MB for a file of {size} bytes"
    if want is None:
        assert got is None, f"accepted a file the reference refuses: {data!r} -> {got!r}"
        return
    assert got is not None, f"refused a file the reference reads: {data!r} -> {want!r}"
    if isinstance(want, list):  # dictionary pairs
        assert list(zip(got["src"], got["tgt"])) == want
    else:
        words, vecs = got if isinstance(got, tuple) else (got.words, got.vectors)
        assert words == want[0], (data, words, want[0])
        np.testing.assert_array_equal(vecs, want[1])
        assert vecs.dtype == np.float32 and vecs.shape == want[1].shape


max_words_st = st.one_of(st.none(), st.integers(1, 6))
# the probe's worst cases, always run: headers claiming 10^12 rows or 10^11 dimensions, a truncated .gz
TEXT = "3 2\nthe 0.5 1\ncittà 2 3e-3\nof -4 5 \n".encode()
BINARY = b"2 2\n" + b"".join(
    w + b" " + np.array(v, "<f4").tobytes() + b"\n" for w, v in ((b"a", [1, 2]), (b"b", [3, 4]))
)
HUGE = [
    [("header", b"1000000000000 3")],
    [("header", b"3 100000000000")],
    [("header", b"1000000000000 100000000000")],
    [("truncate", 0.9)],
]


@fuzz(600)
@given(data=text_files(), ops=ops_st, gz=st.booleans(), after=st.booleans(), max_words=max_words_st)
@example(data=TEXT, ops=HUGE[0], gz=False, after=False, max_words=None)
@example(data=TEXT, ops=HUGE[1], gz=False, after=False, max_words=2)
@example(data=TEXT, ops=HUGE[2], gz=True, after=False, max_words=None)
@example(data=TEXT, ops=HUGE[3], gz=True, after=True, max_words=None)
def test_text_vectors_corrupted(tmp_path_factory, data, ops, gz, after, max_words):
    tmp = tmp_path_factory.mktemp("t")
    check(
        tmp,
        "v.vec.gz" if gz else "v.vec",
        compressed(data, gz, ops, after),
        read_vectors_text,
        ref_text,
        max_words=None if gz else max_words,
    )


@fuzz(400)
@given(data=binary_files(), ops=ops_st, gz=st.booleans(), after=st.booleans(), max_words=max_words_st)
@example(data=BINARY, ops=HUGE[0], gz=False, after=False, max_words=None)
@example(data=BINARY, ops=HUGE[1], gz=False, after=False, max_words=1)
@example(data=BINARY, ops=HUGE[2], gz=True, after=False, max_words=None)
@example(data=BINARY, ops=HUGE[3], gz=True, after=True, max_words=None)
def test_binary_vectors_corrupted(tmp_path_factory, data, ops, gz, after, max_words):
    tmp = tmp_path_factory.mktemp("b")
    check(
        tmp,
        "v.bin.gz" if gz else "v.bin",
        compressed(data, gz, ops, after),
        read_vectors_binary,
        ref_binary,
        max_words=max_words,
    )


@fuzz(300)
@given(
    data=st.one_of(text_files(), binary_files()),
    ops=ops_st,
    gz=st.booleans(),
    name=st.sampled_from(["v.bin", "v.txt", "v.vec", "vectors"]),
)
def test_load_embeddings_tells_text_from_binary(tmp_path_factory, data, ops, gz, name):
    """The public entry point on either format under any name: read as the content says, or a DataError."""
    tmp = tmp_path_factory.mktemp("e")
    raw = compressed(data, gz, ops, after=False)
    name = name + (".gz" if gz else "")

    def reference(blob):
        return (ref_binary if ref_is_binary(blob, name) else ref_text)(blob)

    check(tmp, name, raw, load_embeddings, reference)


@fuzz(300)
@given(data=pair_files(), ops=ops_st, gz=st.booleans(), after=st.booleans())
def test_dictionaries_corrupted(tmp_path_factory, data, ops, gz, after):
    tmp = tmp_path_factory.mktemp("d")
    check(tmp, "en-it.txt.gz" if gz else "en-it.txt", compressed(data, gz, ops, after), read_pairs, ref_pairs)


@pytest.mark.parametrize("gz", [False, True])
def test_valid_files_read_back_exactly(tmp_path, gz):
    """The uncorrupted files of the strategies, read through the public functions, give the written data."""
    words, vecs = ["a", "b", "a2"], np.array([[1.5, -2], [0, 3e-8], [1e30, -0.25]], dtype=np.float32)
    rows = "".join(f"{w} {' '.join(repr(float(x)) for x in v)} \n" for w, v in zip(words, vecs))
    blob = (f"3 2\n{rows}").encode()
    p = tmp_path / ("v.vec.gz" if gz else "v.vec")
    p.write_bytes(gzip.compress(blob) if gz else blob)
    e = load_embeddings(p)
    assert e.words == words and np.array_equal(e.vectors, vecs)
    d = tmp_path / "d.txt"
    d.write_bytes(BOM + "House Casa\nhouse casa\n".encode())
    assert load_dictionary(d).values.tolist() == [["house", "casa"]]
    assert isinstance(load_dictionary(d), pd.DataFrame)
