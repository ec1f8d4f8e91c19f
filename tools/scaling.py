"""How each cost grows with its size: ``python -m tools.scaling [--quick]``.

Times the pieces the chapters spend their time in, at several sizes, on Gaussian data of the chapters'
dimensions (the sizes, not the values, set these costs): neighbours against the vocabulary size, LLE weights
against the number of points, CSLS retrieval against the number of target words, an LPA training epoch against
the number of training pairs. Also the time of R SGD alignment runs trained as one batched model against R
(:func:`tools.bench_runs.time_vs_runs`, table ``runs``). Writes ``book/results/scaling[.smoke].json`` (table
``scaling``: one row per task and size with seconds); the book's Performance page plots both (:func:`plot`,
:func:`plot_runs`).
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from lpa_utils.align import SGDAligner
from lpa_utils.config import resolve_profile
from lpa_utils.maths.lle import lle_weights
from lpa_utils.maths.neighbors import knn
from lpa_utils.maths.retrieval import translate
from lpa_utils.report.plotting import set_style
from lpa_utils.report.results import Results
from tools.bench_runs import time_vs_runs
from tools.paths import results_dir

#: run counts and the size of the batched-runs case per profile (full: tools.bench_runs' realistic case, with
#: fewer epochs than its ratio so that the curve fits the build's budget; smoke: a tiny case)
RUNS = {
    "full": dict(run_counts=(1, 2, 5, 10), epochs=10),
    "smoke": dict(run_counts=(1, 2, 4), epochs=3, case=dict(n_words=1_000, dim=32, n_pairs=200, n_val=50, noise=2.2)),
}

SIZES = {
    "full": {
        "vocab": [2_500, 5_000, 10_000, 20_000],
        "targets": [25_000, 50_000, 100_000, 200_000],
        "pairs": [250, 500, 1_000, 2_000, 3_000],
        "d": 300,
        "queries": 1_500,
    },
    "smoke": {
        "vocab": [500, 1_000, 2_000],
        "targets": [2_000, 4_000, 8_000],
        "pairs": [100, 200, 400],
        "d": 32,
        "queries": 200,
    },
}


def _time(fn: Callable[[], object], repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(profile: str = "full", seed: int = 0) -> pd.DataFrame:
    """Seconds per task and size (best of 2). Returns a long table: task, size, size_label, seconds."""

    S = SIZES[profile]
    d = S["d"]
    g = torch.Generator().manual_seed(seed)
    rows = []
    jobs = (
        [("k-NN, brute force (k = 10)", "vocabulary size", n) for n in S["vocab"]]
        + [("LLE weights (k = 10)", "points", n) for n in S["vocab"]]
        + [(f"CSLS retrieval ({S['queries']:,} queries)", "target words", m) for m in S["targets"]]
        + [("LPA epoch (phase 1 + 1 epoch)", "training pairs", p) for p in S["pairs"]]
    )
    X_all = torch.randn(max(S["vocab"] + S["pairs"]), d, generator=g)
    Y_all = torch.randn(max(S["vocab"] + S["pairs"]), d, generator=g)
    T_all = torch.randn(max(S["targets"]), d, generator=g)
    Q = torch.randn(S["queries"], d, generator=g)
    for task, label, size in tqdm(jobs, desc="scaling", leave=False):
        if task.startswith("k-NN"):
            X = X_all[:size]
            sec = _time(lambda: knn(X, 10, method="brute", device="cpu"))
        elif task.startswith("LLE"):
            X = X_all[:size]
            _, idx = knn(X, 10, method="brute", device="cpu")
            sec = _time(lambda: lle_weights(X, idx, reg=1e-3, device="cpu"))
        elif task.startswith("CSLS"):
            T = T_all[:size]
            sec = _time(lambda: translate(Q, T, "csls", k=10, topk=10, device="cpu"))
        else:
            n = max(S["vocab"])
            pairs = np.stack([np.arange(size), np.arange(size)], 1)
            aligner = (
                lambda: SGDAligner(
                    "lpa",
                    k=10,
                    beta=1.0,
                    epochs=1,
                    lr=1e-3,
                    batch_size=256,  # noqa: E731
                    patience=None,
                    seed=0,
                    device="cpu",
                ).fit(X_all[:n], Y_all[:n], pairs)
            )
            sec = _time(aligner)
        rows.append({"task": task, "size label": label, "size": int(size), "seconds": float(sec)})
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame, path) -> None:
    """Log-log plot of seconds against size, one panel per task; saved to ``path`` (PNG)."""

    set_style()
    tasks = list(dict.fromkeys(df["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        g = df[df["task"] == task].sort_values("size")
        ax.loglog(g["size"], g["seconds"], marker="o")
        ax.set_title(task, fontsize=9)
        ax.set_xlabel(g["size label"].iloc[0])
        ax.set_ylabel("seconds (best of 2)")
    fig.suptitle("How each cost grows with its size (2-core CPU, this build)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_runs(df: pd.DataFrame, path) -> None:
    """Seconds against the number of runs trained as one batched model, with R independent runs (R times the
    one-run time) for comparison; saved to ``path`` (PNG)."""

    set_style()
    df = df.sort_values("runs")
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    ax.plot(df["runs"], df["seconds"], marker="o", label="batched (one model, R runs)")
    one = float(df["seconds"].iloc[0]) / float(df["runs"].iloc[0])
    ax.plot(df["runs"], one * df["runs"], ls="--", color="grey", label="R runs one after another")
    ax.set_xlabel("runs R")
    ax.set_ylabel("seconds")
    ax.set_title(f"Batched SGD runs ({int(df['threads'].iloc[0])} threads)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> pd.DataFrame:

    ap = argparse.ArgumentParser(prog="python -m tools.scaling", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes; writes scaling.smoke.json")
    args = ap.parse_args(argv)
    profile = "smoke" if args.quick else resolve_profile(None)
    torch.manual_seed(0)
    df = run(profile)
    res = Results(
        "scaling",
        profile=profile,
        params={"sizes": SIZES[profile], "threads": torch.get_num_threads()},
        directory=results_dir(),
    )
    for r in df.itertuples(index=False):
        res.add("wall time", data=f"Gaussian, {r.size:,} {r[1]}", method=r.task, mean=r.seconds, unit="s")
    res.add_table("scaling", df)
    print(df.to_string(index=False))
    runs = time_vs_runs(threads=torch.get_num_threads(), **RUNS[profile])
    res.add_table("runs", runs)
    print("batched SGD runs: time against the number of runs")
    print(runs.to_string(index=False))
    print(f"wrote {res.save()}")
    return df


if __name__ == "__main__":
    main()
