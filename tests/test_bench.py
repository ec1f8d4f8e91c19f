"""Smoke test of the benchmark's code path at tiny sizes (no timing assertions: the machine is shared)."""

import json

import pandas as pd
import pytest
import torch

from tools import bench


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny sizes: one torch thread avoids OpenMP oversubscription on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_bench_quick_writes_table_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setenv("LPA_RESULTS_DIR", str(tmp_path))
    monkeypatch.setitem(bench.SIZES, "smoke", dict(n=600, d=16, k=5, kdtree_queries=100, q=40, m=3000, pairs=120))
    df = bench.main(["--quick", "--repeat", "1"])
    assert isinstance(df, pd.DataFrame) and len(df) >= 9
    assert {"task", "ours_s", "ref_s", "ratio", "target", "meets"} <= set(df.columns)
    assert (df["ours_s"] > 0).all() and (df["ref_s"] > 0).all()
    doc = json.loads((tmp_path / "bench.smoke.json").read_text())
    assert doc["profile"] == "smoke" and len(doc["tables"]["bench"]) == len(df) and len(doc["records"]) == len(df)
    md = bench.bench_markdown("smoke")
    assert md.count("\n|") >= 10 and "CSLS" in md and "barycenter_weights" in md
    notes = md.split("Data and notes, by row:")[1].strip().splitlines()
    assert len(notes) == len(df) and notes[0].startswith("1. ") and "Gaussian" in md
