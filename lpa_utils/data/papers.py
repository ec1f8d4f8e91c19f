"""Builders for the papers' own data (downloaded when online): Dinu et al. EN-IT, VecMap, MUSE.

Vectors are parsed once into the prepared form (``vectors.npy`` + ``words.txt``); dictionaries are written
as ``<pair>.<split>.tsv`` (``split`` in train / test / full).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pandas as pd

from . import sources as S
from .embeddings import save_arrays
from .errors import DataError
from .formats import read_pairs, read_vectors


def build_vectors_from_file(ds, files, out: Path) -> dict:
    words, vectors = read_vectors(files[0], max_words=ds.params.get("max_words"))
    return save_arrays(out, words, vectors)


def build_vectors_from_archive(ds, files, out: Path) -> dict:
    member = ds.params["member"]
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".vec-") as tmp:
        f = Path(tmp) / Path(member).name
        f.write_bytes(S.read_member(files[0], member))
        words, vectors = read_vectors(f, max_words=ds.params.get("max_words"))
    return save_arrays(out, words, vectors)


def _pairs_tsv(df: pd.DataFrame, path: Path) -> dict:
    df.to_csv(path, sep="\t", index=False, lineterminator="\n")
    return {"pairs": int(len(df)), "src_words": int(df["src"].nunique())}


def build_pairs_from_archive(ds, files, out: Path) -> dict:
    info = {}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".dict-") as tmp:
        for split, member in ds.params["members"].items():
            f = Path(tmp) / Path(member).name
            f.write_bytes(S.read_member(files[0], member))
            info[f"{ds.params['pair']}.{split}"] = _pairs_tsv(read_pairs(f), out / f"{ds.params['pair']}.{split}.tsv")
    return {"dictionaries": info}


def build_vecmap_dicts(ds, files, out: Path) -> dict:
    """VecMap's dictionaries.tar.gz: ``en-xx.train.txt`` / ``en-xx.test.txt`` (and other variants)."""
    info = {}
    pat = re.compile(r"(?:.*/)?(en-[a-z]{2})\.(train|test)\.txt")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".dict-") as tmp:
        folder = S.safe_extract(files[0], Path(tmp) / "d")
        for f in sorted(folder.rglob("*.txt")):
            m = pat.fullmatch(f.relative_to(folder).as_posix())
            if m:
                info[f"{m[1]}.{m[2]}"] = _pairs_tsv(read_pairs(f), out / f"{m[1]}.{m[2]}.tsv")
    if not info:
        raise DataError("no en-xx.{train,test}.txt dictionaries found in the archive", files[0])
    return {"dictionaries": info}


def build_muse_dicts(ds, files, out: Path) -> dict:
    pair = ds.params["pair"]
    info = {}
    for f, split in zip(files, ("full", "train", "test")):
        info[f"{pair}.{split}"] = _pairs_tsv(read_pairs(f), out / f"{pair}.{split}.tsv")
    return {"dictionaries": info}
