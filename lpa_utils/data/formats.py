"""Readers for the file formats of the data layer. Each one checks its input and raises a
:class:`~lpa_utils.data.errors.DataError` that names the file, the line and what to do.

- word vectors: word2vec / GloVe / fastText ``.vec`` text (header ``"n d"`` optional, ``.gz`` allowed) and
  word2vec binary (``"n d\\n"`` then, per word, ``word<space>`` + d little-endian float32);
- bilingual dictionaries: MUSE / Dinu / VecMap ``"src tgt"`` lines, dictd (FreeDict ``.index`` +
  ``.dict.dz``), MultiWordNet's MySQL ``INSERT`` dumps;
- NLI: SNLI / MultiNLI ``.jsonl`` (fields ``gold_label``, ``sentence1``, ``sentence2``).

The fast paths are vectorised (pandas' C parser); a slow line-by-line pass runs only when the fast path
finds a problem, to say exactly where it is.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import warnings
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from .errors import DataError

NLI_LABELS = ("entailment", "neutral", "contradiction")
LABEL_ID = {lab: i for i, lab in enumerate(NLI_LABELS)}


# ----------------------------------------------------------------------------------------------- helpers
def _open_text(path: Path, encoding: str = "utf-8") -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return open(path, "r", encoding=encoding, newline="")


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def dedupe_words(words: list[str], vectors: np.ndarray, path=None, first_line: int = 1, what: str = "word",
                 counts: np.ndarray | None = None):
    """Drop repeated words, keeping the first (most frequent) row, with a warning that names the file.

    Returns ``(words, vectors, counts)``; row ``i`` of the input was on line ``first_line + i``.
    """
    dup = pd.Index(words).duplicated(keep="first")
    if not dup.any():
        return words, vectors, counts
    rows = np.flatnonzero(dup)
    keep = ~dup
    ex = ", ".join(f"{words[r]!r} (line {first_line + r})" for r in rows[:3])
    warnings.warn(f"{path if path is not None else '<vectors>'}: {len(rows)} duplicate {what}(s) dropped, "
                  f"keeping the first occurrence of each: {ex}{' ...' if len(rows) > 3 else ''}",
                  UserWarning, stacklevel=3)
    words = [w for w, k in zip(words, keep) if k]
    return words, vectors[keep], (None if counts is None else counts[keep])


# ----------------------------------------------------------------------------------------------- vectors, text
def _read_header(path: Path, encoding: str):
    try:
        with _open_binary(path) as fh:
            first = fh.readline().decode(encoding)
    except UnicodeDecodeError as e:
        raise DataError(f"not {encoding} text ({e.reason} at byte {e.start})", path, 1,
                        hint="is this a binary word2vec file? use binary=True or a .bin name") from None
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read ({e})", path, hint="is the file complete? (gzip data may be truncated)") \
            from None
    if not first.strip():
        raise DataError("the file is empty (no header, no vectors)", path, 1,
                        hint="expected 'n_words dim' or 'word v1 v2 ...' lines")
    toks = first.split()
    if len(toks) == 2 and all(t.isdigit() for t in toks):
        n, d = int(toks[0]), int(toks[1])
        if d <= 0:
            raise DataError(f"header says dimension {d}", path, 1, hint="the header must be 'n_words dim', dim > 0")
        return n, d, True
    return None, len(first.rstrip("\r\n").rstrip(" ").split(" ")) - 1, False


def read_vectors_text(path: str | os.PathLike, max_words: int | None = None, encoding: str = "utf-8"):
    """Read a word2vec / GloVe / fastText ``.vec`` text file (optionally ``.gz``).

    The header ``"n_words dim"`` is optional (GloVe files have none). Rows are ``word v_1 ... v_d``
    separated by single spaces (a trailing space is allowed, as in fastText files).

    Returns ``(words: list[str] (n,), vectors: np.ndarray (n, d) float32)``, file order.
    Raises :class:`DataError` (file, line, what to do) for: a wrong header count or a truncated file,
    ragged rows / mismatched dimension, non-numbers, NaN or inf values, undecodable text.
    Duplicate words: the first is kept, with a warning.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path)
    n_header, d, has_header = _read_header(path, encoding)
    if d <= 0:
        raise DataError("the first row has no numbers after the word", path, 1,
                        hint="expected 'word v1 v2 ...' or a 'n_words dim' header")
    skip = 1 if has_header else 0
    nrows = None if max_words is None else int(max_words)
    if n_header is not None and nrows is not None and nrows > n_header:
        nrows = None  # read everything, so that a wrong header count is noticed
    dtype = {0: object, **{i: np.float32 for i in range(1, d + 1)}}
    df = None
    try:
        with _open_text(path, encoding) as fh:
            df = pd.read_csv(fh, sep=" ", header=None, skiprows=skip, nrows=nrows, quoting=csv.QUOTE_NONE,
                             na_filter=False, keep_default_na=False, dtype=dtype, engine="c",
                             skip_blank_lines=False, encoding=encoding)
    except Exception:  # noqa: BLE001 - any parse problem: let the slow pass say exactly where
        df = None
    ok = df is not None and df.shape[1] in (d + 1, d + 2)
    if ok and df.shape[1] == d + 2:  # trailing spaces: the last column must be empty everywhere
        last = df.iloc[:, -1]
        ok = bool((last.astype(str) == "").all())
    if ok:
        vectors = df.iloc[:, 1:d + 1].to_numpy(dtype=np.float32)
        ok = vectors.shape[1] == d and bool(np.isfinite(vectors).all())
        words = df.iloc[:, 0].astype(str).tolist()
        ok = ok and all(words)
    if not ok:
        _validate_text_vectors(path, d, skip, nrows, encoding)  # raises
        raise DataError("could not parse the vectors (the line-by-line check found no single bad line)", path)
    n = len(words)
    if n_header is not None:
        want = n_header if max_words is None else min(n_header, int(max_words))
        if n < want:
            raise DataError(f"truncated: the header says {n_header} words but the file ends after {n} rows",
                            path, skip + n + 1, hint="download the file again, or fix the header count")
        if n > n_header:
            raise DataError(f"wrong header count: the header says {n_header} words but the file has {n} rows",
                            path, skip + n_header + 1, hint="fix the count in the first line (or pass max_words)")
        if max_words is not None:
            words, vectors, n = words[:max_words], vectors[:max_words], min(n, int(max_words))
    elif n == 0:
        raise DataError("no vectors in the file", path, skip + 1)
    words, vectors, _ = dedupe_words(words, vectors, path, first_line=skip + 1)
    return words, vectors


def _validate_text_vectors(path: Path, d: int, skip: int, nrows: int | None, encoding: str) -> None:
    """Slow pass: find the first bad line and raise a DataError about it."""
    with _open_binary(path) as fh:
        lineno = 0
        seen = 0
        blank_at = None
        for raw in fh:
            lineno += 1
            if lineno <= skip:
                continue
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as e:
                raise DataError(f"not {encoding} text ({e.reason} at column {e.start + 1})", path, lineno,
                                hint=f"re-encode the file as {encoding} or pass encoding=") from None
            line = line.rstrip("\r\n")
            if not line.strip():
                blank_at = blank_at or lineno
                continue
            if blank_at is not None:
                raise DataError("blank line in the middle of the vectors", path, blank_at, hint="remove it")
            toks = line.rstrip(" ").split(" ")
            if len(toks) != d + 1:
                hint = ("the file may be truncated (download it again)" if len(toks) < d + 1
                        else "is the word itself split by a space?")
                raise DataError(f"ragged row: {len(toks) - 1} numbers after the word {toks[0]!r}, expected {d} "
                                f"(the dimension from line {1 if skip else skip + 1})", path, lineno, hint=hint)
            if not toks[0]:
                raise DataError("row starts with a space (empty word)", path, lineno)
            for j, t in enumerate(toks[1:], start=1):
                try:
                    v = float(t)
                except ValueError:
                    raise DataError(f"not a number: {t!r} (field {j + 1}, word {toks[0]!r})", path, lineno,
                                    hint="every field after the word must be a number") from None
                if not np.isfinite(v):
                    raise DataError(f"NaN or infinite value {t!r} (field {j + 1}) for word {toks[0]!r}", path,
                                    lineno, hint="remove or fix that row")
            seen += 1
            if nrows is not None and seen >= nrows:
                return


# ----------------------------------------------------------------------------------------------- vectors, binary
def read_vectors_binary(path: str | os.PathLike, max_words: int | None = None, encoding: str = "utf-8"):
    """Read a word2vec binary file: header ``"n d\\n"``, then per word ``word<space>`` + ``d`` float32 (LE),
    optionally followed by ``"\\n"``. Returns ``(words (n,), vectors (n, d) float32)``.

    Errors name the file and the entry (``line`` = 1 for the header, ``k + 1`` for the k-th vector).
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path)
    with _open_binary(path) as fh:
        blob = fh.read()
    nl = blob.find(b"\n")
    head = blob[:nl].split() if nl > 0 else []
    if len(head) != 2 or not all(h.isdigit() for h in head):
        raise DataError(f"bad header {blob[:max(nl, 0)][:40]!r}: expected 'n_words dim'", path, 1,
                        hint="is this a text vectors file? use a .txt/.vec name or binary=False")
    n, d = int(head[0]), int(head[1])
    if d <= 0:
        raise DataError(f"header says dimension {d}", path, 1)
    want = n if max_words is None else min(n, int(max_words))
    words: list[str] = []
    vectors = np.empty((want, d), dtype=np.float32)
    pos, rec = nl + 1, 4 * d
    for k in range(want):
        while pos < len(blob) and blob[pos:pos + 1] in (b"\n", b"\r"):
            pos += 1
        sp = blob.find(b" ", pos, pos + 10_000)
        if sp < 0 or sp + 1 + rec > len(blob):
            raise DataError(f"truncated: the header says {n} words but the file ends inside entry {k + 1} "
                            f"(byte {pos})", path, k + 2, hint="download the file again, or fix the header count")
        try:
            words.append(blob[pos:sp].decode(encoding))
        except UnicodeDecodeError:
            raise DataError(f"word of entry {k + 1} is not {encoding}: {blob[pos:sp][:30]!r}", path, k + 2,
                            hint="pass encoding='latin-1' if the file uses it") from None
        vectors[k] = np.frombuffer(blob, dtype="<f4", count=d, offset=sp + 1)
        pos = sp + 1 + rec
    if max_words is None or max_words >= n:
        rest = blob[pos:].strip()
        if rest:
            raise DataError(f"wrong header count: the header says {n} words but {len(rest)} bytes follow the last "
                            "one", path, n + 2, hint="fix the count in the header")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(f"NaN or infinite value in the vector of {words[k]!r} (entry {k + 1})", path, k + 2,
                        hint="remove or fix that entry")
    words, vectors, _ = dedupe_words(words, vectors, path, first_line=2)
    return words, vectors


def read_vectors(path: str | os.PathLike, max_words: int | None = None, binary: bool | None = None,
                 encoding: str = "utf-8"):
    """Read word vectors from ``path``: binary when ``binary`` or the name ends in ``.bin``, else text."""
    path = Path(path)
    if binary is None:
        binary = path.name.endswith((".bin", ".bin.gz"))
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
    """A MUSE / Dinu / VecMap dictionary: one ``"src tgt"`` pair per line (space or tab separated).

    Returns a DataFrame ``["src", "tgt"]`` in file order, exact duplicates removed.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("dictionary file not found", path)
    src, tgt = [], []
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode(encoding).strip()
            except UnicodeDecodeError:
                raise DataError(f"not {encoding} text", path, lineno, hint="re-encode the file") from None
            if not line:
                continue
            toks = line.split()
            if len(toks) != 2:
                raise DataError(f"expected 2 fields 'src tgt', found {len(toks)}: {line[:60]!r}", path, lineno,
                                hint="one pair per line, separated by a space or a tab")
            src.append(toks[0])
            tgt.append(toks[1])
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


def read_dictd(index_path: str | os.PathLike, dict_path: str | os.PathLike, gloss_lines: bool = False,
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
        with gzip.open(dict_path, "rb") as fh:
            body = fh.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read the dictd body ({e})", dict_path, hint="the file is damaged; fetch again") \
            from None
    src, tgt = [], []
    with open(index_path, "r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                raise DataError(f"expected 'headword<TAB>offset<TAB>length', got {line[:60]!r}", index_path, lineno)
            if parts[0].startswith("00database") or parts[0].startswith("00-database"):
                continue
            try:
                off, n = _b64(parts[1]), _b64(parts[2])
            except KeyError:
                raise DataError(f"bad base64 offset/length {parts[1]!r}/{parts[2]!r}", index_path, lineno) from None
            if off + n > len(body):
                raise DataError(f"entry points past the end of {dict_path.name} (truncated body?)", index_path,
                                lineno, hint="fetch the dictionary again")
            entry = body[off:off + n].decode("utf-8", errors="replace").split("\n")
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
    rows = _MWN_ROW.findall(sql)
    n_insert = sql.count("INSERT INTO")
    if not rows:
        raise DataError("no lemma rows found (expected INSERT INTO ... VALUES (\"id\",\"pos\",\"lemma\",\"N\"))",
                        path, hint="is this a MultiWordNet *_lemma.sql file?")
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
def read_nli_jsonl(path: str | os.PathLike, data: bytes | None = None, drop_unlabelled: bool = True,
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
        with _open_binary(path) as fh:
            data = fh.read()
    recs = []
    has_genre = False
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON ({e.msg} at column {e.colno})", path, lineno,
                            hint="the file may be truncated; download it again") from None
        try:
            gold, s1, s2 = obj["gold_label"], obj["sentence1"], obj["sentence2"]
        except (KeyError, TypeError) as e:
            raise DataError(f"missing field {e} (need gold_label, sentence1, sentence2)", path, lineno) from None
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
