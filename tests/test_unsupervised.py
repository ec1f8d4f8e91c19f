"""Tests of lpa_utils.align.unsupervised (Artetxe et al. 2018, fully unsupervised) against SciPy and planted maps."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from lpa_utils.align import UnsupervisedSelfLearning
from lpa_utils.align import unsupervised as U


def _planted(n=400, d=8, seed=0, noise=0.0):
    """A skewed cloud X, a Haar rotation Q, Y = X Q^T (+ noise) with the rows shuffled; gold[i] = row of Y that
    is the image of row i."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(2.0, 0.5, d) + rng.exponential(1.0, (n, 1)) * rng.standard_normal(d)
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    Q = Q * np.sign(np.diag(R))
    perm = rng.permutation(n)
    Y = X @ Q.T + noise * rng.standard_normal((n, d))
    return X.astype(np.float32), Y[perm].astype(np.float32), np.argsort(perm)


def _unit_center_unit_np(M):
    M = M / np.linalg.norm(M, axis=1, keepdims=True)
    M = M - M.mean(0)
    return M / np.linalg.norm(M, axis=1, keepdims=True)


def test_sqrt_similarity_profiles_match_scipy_sqrtm():
    """sqrt(X X^T) from the SVD equals SciPy's principal matrix square root of the (PSD) similarity matrix."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 5))
    M = np.real(scipy.linalg.sqrtm(X @ X.T + 1e-12 * np.eye(30)))
    expected = _unit_center_unit_np(np.sort(M, axis=1))
    got = U.sqrt_similarity_profiles(X).numpy()
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_profiles_are_rotation_invariant_and_initial_dictionary_exact_on_an_isometry():
    X, Y, gold = _planted(n=200, d=6, seed=1)
    Xn, Yn = U._unit_center_unit(torch.tensor(X)), U._unit_center_unit(torch.tensor(Y))
    px, py = U.sqrt_similarity_profiles(Xn), U.sqrt_similarity_profiles(Yn)
    torch.testing.assert_close(px, py[gold], atol=1e-4, rtol=0)
    pairs = U.initial_dictionary(Xn, Yn, n=200)
    assert pairs.shape == (400, 2)
    src, tgt = pairs[:, 0], pairs[:, 1]
    assert np.mean(gold[src] == tgt) >= 0.99  # every word paired with its own image


def test_self_learning_recovers_a_noisy_planted_rotation():
    X, Y, gold = _planted(n=500, d=8, seed=2, noise=0.05)
    m = UnsupervisedSelfLearning(init_vocab=500, vocab=500, interval=3, seed=0).fit(X, Y)
    S = (
        torch.nn.functional.normalize(m.transform(X), dim=1)
        @ torch.nn.functional.normalize(m.transform_target(Y), dim=1).T
    )
    p1 = float((S.argmax(1).numpy() == gold).mean())
    assert p1 >= 0.95, p1
    h = m.history_
    assert list(h.columns) == ["iteration", "objective", "keep_prob", "pairs"]
    assert h["keep_prob"].iloc[0] == pytest.approx(0.1) and h["keep_prob"].iloc[-1] == 1.0
    assert h["keep_prob"].is_monotonic_increasing
    assert m.n_iter_ == len(h) and m.objective_ == pytest.approx(h["objective"].max())


def test_deterministic_given_the_seed_and_global_rng_untouched():
    X, Y, _ = _planted(n=150, d=5, seed=3, noise=0.3)
    state = torch.random.get_rng_state()
    a = UnsupervisedSelfLearning(init_vocab=100, vocab=150, interval=2, seed=5).fit(X, Y)
    b = UnsupervisedSelfLearning(init_vocab=100, vocab=150, interval=2, seed=5).fit(X, Y)
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(a.pairs_, b.pairs_)
    torch.testing.assert_close(a.transform(X), b.transform(X), rtol=0, atol=0)


def test_errors():
    with pytest.raises(ValueError, match="keep_prob"):
        UnsupervisedSelfLearning(keep_prob=0.0)
    with pytest.raises(RuntimeError, match="fit"):
        UnsupervisedSelfLearning().transform(np.ones((3, 2)))


def test_max_stage_iter_caps_each_keep_probability_stage():
    """With one iteration per stage the keep probability runs 0.1, 0.2, 0.4, 0.8, 1.0 and the loop ends."""
    X, Y, _ = _planted(n=120, d=5, seed=4, noise=0.2)
    m = UnsupervisedSelfLearning(init_vocab=100, vocab=120, interval=50, max_stage_iter=1, seed=0).fit(X, Y)
    assert m.history_["keep_prob"].tolist() == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])
