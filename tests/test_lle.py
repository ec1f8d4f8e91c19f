"""lpa_utils.maths.lle against scikit-learn's barycenter weights and LocallyLinearEmbedding, invariances, hand cases."""

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.stats import ortho_group
from sklearn.datasets import make_swiss_roll
from sklearn.manifold import LocallyLinearEmbedding
from sklearn.manifold._locally_linear import barycenter_weights

from lpa_utils.maths.lle import learn_lle_weights, lle_embedding, lle_weights, reconstruction_error
from lpa_utils.maths.neighbors import knn


def _data(n=400, d=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize("d,k", [(8, 5), (3, 10)])  # k < d, and k > d (singular Gram: regulariser matters)
def test_closed_form_equals_sklearn_barycenter_weights(d, k):
    X = _data(400, d)
    _, idx = knn(X, k, device="cpu")
    W = lle_weights(X, idx, reg=1e-3, device="cpu", dtype=torch.float64).numpy()
    ref = barycenter_weights(X, X, idx.numpy(), reg=1e-3)
    np.testing.assert_allclose(W, ref, atol=1e-9, rtol=1e-7)
    np.testing.assert_allclose(W.sum(1), 1.0, atol=1e-12)


def test_float32_default_and_reference_set_and_chunks():
    X = _data(300, 6, seed=1)
    ref = _data(1000, 6, seed=2)
    _, idx = knn(ref, 6, queries=X, device="cpu")
    W = lle_weights(X, idx, ref=ref, device="cpu", chunk_size=17)
    assert W.dtype == torch.float32 and W.shape == (300, 6)
    np.testing.assert_allclose(W.numpy(), barycenter_weights(X, ref, idx.numpy()), atol=1e-5)


def test_hand_worked_midpoint():
    # x = (1, 0) between neighbours (0, 0) and (2, 0): W = (1/2, 1/2), zero reconstruction error (reg -> 0)
    X = np.array([[1.0, 0.0]])
    ref = np.array([[0.0, 0.0], [2.0, 0.0], [9.0, 9.0]])
    W = lle_weights(X, np.array([[0, 1]]), reg=1e-12, ref=ref, device="cpu", dtype=torch.float64)
    np.testing.assert_allclose(W.numpy(), [[0.5, 0.5]], atol=1e-9)
    # x = (1, 1) with neighbours (0, 0), (2, 0), (0, 2): exactly 0*a + 1/2 b + 1/2 c
    W = lle_weights(
        np.array([[1.0, 1.0]]),
        np.array([[0, 1, 2]]),
        reg=1e-12,
        ref=np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]]),
        device="cpu",
        dtype=torch.float64,
    )
    np.testing.assert_allclose(W.numpy(), [[0.0, 0.5, 0.5]], atol=1e-9)


def test_weights_invariant_to_rotation_scale_translation():
    X = _data(300, 6, seed=3)
    _, idx = knn(X, 8, device="cpu")
    W = lle_weights(X, idx, device="cpu", dtype=torch.float64).numpy()
    Q = ortho_group.rvs(6, random_state=0)
    Xt = 3.7 * X @ Q + np.arange(6) * 10.0
    W2 = lle_weights(Xt, idx, device="cpu", dtype=torch.float64).numpy()
    np.testing.assert_allclose(W2, W, atol=1e-8)
    # and the transformed data finds the same neighbours
    assert torch.equal(knn(Xt, 8, device="cpu")[1], idx)


def test_reconstruction_error_is_eq1():
    X = _data(200, 5, seed=4)
    _, idx = knn(X, 6, device="cpu")
    W = lle_weights(X, idx, device="cpu", dtype=torch.float64)
    err = reconstruction_error(X, idx, W, device="cpu").numpy()
    by_hand = ((X - np.einsum("nk,nkd->nd", W.numpy(), X[idx.numpy()])) ** 2).sum(1)
    np.testing.assert_allclose(err, by_hand, rtol=1e-10)
    # the closed form beats any other sum-to-one weights, e.g. uniform ones
    uniform = np.full_like(W.numpy(), 1 / 6)
    assert (err <= reconstruction_error(X, idx, uniform, device="cpu").numpy() + 1e-12).all()


def test_learned_weights_converge_to_closed_form():
    X = _data(300, 10, seed=5)
    _, idx = knn(X, 6, device="cpu")
    W_star = lle_weights(X, idx, device="cpu", dtype=torch.float64)
    W, hist = learn_lle_weights(X, idx, steps=400, lr=1.0, seed=0, device="cpu", dtype=torch.float64)
    np.testing.assert_allclose(W.sum(1).numpy(), 1.0, atol=1e-12)  # constraint held all the way
    assert (W - W_star).abs().max() < 1e-6
    assert hist["max_abs_diff"][-1] < 1e-6 < hist["max_abs_diff"][0]
    assert len(hist["loss"]) == 401 and hist["objective"][-1] <= hist["objective"][0]
    # deterministic under the seed; another seed starts elsewhere
    W2, h2 = learn_lle_weights(X, idx, steps=5, seed=0, device="cpu")
    W3, h3 = learn_lle_weights(X, idx, steps=5, seed=0, device="cpu")
    W4, h4 = learn_lle_weights(X, idx, steps=5, seed=1, device="cpu")
    assert torch.equal(W2, W3) and not torch.equal(W2, W4)


def _procrustes_gap(Y, Yref):
    R, _ = orthogonal_procrustes(Y, Yref)
    return np.abs(Y @ R - Yref).max() / np.abs(Yref).max()


@pytest.mark.parametrize("solver", ["dense", "arpack"])
def test_embedding_matches_sklearn_lle(solver):
    X, _ = make_swiss_roll(600, noise=0.05, random_state=0)
    Y = lle_embedding(X, 12, 2, eigen_solver=solver, device="cpu", dtype=torch.float64).numpy()
    ref = LocallyLinearEmbedding(n_neighbors=12, n_components=2, eigen_solver="dense").fit_transform(X)
    assert Y.shape == (600, 2)
    assert _procrustes_gap(Y, ref) < 1e-5
    np.testing.assert_allclose(Y.T @ Y, np.eye(2), atol=1e-8)  # unit covariance constraint of eq. 2


def test_bad_input():
    X = _data(20, 3)
    with pytest.raises(ValueError, match="neighbour indices"):
        lle_weights(X, np.full((20, 3), 25), device="cpu")
    with pytest.raises(ValueError, match="idx must be"):
        lle_weights(X, np.zeros((19, 3), dtype=int), device="cpu")
    with pytest.raises(ValueError, match="n_components"):
        lle_embedding(X, 4, 20, device="cpu")
