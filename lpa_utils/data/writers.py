"""Writing embeddings: word2vec text (``.txt``/``.vec``, optionally gzipped) and binary (``.bin``), atomically.

Both writers stream the rows in blocks, so a 200,000 x 300 matrix is written without a second copy of it as
strings. The file appears under its name only when complete (:func:`lpa_utils.io.atomic_path`).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from lpa_utils.io import atomic_path

BLOCK = 8192  # rows per write
SEPARATORS = frozenset(" \t\n\r\v\f")


def _check(words: Sequence[str], vectors: np.ndarray, path: Path) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(words) != vectors.shape[0]:
        raise ValueError(f"{path}: {len(words)} words for vectors of shape {vectors.shape}; they must match")
    # the formats separate fields by ASCII whitespace only: other Unicode spaces (U+2009, ...) are legal in a word,
    # as fastText's own vocabularies show
    bad = [w for w in words if not w or any(c in SEPARATORS for c in w)]
    if bad:
        raise ValueError(f"{path}: words must be non-empty and contain no space, tab or newline, e.g. {bad[:3]!r}")
    if not np.isfinite(vectors).all():
        rows = np.flatnonzero(~np.isfinite(vectors).all(1))
        raise ValueError(f"{path}: rows {rows[:5].tolist()} hold NaN or infinite values")
    return vectors


def write_text(path: str | os.PathLike, words: Sequence[str], vectors, header: bool = True, precision: int = 6) -> Path:
    """A word2vec / fastText ``.vec`` text file: ``"n d"`` header, then ``word v1 ... vd`` per line (gzip if the
    name ends in ``.gz``). Values with ``precision`` significant digits."""
    path = Path(path)
    vectors = _check(list(words), vectors, path)
    fmt = " ".join([f"%.{precision}g"] * vectors.shape[1])
    with atomic_path(path) as tmp:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(tmp, "wt", encoding="utf-8", newline="\n") as fh:
            if header:
                fh.write(f"{len(words)} {vectors.shape[1]}\n")
            for start in range(0, len(words), BLOCK):
                block = vectors[start : start + BLOCK]
                lines = [f"{w} {fmt % tuple(v)}" for w, v in zip(words[start : start + BLOCK], block.tolist())]
                fh.write("\n".join(lines) + "\n")
    return path


def write_binary(path: str | os.PathLike, words: Sequence[str], vectors) -> Path:
    """A word2vec binary file: ``"n d\\n"``, then per word ``word`` + space + d little-endian float32 + newline."""
    path = Path(path)
    vectors = _check(list(words), vectors, path).astype("<f4")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        for start in range(0, len(words), BLOCK):
            fh.write(
                b"".join(
                    w.encode("utf-8") + b" " + v.tobytes() + b"\n"
                    for w, v in zip(words[start : start + BLOCK], vectors[start : start + BLOCK])
                )
            )
    return path


def write_vectors(path: str | os.PathLike, words: Sequence[str], vectors, binary: bool | None = None) -> Path:
    """Write ``vectors`` (n, d) for ``words`` (n,): binary if ``binary`` (None: if the name ends in ``.bin``)."""
    binary = Path(path).suffix == ".bin" if binary is None else binary
    return write_binary(path, words, vectors) if binary else write_text(path, words, vectors)
