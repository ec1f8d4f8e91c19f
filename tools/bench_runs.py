"""Benchmark of issue 17 (item 1, "runs as a batch dimension"): R SGD runs of one cell trained as one batched model
(:func:`lpa_utils.align.batched.fit_runs`) against one run alone.

- :func:`batched_runs_ratio` -> ``{"runs": 10, "t_one": s, "t_batched": s, "ratio": t_batched / t_one, ...}``.
  Goal: ratio <= 3 for 10 runs (10 runs one after another cost about 10x).
- :func:`time_vs_runs` -> a :class:`pandas.DataFrame` of the time against the number of runs (for a plot).

The realistic case: 20,000 x 100 source and target vectors, 3,000 training pairs, 500 validation words, LPA (eq. 7)
with k = 10, beta = 1, ortho = 1, the chapters' SGD settings (Adam, lr 0.03, batches of 256, validation every 5
epochs), 150 epochs without early stopping (every run does the same work, so the ratio measures batching, not
patience). The data are a planted problem: unit Gaussian X, ``Y = X Q + noise`` with a random rotation Q, the
noise chosen so that validation P@1 is well below 1 (as with real embeddings). Both timings include phase 1 (the
neighbours and LLE weights; shared by runs on the same pairs). ``vary="pairs"`` gives each run its own random
dictionary of the same size instead (phase 1 then covers the union of their source words).

``python -m tools.bench_runs [--threads 1 2] [--runs 10] [--epochs 150] [--curve]`` prints the results. The
machine may be shared: timings are the best of ``repeat`` calls and only comparable within one call.
"""

from __future__ import annotations

import argparse
import time
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from lpa_utils.align.batched import RunSpec, fit_runs

CASE = dict(n_words=20_000, dim=100, n_pairs=3_000, n_val=500, noise=2.2)
SGD = dict(lr=0.03, batch_size=256, val_every=5, patience=None)


def planted_case(n_words=20_000, dim=100, n_pairs=3_000, n_val=500, noise=2.2, pool=2, seed=0):
    """Seeded planted data: X (n, d) unit rows, ``Y = X Q + noise * G / sqrt(d)`` (G Gaussian, Q a random
    rotation); the rows of a random permutation give ``pool * n_pairs`` candidate training words and then ``n_val``
    validation words. Returns ``(X, Y, train_rows, val_pairs)``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_words, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Q = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    Y = (X @ Q + noise * rng.standard_normal((n_words, dim)) / np.sqrt(dim)).astype(np.float32)
    perm = rng.permutation(n_words)
    train = perm[: pool * n_pairs]
    val = perm[pool * n_pairs : pool * n_pairs + n_val]
    return X, Y, train, np.stack([val, val], 1)


def _runs(n_runs: int, train: np.ndarray, val: np.ndarray, n_pairs: int, vary: str, k: int) -> list[RunSpec]:
    if vary not in ("seed", "pairs"):
        raise ValueError(f"vary must be 'seed' or 'pairs', got {vary!r}")
    runs = []
    for r in range(n_runs):
        rows = train[:n_pairs] if vary == "seed" else np.random.default_rng(100 + r).choice(train, n_pairs, False)
        runs.append(RunSpec(np.stack([rows, rows], 1), val, loss="lpa", k=k, beta=1.0, ortho=1.0, seed=r))
    return runs


def _timed(X, Y, runs, repeat: int, **kw) -> tuple[float, float, object]:
    """Best wall and CPU (process) seconds of ``repeat`` calls, and the last fit."""
    best, cpu, fit = float("inf"), float("inf"), None
    for _ in range(max(1, repeat)):
        t, c = time.perf_counter(), time.process_time()
        fit = fit_runs(X, Y, runs, device="cpu", **kw)
        best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return best, cpu, fit


class _Threads:
    def __init__(self, n: int | None):
        self.n, self.old = n, torch.get_num_threads()

    def __enter__(self):
        if self.n:
            torch.set_num_threads(int(self.n))

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def _setup(case: dict, epochs, steps, n_runs_max: int, vary: str, k: int):
    case = {**CASE, **(case or {})}
    X, Y, train, val = planted_case(**case)
    runs = _runs(n_runs_max, train, val, case["n_pairs"], vary, k)
    kw = dict(SGD, **({"steps": steps} if steps else {"epochs": epochs}))
    fit_runs(X[:500], Y[:500], [RunSpec(np.stack([np.arange(50)] * 2, 1), loss="lpa", k=5)], epochs=1, device="cpu")
    return X, Y, runs, kw, case


def batched_runs_ratio(
    n_runs: int = 10,
    *,
    epochs: int = 150,
    steps: int | None = None,
    threads: int | None = 2,
    vary: str = "seed",
    k: int = 10,
    repeat: int = 1,
    case: dict | None = None,
) -> dict:
    """Time ``n_runs`` runs batched against one run (the first of them) on the realistic case (module docstring).

    Args: n_runs; epochs (or steps: a fixed number of optimiser steps per run instead); threads: torch threads
    during the timing (None: leave as is); vary: ``"seed"`` (same pairs, different seeds) or ``"pairs"`` (each run
    its own random dictionary); k: LPL neighbours; repeat: best of; case: overrides of :data:`CASE`.

    Returns: ``{"runs", "t_one", "t_batched", "ratio", "per_extra_run" (seconds each run after the first adds),
    "cpu_one", "cpu_batched", "cpu_ratio" (the same in process CPU seconds: steadier than wall time on a shared
    machine), "threads", "epochs"/"steps", "val_p1_one", "val_certified" (share of validation queries decided
    without scoring all targets, batched call)}``.
    """
    X, Y, runs, kw, case = _setup(case, epochs, steps, n_runs, vary, k)
    with _Threads(threads):
        t_one, c_one, f1 = _timed(X, Y, runs[:1], repeat, **kw)
        t_all, c_all, fb = _timed(X, Y, runs, repeat, **kw)
    vs = fb.val_stats
    return {
        "runs": int(n_runs),
        "t_one": round(t_one, 3),
        "t_batched": round(t_all, 3),
        "ratio": round(t_all / t_one, 3),
        "per_extra_run": round((t_all - t_one) / max(1, n_runs - 1), 3),
        "cpu_one": round(c_one, 3),
        "cpu_batched": round(c_all, 3),
        "cpu_ratio": round(c_all / c_one, 3),
        "threads": int(threads or torch.get_num_threads()),
        **({"steps": int(steps)} if steps else {"epochs": int(epochs)}),
        "vary": vary,
        "val_p1_one": round(float(f1.best_val_p1[0]), 3),
        "val_certified": round(vs["certified"] / max(1, vs["certified"] + vs["scored"]), 3),
        "case": case,
    }


def time_vs_runs(
    run_counts: Sequence[int] = (1, 2, 5, 10, 20),
    *,
    epochs: int = 150,
    steps: int | None = None,
    threads: int | None = 2,
    vary: str = "seed",
    k: int = 10,
    repeat: int = 1,
    case: dict | None = None,
) -> pd.DataFrame:
    """Wall time of :func:`fit_runs` against the number of runs (same case and arguments as
    :func:`batched_runs_ratio`). Columns: ``runs``, ``seconds``, ``seconds_per_run``, ``cpu_seconds``, ``ratio`` (to
    the first count's time, normally one run), ``threads``."""
    counts = [int(c) for c in run_counts]
    if not counts or min(counts) < 1:
        raise ValueError(f"run_counts must be integers >= 1, got {run_counts!r}")
    X, Y, runs, kw, _ = _setup(case, epochs, steps, max(counts), vary, k)
    rows = []
    with _Threads(threads):
        for c in counts:
            t, cpu, _ = _timed(X, Y, runs[:c], repeat, **kw)
            rows.append(
                {"runs": c, "seconds": round(t, 3), "seconds_per_run": round(t / c, 3), "cpu_seconds": round(cpu, 3)}
            )
    df = pd.DataFrame(rows)
    df["ratio"] = (df["seconds"] / df["seconds"].iloc[0]).round(3)
    df["threads"] = int(threads or torch.get_num_threads())
    return df


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--vary", choices=("seed", "pairs"), default="seed")
    ap.add_argument("--curve", action="store_true", help="also time 1, 2, 5, 10, 20 runs")
    args = ap.parse_args(argv)
    out = []
    for t in args.threads:
        res = batched_runs_ratio(args.runs, epochs=args.epochs, steps=args.steps, threads=t, vary=args.vary)
        print({k: v for k, v in res.items() if k != "case"}, flush=True)
        out.append(res)
        if args.curve:
            print(time_vs_runs(epochs=args.epochs, steps=args.steps, threads=t, vary=args.vary), flush=True)
    return out


if __name__ == "__main__":
    main()
