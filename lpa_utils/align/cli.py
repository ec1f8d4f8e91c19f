"""Align two embedding files from a seed dictionary, from the command line (in the style of VecMap and MUSE).

::

    python -m lpa_utils.align SRC TGT --train DICT [--test DICT | --n-test N] --method lpa \\
        [--k 10 --beta 1 --seed 0 --device cpu] --out-src SRC_MAPPED --out-tgt TGT_MAPPED --report REPORT.json

``SRC`` and ``TGT`` are word2vec text, fastText ``.vec`` (optionally ``.gz``) or word2vec binary (``.bin``) files
of any dimensions (50 -> 300 works). ``DICT`` files hold one ``source target`` pair per line (MUSE / Dinu /
VecMap). Without ``--test``, ``--n-test`` source words of the training dictionary are held out for the test.
Methods:

- ``procrustes``: orthogonal Procrustes (Xing et al. 2015); ``lstsq``: least squares (Mikolov et al. 2013);
  ``ridge``: least squares with a ridge penalty ``--ridge``;
- ``mse``: the linear map trained by SGD on eq. 4 of the LPL paper; ``lpa``: MSE + beta * LPL (eq. 5, 7), with the
  LLE weights of each training word's ``--k`` neighbours (eq. 6); the SGD defaults are chapter 03's (k 10, beta 1,
  ortho 1, 150 epochs, lr 0.03, batch 256, patience 50, validation every 5 epochs);
- ``refine``: Procrustes + iterative self-learning (Artetxe et al. 2017); ``lpa+refine``: LPA, then the same
  refinement; ``artetxe2018``: the supervised framework of Artetxe et al. (2018) (Table 1b of the LPL paper).

It prints a precision@1/5/10 table (nearest neighbour and CSLS) with the coverage of the test dictionary, writes
the mapped vectors (the source side mapped, the target side as the method leaves it) in the input's format, and a
JSON report. The same command with the same ``--seed`` gives the same numbers on the CPU.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from lpa_utils import __version__
from lpa_utils.align.linear import LeastSquares, Procrustes, artetxe2018
from lpa_utils.align.refine import SelfLearning
from lpa_utils.align.sgd import SGDAligner
from lpa_utils.config import resolve_device
from lpa_utils.data import DataError, load_dictionary, load_embeddings
from lpa_utils.data.formats import is_binary
from lpa_utils.data.writers import write_vectors
from lpa_utils.io import write_json
from lpa_utils.maths.retrieval import evaluate_translation

METHODS = ("procrustes", "lstsq", "ridge", "mse", "lpa", "refine", "lpa+refine", "artetxe2018")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m lpa_utils.align",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("src", type=Path, help="source vectors (word2vec text / .vec / .bin)")
    ap.add_argument("tgt", type=Path, help="target vectors (word2vec text / .vec / .bin)")
    ap.add_argument("--train", type=Path, required=True, help="training dictionary, one 'src tgt' pair per line")
    test = ap.add_mutually_exclusive_group()
    test.add_argument("--test", type=Path, help="test dictionary (else --n-test words are held out of --train)")
    test.add_argument("--n-test", type=int, default=1500, help="source words held out of --train for the test")
    ap.add_argument(
        "--n-val",
        type=int,
        default=500,
        help="source words held out of the training pairs for early stopping (mse, lpa)",
    )
    ap.add_argument("--method", choices=METHODS, default="lpa")
    ap.add_argument("--max-vocab", type=int, default=200_000, help="most frequent words read from each file")
    ap.add_argument("--k", type=int, default=10, help="LPL neighbourhood size (eq. 5, 6)")
    ap.add_argument("--beta", type=float, default=1.0, help="weight of LPL in eq. 7")
    ap.add_argument("--ortho", type=float, default=1.0, help="weight of the orthogonality term of eq. 7")
    ap.add_argument("--patience", type=int, default=50, help="early-stopping patience in epochs (mse, lpa)")
    ap.add_argument("--val-every", type=int, default=5, help="score the validation pairs every this many epochs")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--ridge", type=float, default=1.0, help="ridge penalty of --method ridge")
    ap.add_argument("--refine-iters", type=int, default=5)
    ap.add_argument(
        "--refine-words",
        type=int,
        default=15_000,
        help="most frequent words per side among which refinement looks for mutual neighbours",
    )
    ap.add_argument("--seed", type=int, default=0, help="the held-out split, the SGD batch order")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, ... (None: CUDA when available)")
    ap.add_argument("--threads", type=int, default=None, help="torch / BLAS threads (default: all cores)")
    ap.add_argument("--out-src", type=Path, help="write the mapped source vectors here")
    ap.add_argument("--out-tgt", type=Path, help="write the (mapped) target vectors here")
    ap.add_argument("--report", type=Path, help="write a JSON report here")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def make_aligner(args, device):
    """The aligner of ``--method`` with the command's hyperparameters."""
    sgd = dict(
        k=args.k,
        beta=args.beta,
        ortho=args.ortho,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        patience=args.patience,
        val_every=args.val_every,
        seed=args.seed,
        device=device,
        progress=not args.quiet,
    )
    refine = dict(n_iter=args.refine_iters, n_words=args.refine_words, device=device)
    return {
        "procrustes": lambda: Procrustes(device=device),
        "lstsq": lambda: LeastSquares(device=device),
        "ridge": lambda: LeastSquares(ridge=args.ridge, device=device),
        "mse": lambda: SGDAligner(loss="mse", **sgd),
        "lpa": lambda: SGDAligner(loss="lpa", **sgd),
        "refine": lambda: SelfLearning(**refine),
        "lpa+refine": lambda: SelfLearning(base=SGDAligner(loss="lpa", **sgd), **refine),
        "artetxe2018": lambda: artetxe2018(device=device),
    }[args.method]()


def split_pairs(train: pd.DataFrame, test: pd.DataFrame | None, src, tgt, n_test: int, n_val: int, seed: int):
    """(train, val, test) DataFrames ["src", "tgt"] of pairs with both words in the vocabularies.

    With no ``test`` dictionary, ``n_test`` distinct source words (drawn with ``seed``) and all their pairs are
    held out of ``train``. ``n_val`` further source words of the training pairs become the validation pairs.
    """

    def covered(d):
        return d[(src.lookup(d["src"]) >= 0) & (tgt.lookup(d["tgt"]) >= 0)].reset_index(drop=True)

    train = covered(train.drop_duplicates(ignore_index=True))
    rng = np.random.default_rng(seed)
    words = train["src"].drop_duplicates().to_numpy()
    if test is None:
        if len(words) <= n_test:
            raise DataError(
                f"--n-test {n_test}: the training dictionary covers only {len(words)} source words",
                hint="lower --n-test or give a --test dictionary",
            )
        held = set(words[rng.choice(len(words), size=n_test, replace=False)])
        test, train = train[train["src"].isin(held)], train[~train["src"].isin(held)]
        words = train["src"].drop_duplicates().to_numpy()
    else:
        test = test.drop_duplicates(ignore_index=True)
        train = train[~train["src"].isin(set(test["src"]))]
        words = train["src"].drop_duplicates().to_numpy()
    n_val = min(n_val, max(len(words) // 5, 0))
    val_words = set(words[rng.choice(len(words), size=n_val, replace=False)]) if n_val else set()
    val, train = train[train["src"].isin(val_words)], train[~train["src"].isin(val_words)]
    if train.empty:
        raise DataError(
            "no training pair has both words in the vocabularies",
            hint="check the languages and the casing, or raise --max-vocab",
        )
    return train.reset_index(drop=True), val.reset_index(drop=True), test.reset_index(drop=True)


def rows(d: pd.DataFrame, src, tgt) -> np.ndarray:
    return np.stack([src.lookup(d["src"]), tgt.lookup(d["tgt"])], 1).astype(np.int64)


def run(args) -> dict:
    """Load, split, fit, evaluate and write; returns the report (also written to ``--report``)."""
    t0 = time.perf_counter()
    device = resolve_device(args.device)
    src = load_embeddings(str(args.src), max_words=args.max_vocab)  # a file, or a name the registry knows
    tgt = load_embeddings(str(args.tgt), max_words=args.max_vocab)
    train_d = load_dictionary(str(args.train))  # a file, or e.g. "en-fr" (offline)
    test_d = load_dictionary(str(args.test)) if args.test else None
    train, val, test = split_pairs(train_d, test_d, src, tgt, args.n_test, args.n_val, args.seed)
    t_load = time.perf_counter()
    aligner = make_aligner(args, device)
    needs_val = args.method in ("mse", "lpa", "lpa+refine")
    aligner.fit(
        src.vectors,
        tgt.vectors,
        rows(train, src, tgt),
        val_pairs=rows(val, src, tgt) if needs_val and len(val) else None,
    )
    t_fit = time.perf_counter()
    with torch.no_grad():
        mapped_src, mapped_tgt = aligner.transform(src.vectors), aligner.transform_target(tgt.vectors)
    scores = []
    for retrieval in ("nn", "csls"):
        ev = evaluate_translation(
            mapped_src,
            mapped_tgt,
            src.words,
            tgt.words,
            test,
            method=retrieval,
            ks=(1, 5, 10),
            device=device,
            progress=not args.quiet,
        )
        scores.append(
            {
                "retrieval": retrieval,
                **{f"P@{k}": 100 * ev[f"p@{k}"] for k in (1, 5, 10)},
                "test words": ev["n_queries"],
                "coverage %": 100 * ev["coverage"],
            }
        )
    t_eval = time.perf_counter()
    # the output keeps the input's format, told from the file's content (a name need not say it)
    binary_src = args.src.is_file() and is_binary(args.src)
    binary_tgt = args.tgt.is_file() and is_binary(args.tgt)
    if args.out_src:
        write_vectors(args.out_src, src.words, mapped_src.cpu().numpy(), binary=binary_src)
    if args.out_tgt:
        write_vectors(args.out_tgt, tgt.words, mapped_tgt.cpu().numpy(), binary=binary_tgt)
    report = {
        "lpa_utils": __version__,
        "command": " ".join(sys.argv),
        "method": args.method,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "source": {"file": str(args.src), "words": len(src), "dim": src.dim},
        "target": {"file": str(args.tgt), "words": len(tgt), "dim": tgt.dim},
        "pairs": {"train": len(train), "val": len(val), "test": len(test)},
        "scores": scores,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "seconds": {
            "load": t_load - t0,
            "fit": t_fit - t_load,
            "evaluate": t_eval - t_fit,
            "total": time.perf_counter() - t0,
        },
    }
    if args.report:
        write_json(args.report, report)
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with threadpool_limits(args.threads):
            if args.threads:
                torch.set_num_threads(args.threads)
            report = run(args)
    except (DataError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = pd.DataFrame(report["scores"]).set_index("retrieval")
    print(
        f"{args.method}: {report['source']['words']:,} x {report['source']['dim']}d -> "
        f"{report['target']['words']:,} x {report['target']['dim']}d; pairs {report['pairs']}"
    )
    print(table.round(2).to_string())
    print(f"{report['seconds']['total']:.1f} s (fit {report['seconds']['fit']:.1f} s)")
    return 0
