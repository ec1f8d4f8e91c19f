"""lpa_utils.maths.neighbors.knn against scikit-learn (NearestNeighbors brute force and KDTree) and hand-worked
cases."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import KDTree, NearestNeighbors

from lpa_utils.maths.neighbors import knn


def _data(n=600, d=12, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("method", ["brute", "kdtree"])
def test_knn_matches_sklearn(metric, method):
    X = _data()
    k = 7
    dist, idx = knn(X, k, metric=metric, method=method, device="cpu")
    assert dist.shape == (600, k) and idx.shape == (600, k)
    assert dist.dtype == torch.float32 and idx.dtype == torch.int64
    ref = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute").fit(X.astype(np.float64))
    rd, ri = ref.kneighbors(X.astype(np.float64))
    assert (ri[:, 0] == np.arange(600)).all()  # sklearn keeps the point itself first
    np.testing.assert_array_equal(idx.numpy(), ri[:, 1:])
    np.testing.assert_allclose(dist.numpy(), rd[:, 1:], rtol=1e-5, atol=1e-6)


def test_brute_and_kdtree_agree_and_match_sklearn_kdtree_with_queries():
    X = _data(800, 8, seed=1)
    Q = _data(50, 8, seed=2)
    d1, i1 = knn(X, 5, method="brute", queries=Q, device="cpu")
    d2, i2 = knn(X, 5, method="kdtree", queries=Q, device="cpu")
    td, ti = KDTree(X.astype(np.float64)).query(Q.astype(np.float64), k=5)
    np.testing.assert_array_equal(i1.numpy(), i2.numpy())
    np.testing.assert_array_equal(i1.numpy(), ti)
    np.testing.assert_allclose(d1.numpy(), td, rtol=1e-5)


def test_self_excluded_and_ascending():
    X = _data(300, 5, seed=3)
    for method in ("brute", "kdtree"):
        dist, idx = knn(X, 10, method=method, device="cpu")
        assert not (idx.numpy() == np.arange(300)[:, None]).any()
        assert (np.diff(dist.numpy(), axis=1) >= 0).all()


def test_small_batches_give_same_result():
    X = _data(257, 6, seed=4)
    a = knn(X, 4, device="cpu")
    b = knn(X, 4, device="cpu", batch_size=10)
    assert torch.equal(a[1], b[1]) and torch.equal(a[0], b[0])


def test_hand_worked_line():
    # points on a line at 0, 1, 3, 7: nearest of each by hand
    X = np.array([[0.0], [1.0], [3.0], [7.0]])
    for method in ("brute", "kdtree"):
        dist, idx = knn(X, 2, method=method, device="cpu")
        np.testing.assert_array_equal(idx.numpy(), [[1, 2], [0, 2], [1, 0], [2, 1]])
        np.testing.assert_allclose(dist.numpy(), [[1, 3], [1, 2], [2, 3], [4, 6]])


def test_duplicate_point_is_a_neighbour_but_self_is_not():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [1.0, 0.0]])
    for method in ("brute", "kdtree"):
        dist, idx = knn(X, 1, method=method, device="cpu")
        assert idx[0, 0] == 1 and idx[1, 0] == 0 and dist[0, 0] == 0


def test_cosine_is_one_minus_cos_by_hand():
    X = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    dist, idx = knn(X, 2, metric="cosine", device="cpu")
    c = 1 - 1 / np.sqrt(2)
    np.testing.assert_array_equal(idx.numpy(), [[2, 1], [2, 0], [0, 1]])
    np.testing.assert_allclose(dist.numpy(), [[c, 1.0], [c, 1.0], [c, c]], atol=1e-6)


def test_torch_input_and_bad_input():
    X = torch.from_numpy(_data(40, 3))
    _, idx = knn(X, 3, device="cpu")
    assert idx.device.type == "cpu"
    with pytest.raises(ValueError, match="k=40"):
        knn(X, 40, device="cpu")
    with pytest.raises(ValueError, match="metric"):
        knn(X, 3, metric="manhattan", device="cpu")
    with pytest.raises(ValueError, match="all-zero"):
        knn(np.zeros((5, 2)), 2, metric="cosine", device="cpu")
    bad = _data(10, 3)
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        knn(bad, 2, device="cpu")
    with pytest.raises(ValueError, match="dimension"):
        knn(X, 2, queries=np.zeros((2, 5)), device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    X = _data(500, 16)
    dc, ic = knn(X, 6, device="cpu")
    dg, ig = knn(X, 6, device="cuda")
    assert ig.device.type == "cuda"
    np.testing.assert_array_equal(ic.numpy(), ig.cpu().numpy())
    np.testing.assert_allclose(dc.numpy(), dg.cpu().numpy(), rtol=1e-5)
