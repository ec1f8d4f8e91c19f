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
    monkeypatch.setitem(bench.ENCODE_TEXTS, "smoke", 8)
    small = dict(n_words=300, dim=8, n_pairs=60, n_val=20, noise=2.2)
    monkeypatch.setitem(bench.RUNS, "smoke", dict(n_runs=3, epochs=1, case=small))
    df = bench.main(["--quick", "--repeat", "1"])
    assert isinstance(df, pd.DataFrame) and len(df) >= 10
    runs = df[df["task"].str.contains("batched")]
    assert len(runs) == 1 and runs["target"].iloc[0] == "<= 3x" and runs["reference"].iloc[0] == "one run alone"
    assert df.loc[df["task"].str.startswith("retrieval CSLS"), "target"].eq("<= 1.5x").all()
    assert {"task", "ours_s", "ref_s", "ratio", "target", "meets"} <= set(df.columns)
    assert (df["ours_s"] > 0).all() and (df["ref_s"] > 0).all()
    doc = json.loads((tmp_path / "bench.smoke.json").read_text())
    assert doc["profile"] == "smoke" and len(doc["tables"]["bench"]) == len(df) and len(doc["records"]) == len(df)
    md = bench.bench_markdown("smoke")
    assert md.count("\n|") >= 10 and "CSLS" in md and "barycenter_weights" in md
    notes = md.split("Data and notes, by row:")[1].strip().splitlines()
    assert len(notes) == len(df) and notes[0].startswith("1. ") and "Gaussian" in md


# ------------------------------------------------------------------------------------- the build's time budget
from tools import book, pages  # noqa: E402


def test_fmt_duration():
    assert book.fmt_duration(42.4) == "42 s"
    assert book.fmt_duration(312) == "5 min 12 s"
    assert book.fmt_duration(420) == "7 min"
    assert book.fmt_duration(3780) == "1 h 3 min"
    assert book.fmt_duration(-3) == "0 s"


def test_budget_line_within_and_over_budget():
    line = book.budget_line("03_word_alignment", 312, 420, 720)
    assert line == "chapter 03: 5 min 12 s (budget 7 min) — about 12 min left"
    over = book.budget_line("04_nli_regularisation", 483, 420, 0)
    first, warning = over.split("\n")
    assert first == "chapter 04: 8 min 3 s (budget 7 min) — done"
    assert "WARNING" in warning and "1 min 3 s over its budget of 7 min" in warning
    assert book.budget_line("bench+scaling", 10, None, None) == "bench+scaling: 10 s"


def test_estimate_left_scales_the_remaining_budgets_by_the_pace():
    budgets = {"a": 100, "b": 50, "c": 200}
    assert book.estimate_left({}, ["a", "b", "c"], budgets) == 350  # nothing measured: the budgets
    assert book.estimate_left({"a": 150}, ["b", "c"], budgets) == pytest.approx(1.5 * 250)  # 1.5x slower so far
    assert book.estimate_left({"a": 1000}, ["b"], budgets) == pytest.approx(3 * 50)  # pace capped at 3x
    assert book.estimate_left({"a": 10}, ["b"], budgets) == pytest.approx(0.5 * 50)  # and at 0.5x
    assert book.estimate_left({"a": 100, "b": 50, "c": 200}, [], budgets) == 0


def test_budgets_cover_every_chapter_in_both_profiles():
    stems = [nb.stem for nb in book.chapters()]
    for profile in ("full", "smoke"):
        assert set(stems) | {book.BENCH_STEP} == set(book.BUDGETS[profile])
    full, smoke = book.BUDGETS["full"], book.BUDGETS["smoke"]
    assert full["03_word_alignment"] == 420 and full[book.BENCH_STEP] == 150
    assert all(smoke[k] < full[k] for k in full)


def test_budget_json_and_page_table(tmp_path, monkeypatch):
    monkeypatch.setenv("LPA_RESULTS_DIR", str(tmp_path))
    assert "No timed build" in pages.budget_markdown("smoke")
    path = book.write_budget("smoke", {"01_manifolds": 9.0, "02_lle_weights": 31.0})
    doc = json.loads(path.read_text())
    assert path.name == "budget.smoke.json" and doc["total_s"] == 40.0
    rows = {r["step"]: r for r in doc["steps"]}
    assert rows["02_lle_weights"]["over"] is True and rows["01_manifolds"]["over"] is False
    assert rows["03_word_alignment"]["seconds"] is None
    md = pages.budget_markdown("smoke")
    assert "chapter 02" in md and "**no**" in md and "not run" in md and "31 s" in md
