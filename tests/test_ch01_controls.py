"""Chapter 01's planted controls (lpa_utils.chapters.ch01_manifolds): the maths they rest on against independent
references (the LPL identity for a linear map, scikit-learn's ridge, an augmented least-squares problem, the
book's losses, and the book's own gradient-descent LPA converging to the closed form), the planted data, and the
controls' verdicts coming out as designed (LPL helps with source noise and few pairs; it cannot help, and hurts
the map, on separated clusters at the ceiling)."""

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from lpa_utils.align import SGDAligner
from lpa_utils.chapters import ch01_manifolds as ch01
from lpa_utils.chapters.common import setup
from lpa_utils.maths.lle import lle_weights
from lpa_utils.maths.losses import lpl_loss, mse_loss
from lpa_utils.maths.neighbors import neighbours_of_rows


def _reconstructions(X, rows, k=5, reg=1e-3):
    """LLE reconstructions x~ of ``X[rows]`` from their k neighbours among all rows of X, by the book's code."""
    _, nb = neighbours_of_rows(X, rows, k, device="cpu")
    w = lle_weights(X[rows], nb, reg=reg, ref=X, device="cpu", dtype=torch.float64).numpy()
    return np.einsum("pk,pkd->pd", w, X[nb]), nb, w


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    Y = X @ rng.normal(size=(6, 4)) + 0.1 * rng.normal(size=(200, 4))
    rows = rng.choice(200, size=40, replace=False)
    Xr, nb, w = _reconstructions(X, rows)
    return X, Y, rows, Xr, nb, w


# -------------------------------------------------------------------------------------------------- maths
def test_the_lpl_identity_for_a_linear_map(small):
    """||y - xW||^2 + ||y - x~W||^2 = 2 ||y - (x + x~)/2 W||^2 + 1/2 ||(x - x~)W||^2, and for a linear f eq. 5
    with the LLE weights is the MSE on x~ (the weights sum to one)."""
    X, Y, rows, Xr, nb, w = small
    W = np.random.default_rng(1).normal(size=(6, 4))
    x, y = X[rows], Y[rows]
    lhs = ((y - x @ W) ** 2).sum(1) + ((y - Xr @ W) ** 2).sum(1)
    rhs = 2 * ((y - (x + Xr) / 2 @ W) ** 2).sum(1) + 0.5 * (((x - Xr) @ W) ** 2).sum(1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
    Wt = torch.as_tensor(W)
    lpl = lpl_loss(torch.as_tensor(y), torch.as_tensor(X[nb]) @ Wt, torch.as_tensor(w), reduction="none")
    torch.testing.assert_close(lpl, mse_loss(torch.as_tensor(Xr) @ Wt, torch.as_tensor(y), reduction="none"))


def test_closed_form_is_scikit_learns_ridge_without_lpl(small):
    X, Y, rows, *_ = small
    x, y = X[rows], Y[rows]
    for lam in (0.0, 0.01, 0.3):
        W = ch01.lpa_closed_form(x, y, lam=lam)
        ref = Ridge(alpha=lam * len(x), fit_intercept=False, solver="svd").fit(x, y).coef_.T
        np.testing.assert_allclose(W, ref, rtol=1e-8, atol=1e-10)


def test_closed_form_with_lpl_is_the_augmented_least_squares(small):
    """MSE + beta LPL = least squares on the pairs stacked over sqrt(beta)-weighted (x~, y) rows; with a ridge,
    also sqrt(p lambda) I rows against zeros. The minimum-norm solution when the system is singular."""
    X, Y, rows, Xr, *_ = small
    x, y = X[rows], Y[rows]
    p = len(x)
    for beta, lam in ((1.0, 0.0), (3.0, 0.0), (0.5, 0.02)):
        A = np.vstack([x, np.sqrt(beta) * Xr, np.sqrt(p * lam) * np.eye(6)])
        B = np.vstack([y, np.sqrt(beta) * y, np.zeros((6, 4))])
        ref = np.linalg.lstsq(A, B, rcond=None)[0]
        np.testing.assert_allclose(ch01.lpa_closed_form(x, y, Xr, beta=beta, lam=lam), ref, rtol=1e-8, atol=1e-10)
    few = x[:3]  # 3 pairs in 6 dimensions: singular, minimum norm
    np.testing.assert_allclose(ch01.lpa_closed_form(few, y[:3]), np.linalg.pinv(few) @ y[:3], atol=1e-10)
    with pytest.raises(ValueError, match="X_rec"):
        ch01.lpa_closed_form(x, y, beta=1.0)


def test_the_books_gradient_descent_lpa_converges_to_the_closed_form(small):
    """The chapter's batched trainer (affine f, eq. 5 literally on the mapped neighbours) and the book's
    SGDAligner (loss="lpa", linear, full batch) both converge to the closed form of MSE + beta LPL: the controls'
    exact solutions are what the book's LPA code computes."""
    X, Y, rows, Xr, *_ = small
    beta = 2.0
    ones = np.ones((len(rows), 1))
    W_aff = ch01.lpa_closed_form(np.c_[X[rows], ones], Y[rows], np.c_[Xr, ones], beta=beta)
    mapped, hist = ch01.fit_alignment_batch(
        X, Y, rows[None], [beta], k=5, hidden=0, steps=1000, lr=2e-2, init_seeds=[0], device="cpu"
    )
    np.testing.assert_allclose(mapped[0].numpy(), np.c_[X, np.ones(len(X))] @ W_aff, atol=1e-4)
    W = ch01.lpa_closed_form(X[rows], Y[rows], Xr, beta=beta)
    pairs = np.c_[rows, rows]
    al = SGDAligner("lpa", k=5, beta=beta, epochs=1000, lr=2e-2, batch_size=None, patience=None, device="cpu")
    al.fit(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(Y, dtype=torch.float32), pairs)
    np.testing.assert_allclose(al.W_.cpu().numpy(), W, atol=1e-4)


# ------------------------------------------------------------------------------------------------ the data
@pytest.mark.parametrize("design", [ch01.POSITIVE, ch01.NEGATIVE], ids=lambda d: d.name)
def test_control_data_is_planted_as_described(design):
    x, x0, y = ch01.control_data(design, problem_seed=1, run_seed=2)
    assert x.shape == x0.shape == y.shape == (design.n, design.dim)
    assert (x0**2).sum(1).mean() == pytest.approx(1.0) and np.abs(x0.mean(0)).max() < 1e-12
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x0, axis=1))  # y = x0 Q, Q orthogonal
    Q = np.linalg.lstsq(x0, y, rcond=None)[0]
    np.testing.assert_allclose(Q @ Q.T, np.eye(design.dim), atol=1e-8)
    noise = np.linalg.norm(x - x0, axis=1).mean()
    assert noise == pytest.approx(design.noise, rel=0.05, abs=1e-12)  # the noise's norm relative to the points'
    x_b, _, y_b = ch01.control_data(design, problem_seed=1, run_seed=3)  # a run redraws the sample
    assert not np.allclose(x, x_b)
    Q_b = np.linalg.lstsq(ch01.control_data(design, 1, 3)[1], y_b, rcond=None)[0]
    np.testing.assert_allclose(Q_b, Q, atol=1e-6)  # ... but the problem (here Q) stays
    with pytest.raises(ValueError, match="kind"):
        ch01.ControlDesign("x", "torus")
    with pytest.raises(ValueError, match="n_pairs"):
        dataclasses.replace(design, n_pairs=design.n)


# -------------------------------------------------------------------------------------- verdicts as designed
@pytest.fixture(scope="module")
def verdicts():
    ch = setup("01_manifolds", profile="smoke", threads=None)
    cfg = ch01.settings(ch, base_seed=0, runs=12)
    assert cfg.control_runs == 12
    controls = ch01.run_controls(cfg)
    return controls, ch01.control_verdicts(cfg, controls)


def test_positive_control_lpl_helps_against_a_tuned_ridge(verdicts):
    controls, cv = verdicts
    pos = controls["positive"]
    _, v = cv[0]
    assert v.verdict == "reproduced" and v.low > 0 and v.runs == 12 and v.items == 12 * ch01.POSITIVE.n_test
    assert 0.1 < pos.recon.mean() < 0.5  # ||x - x~|| / ||x||: x~ is near x ...
    assert np.nanmean(pos.denoise) < 0.8  # ... and nearer the noise-free point than x is
    assert set(pos.chosen["MSE"]) <= set(ch01.RIDGE_GRID) and (pos.chosen["MSE"] > 0).any()  # ridge is used
    assert set(pos.chosen["MSE+LPL"]) <= set(ch01.BETA_GRID)
    lpl, mse = pos.paired("hit")
    assert lpl.shape == mse.shape == (12, ch01.POSITIVE.n_test) and set(np.unique(lpl)) <= {0.0, 1.0}


def test_negative_control_lpl_cannot_help_at_the_ceiling_and_hurts_the_map(verdicts):
    controls, cv = verdicts
    neg = controls["negative"]
    assert [v.verdict for _, v in cv[1:]] == ["reproduced", "reproduced"]
    assert (neg.items[("MSE", "hit")] == 1).all() and neg.items[("MSE", "error")].max() < 1e-12  # the ceiling
    assert (neg.chosen["MSE"] == 0).all()  # ties at the ceiling go to the lower validation error: plain MSE
    assert (neg.chosen["MSE+LPL"] == min(ch01.BETA_GRID)).all()
    assert cv[2][1].high < -cv[2][1].margin  # the error rises by more than the margin
    assert np.isnan(neg.denoise).all() and neg.recon.mean() > 0.1  # no noise; x~ is no reconstruction of x


def test_control_table(verdicts):
    controls, _ = verdicts
    t = ch01.control_table(list(controls.values()))
    assert list(t["control"]) == ["positive", "positive", "negative", "negative"]
    assert list(t["method"]) == list(ch01.LOSSES) * 2
    row = t.iloc[1]
    assert row["hit@1 (%)"] == pytest.approx(100 * controls["positive"].items[("MSE+LPL", "hit")].mean())
    assert row["tuned"].startswith("beta = ")
