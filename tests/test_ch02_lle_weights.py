"""Chapter 02's module (lpa_utils.chapters.ch02_lle_weights) against scikit-learn and closed forms, on tiny data."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_swiss_roll

from lpa_utils.chapters import ch02_lle_weights as ch02
from lpa_utils.chapters.common import setup
from lpa_utils.report.papers import ARTEFACTS
from lpa_utils.report.results import Results

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vocab():
    """A 120-word random vocabulary (d = 8) with words w0 ... w119."""
    V = np.random.default_rng(1).normal(size=(120, 8))
    return V, [f"w{i}" for i in range(len(V))]


@pytest.fixture(scope="module")
def study(vocab):
    """Every step of the chapter on tiny data, as the notebook chains them."""
    V, words = vocab
    rows = np.arange(30)
    checks = ch02.closed_form_checks(n=150, k=6)
    p1 = ch02.phase1(V, rows, k=5, reg=1e-3, steps=40, seed=0, device="cpu")
    by_k = ch02.reconstruction_vs_k(V, rows, [1, 5, 10], reg=1e-3, device="cpu")
    by_reg = ch02.regulariser_effect(V, rows, 5, ch02.REGS, device="cpu")
    recon, errors = ch02.word_reconstructions(V, words, ["w3", "w7"], k=5, device="cpu")
    eq2 = ch02.embedding_check(n=200, k=10)
    return dict(checks=checks, p1=p1, by_k=by_k, by_reg=by_reg, recon=recon, errors=errors, eq2=eq2)


def test_sizes_follow_the_profile():
    smoke, full = (setup("02_lle_weights", profile=p, threads=None) for p in ("smoke", "full"))
    assert ch02.sizes(smoke) == ch02.Sizes(5_000, 300, 60, [1, 5, 10, 20], ch02.REGS)
    assert ch02.sizes(full).n_words == 3_000 and ch02.sizes(full).ks[-1] == 50
    assert ch02.sizes(smoke, n_words=42).n_words == 42


def test_swiss_roll_is_sklearns_rescaled():
    X, t = ch02.swiss_roll(50, noise=0.05, seed=3)
    X0, t0 = make_swiss_roll(n_samples=50, noise=0.5, random_state=3)
    np.testing.assert_array_equal(X, X0 / 10.0)
    np.testing.assert_array_equal(t, t0)


def test_closed_form_matches_sklearn_and_is_invariant(study):
    checks = study["checks"]
    assert list(checks.sklearn["data"]) == ["swiss roll, d=3", "gaussian, d=50"]
    assert (checks.sklearn["max_abs_diff"] < 1e-10).all() and checks.sklearn["rows_sum_to_one"].all()
    assert checks.sklearn_diff == checks.sklearn["max_abs_diff"].iloc[0]
    assert len(checks.invariances) == 4 and checks.invariance_max < 1e-9
    text = checks.summary()
    assert text.startswith("swiss roll, d=3: max |W_ours - W_sklearn| = 0.0000000000") and "all three" in text


def test_phase1_approaches_the_closed_form(study):
    p1 = study["p1"]
    h = p1.history
    assert list(h["step"]) == list(range(41)) and p1.row_sum_error < 1e-12
    assert p1.final_gap < h["max_abs_diff"].iloc[0] / 10
    assert abs(p1.final_loss - p1.closed_loss) < 1e-2 * p1.closed_loss


def test_error_against_k_and_reg(vocab, study):
    """k = 1: W = 1, so the error is the nearest neighbour's squared distance over ||x||^2; a huge regulariser
    gives uniform weights 1/k."""
    V, _ = vocab
    by_k, by_reg = study["by_k"], study["by_reg"]
    X = V[:30]
    d2 = ((X[:, None, :] - V[None, :, :]) ** 2).sum(-1)
    d2[np.arange(30), np.arange(30)] = np.inf
    nn = d2.min(1) / (X**2).sum(1)
    assert by_k["mean relative error"].iloc[0] == pytest.approx(nn.mean(), rel=1e-9)
    assert by_k["mean relative error"].is_monotonic_decreasing
    assert list(by_reg["reg"]) == ch02.REGS
    big = ch02.regulariser_effect(V, np.arange(30), 5, [1e8], device="cpu")
    assert big["max |w|"].iloc[0] == pytest.approx(0.2, rel=1e-5)


def test_word_reconstructions_beat_uniform_weights(vocab, study):
    V, words = vocab
    recon, errors = study["recon"], study["errors"]
    assert len(recon) == 10 and recon.groupby("query")["weight"].sum().to_numpy() == pytest.approx(1.0)
    q = V[3]
    nbr = V[[int(w[1:]) for w in recon.loc[recon["query"] == "w3", "neighbour"]]]
    assert errors["relative error (uniform 1/k)"].iloc[0] == pytest.approx(
        ((q - nbr.mean(0)) ** 2).sum() / (q**2).sum(), rel=1e-9
    )
    assert (errors["relative error (LLE weights)"] <= errors["relative error (uniform 1/k)"] + 1e-12).all()


def test_embedding_matches_sklearn(study):
    eq2 = study["eq2"]
    assert eq2.ours.shape == eq2.theirs.shape == (200, 2)
    assert eq2.gap < 1e-6 and eq2.agree > 0.95
    assert eq2.describe() == "synthetic swiss roll, 200 points, noise 0.05, k = 10"


def test_plots_return_figures(study):
    figs = [
        ch02.plot_phase1(study["p1"], "toy"),
        ch02.plot_k_and_reg(study["by_k"], study["by_reg"], 5, "toy"),
        ch02.plot_word_weights(study["recon"], "toy"),
        ch02.plot_embeddings(study["eq2"]),
    ]
    assert all(isinstance(f, plt.Figure) for f in figs)
    plt.close("all")


def test_findings_and_records(study):
    ch = setup("02_lle_weights", profile="smoke", threads=None)
    found = ch02.findings(
        ch, study["checks"], study["p1"], study["by_k"], study["by_reg"], study["errors"], study["eq2"]
    )
    assert all(isinstance(v, (float, int, str)) for v in found.values())
    assert found["k_first"] == 1 and found["k_last"] == 10 and found["phase1_verb"] in {"reaches", "approaches"}
    res = Results("02_lle_weights", profile="smoke")
    sizes = ch02.Sizes(120, 30, 40, [1, 5, 10], ch02.REGS)
    ch02.record_results(
        res,
        embeddings="toy",
        sizes=sizes,
        k=5,
        reg=1e-3,
        queries=["w3", "w7"],
        checks=study["checks"],
        p1=study["p1"],
        by_k=study["by_k"],
        by_reg=study["by_reg"],
        recon=study["recon"],
        errors=study["errors"],
        eq2=study["eq2"],
    )
    assert len(res.records) == 1 + 4 + 2 + 3 + 2 + 1
    assert res.records[0].mean == found["sklearn_diff"]
    assert set(res.tables) == {"phase1_history", "error_vs_k", "regulariser", "word_reconstructions", "claims"}
    claims = pd.DataFrame(res.tables["claims"])
    assert set(claims["artefact"]) <= set(ARTEFACTS) and set(claims["verdict"]) <= {"yes", "partly", "no"}
    assert claims["verdict"].iloc[1:].tolist() == ["yes", "yes"]
