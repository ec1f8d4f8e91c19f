"""Tests of lpa_utils.maths.isomorphism against hand-worked cases and SciPy (MST, bipartite matching)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching, minimum_spanning_tree
from scipy.spatial.distance import cdist

from lpa_utils.maths import isomorphism as I


# ------------------------------------------------------------------------------------------------ graphs
def test_knn_graph_by_hand():
    """Four points on a line at 0, 1, 3, 7 (no unit scaling): with k = 1 the nearest neighbours are 1, 0, 1, 3,
    so the symmetric graph has edges {0-1, 1-2, 2-3}."""
    X = np.array([[0.0], [1.0], [3.0], [7.0]])
    A = I.knn_graph(X, k=1, unit=False)
    expected = np.zeros((4, 4))
    for i, j in ((0, 1), (1, 2), (2, 3)):
        expected[i, j] = expected[j, i] = 1
    np.testing.assert_array_equal(A, expected)
    with pytest.raises(ValueError, match="more than k rows"):
        I.knn_graph(X, k=4)


def test_laplacian_spectrum_of_a_path_and_a_star():
    """Path on 3 vertices: L eigenvalues 3, 1, 0; star K_{1,3}: 4, 1, 1, 0 (closed forms)."""
    path = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    np.testing.assert_allclose(I.laplacian_spectrum(path), [3, 1, 0], atol=1e-12)
    star = np.zeros((4, 4))
    star[0, 1:] = star[1:, 0] = 1
    np.testing.assert_allclose(I.laplacian_spectrum(star), [4, 1, 1, 0], atol=1e-12)
    with pytest.raises(ValueError, match="symmetric"):
        I.laplacian_spectrum(np.triu(star))


def test_energy_k_by_hand():
    assert I.energy_k([4, 1, 1, 0], 0.9) == 3  # 4/6 < 0.9, 5/6 < 0.9, 6/6 >= 0.9
    assert I.energy_k([4, 1, 1, 0], 0.6) == 1
    assert I.energy_k([5, 5], 0.5) == 1
    assert I.energy_k([0, 0, 0], 0.9) == 3


def test_eigenvector_similarity_rotation_invariant_and_hand_delta():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    Y = (X @ Q.T)[rng.permutation(120)]  # rotated and shuffled: the same graph up to relabelling
    out = I.eigenvector_similarity(X, Y, k=5)
    assert out["delta"] == pytest.approx(0.0, abs=1e-8)
    # against a different cloud: the formula on the returned spectra
    Z = rng.standard_normal((120, 6)) ** 3
    out = I.eigenvector_similarity(X, Z, k=5)
    sx, sz, kk = out["spectrum_x"], out["spectrum_y"], out["k_used"]
    assert kk == min(I.energy_k(sx), I.energy_k(sz))
    assert out["delta"] == pytest.approx(float(np.sum((sx[:kk] - sz[:kk]) ** 2)))
    assert out["delta"] > 0


# ------------------------------------------------------------------------------------------- persistence
def test_h0_deaths_match_scipy_mst():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 4))
    got = I.h0_deaths(X, unit=False)
    mst = minimum_spanning_tree(csr_matrix(cdist(X, X))).data
    np.testing.assert_allclose(got, np.sort(mst), rtol=1e-10)
    # by hand: points 0, 1, 3, 7 on a line die at 1, 2, 4; duplicates die at 0
    np.testing.assert_allclose(I.h0_deaths(np.array([[0.0], [1.0], [3.0], [7.0]]), unit=False), [1, 2, 4])
    np.testing.assert_allclose(I.h0_deaths(np.array([[0.0], [0.0], [2.0]]), unit=False), [0, 2])


def _bottleneck_by_matching(a, b) -> float:
    """Reference: the smallest threshold t with a perfect matching of cost <= t in the usual augmented bipartite
    graph (points of a + diagonal copies of b's points, against points of b + diagonal copies of a's points)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    p, q = len(a), len(b)
    n = p + q
    cost = np.full((n, n), np.inf)
    cost[:p, :q] = np.abs(a[:, None] - b[None, :])
    cost[np.arange(p), q + np.arange(p)] = a / 2  # a_i -> its diagonal copy
    cost[p + np.arange(q), np.arange(q)] = b / 2  # diagonal copy of b_j -> b_j
    cost[p:, q:] = 0.0  # diagonal to diagonal
    for t in np.unique(cost[np.isfinite(cost)]):
        graph = csr_matrix((cost <= t + 1e-12).astype(float))
        if (maximum_bipartite_matching(graph, perm_type="column") >= 0).all():
            return float(t)
    raise AssertionError("no perfect matching")


@pytest.mark.parametrize("seed", range(40))
def test_bottleneck_h0_matches_general_matching(seed):
    rng = np.random.default_rng(seed)
    p, q = rng.integers(1, 7, size=2)
    scale = rng.choice([0.3, 1.0, 5.0])
    a = rng.exponential(scale, p) if seed % 3 else rng.integers(0, 4, p).astype(float)  # ties too
    b = rng.exponential(1.0, q) if seed % 3 else rng.integers(0, 4, q).astype(float)
    assert I.bottleneck_h0(a, b) == pytest.approx(_bottleneck_by_matching(a, b), abs=1e-12)


def test_bottleneck_h0_by_hand_and_errors():
    assert I.bottleneck_h0([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert I.bottleneck_h0([4.0], []) == 2.0  # to the diagonal
    assert I.bottleneck_h0([4.0], [3.0]) == 1.0  # matched: |4 - 3| = 1 < max(4, 3) / 2
    assert I.bottleneck_h0([4.0, 0.5], [1.0]) == pytest.approx(2.0)  # 4 -> 1 costs 3; both to the diagonal 2
    with pytest.raises(ValueError, match="death times"):
        I.bottleneck_h0([-1.0], [1.0])


def test_gromov_hausdorff_bound_zero_for_isometry_positive_otherwise():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 5))
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    assert I.gromov_hausdorff_bound(X, (X @ Q.T)[::-1]) == pytest.approx(0.0, abs=1e-10)
    # one cloud twice as spread (no unit scaling): all deaths double, so the bound is max over r as in the formula
    d = I.h0_deaths(X, unit=False)
    got = I.gromov_hausdorff_bound(X, 2 * X, unit=False)
    assert got == pytest.approx(0.5 * I.bottleneck_h0(d, 2 * d))
    assert got > 0
