"""lpa_utils.align against SciPy / scikit-learn / a NumPy transcription of VecMap's supervised steps, and the
planted problem (a known random rotation plus noise) on which every aligner must reach P@1 >= 0.99."""

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import torch
from sklearn.linear_model import Ridge
from sklearn.manifold._locally_linear import barycenter_weights
from sklearn.neighbors import NearestNeighbors

from lpa_utils.align import (
    DeWhiten,
    DimReduce,
    LeastSquares,
    Normalize,
    Pipeline,
    Procrustes,
    ReWeight,
    SGDAligner,
    ShigetoRidge,
    Whiten,
    artetxe2016,
    artetxe2018,
    lle_neighbourhoods,
    smith2017,
)
from lpa_utils.maths.retrieval import evaluate_translation

pytestmark = pytest.mark.usefixtures("one_thread")


def _pairs(n, p, seed=0):
    rows = np.random.default_rng(seed).permutation(n)[:p]
    return np.stack([rows, rows], 1)


def _xy(n=400, ds=12, dt=12, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, ds))
    A = np.linalg.qr(rng.normal(size=(max(ds, dt), max(ds, dt))))[0][:ds, :dt]
    Y = X @ A + noise * rng.normal(size=(n, dt))
    return X.astype(np.float32), Y.astype(np.float32), A


# ------------------------------------------------------------------------------------------ algebraic maps
@pytest.mark.parametrize("dims", [(12, 12), (8, 20)])
def test_least_squares_matches_scipy_lstsq(dims):
    X, Y, _ = _xy(ds=dims[0], dt=dims[1])
    P = _pairs(len(X), 150)
    W = LeastSquares(device="cpu").fit(X, Y, P).W_.numpy()
    want = scipy.linalg.lstsq(X[P[:, 0]].astype(np.float64), Y[P[:, 1]].astype(np.float64))[0]
    np.testing.assert_allclose(W, want, atol=1e-5)
    Z = LeastSquares(device="cpu").fit(X, Y, P).transform(X)
    assert Z.shape == (len(X), dims[1]) and Z.dtype == torch.float32


def test_least_squares_ridge_closed_form():
    X, Y, _ = _xy()
    P = _pairs(len(X), 100)
    A, B = X[P[:, 0]].astype(np.float64), Y[P[:, 1]].astype(np.float64)
    want = np.linalg.solve(A.T @ A + 2.5 * np.eye(A.shape[1]), A.T @ B)
    np.testing.assert_allclose(LeastSquares(ridge=2.5, device="cpu").fit(X, Y, P).W_.numpy(), want, atol=1e-5)


def test_procrustes_matches_scipy_orthogonal_procrustes():
    X, Y, _ = _xy(noise=0.3)
    P = _pairs(len(X), 200)
    W = Procrustes(device="cpu").fit(X, Y, P).W_.numpy()
    R, _ = scipy.linalg.orthogonal_procrustes(X[P[:, 0]].astype(np.float64), Y[P[:, 1]].astype(np.float64))
    np.testing.assert_allclose(W, R, atol=1e-5)
    np.testing.assert_allclose(W @ W.T, np.eye(12), atol=1e-5)


def test_procrustes_semi_orthogonal_when_dims_differ_and_common_space_agrees():
    X, Y, _ = _xy(ds=6, dt=15, noise=0.1)
    P = _pairs(len(X), 200)
    pr = Procrustes(device="cpu").fit(X, Y, P)
    W = pr.W_.numpy().astype(np.float64)
    np.testing.assert_allclose(W @ W.T, np.eye(6), atol=1e-5)  # orthonormal rows
    # optimal: tr(W^T M) equals the nuclear norm of M = X_d^T Y_d (the maximum over semi-orthogonal W)
    M = X[P[:, 0]].astype(np.float64).T @ Y[P[:, 1]].astype(np.float64)
    np.testing.assert_allclose(np.trace(W.T @ M), np.linalg.svd(M, compute_uv=False).sum(), rtol=1e-5)
    # equal dims: the common space (X U, Y V) gives the same dot products as the target space (X U V^T, Y)
    X2, Y2, _ = _xy(noise=0.2, seed=3)
    a = Procrustes(device="cpu").fit(X2, Y2, P)
    b = Procrustes(space="common", device="cpu").fit(X2, Y2, P)
    np.testing.assert_allclose(
        (a.transform(X2) @ a.transform_target(Y2).T).numpy(),
        (b.transform(X2) @ b.transform_target(Y2).T).numpy(),
        atol=1e-3,
    )


def test_shigeto_ridge_matches_sklearn_ridge_target_to_source():
    X, Y, _ = _xy(ds=10, dt=14)
    P = _pairs(len(X), 120)
    sh = ShigetoRidge(alpha=3.0, device="cpu").fit(X, Y, P)
    ref = Ridge(alpha=3.0, fit_intercept=False, solver="cholesky").fit(
        Y[P[:, 1]].astype(np.float64), X[P[:, 0]].astype(np.float64)
    )
    np.testing.assert_allclose(sh.B_.numpy(), ref.coef_.T, atol=1e-5)
    np.testing.assert_array_equal(sh.transform(X).numpy(), X)  # retrieval in the source space
    np.testing.assert_allclose(sh.transform_target(Y).numpy(), Y @ ref.coef_.T, atol=1e-4)


# ------------------------------------------------------------------------------- Artetxe 2018 framework
def test_normalize_unit_center_unit():
    X, Y, _ = _xy()
    X = X + 3.0
    nz = Normalize(("unit", "center"), device="cpu").fit(X, Y)
    Z = nz.transform(X).numpy()
    np.testing.assert_allclose(Z.mean(0), 0.0, atol=1e-6)
    Z3 = Normalize(device="cpu").fit(X, Y).transform(X).numpy()
    np.testing.assert_allclose(np.linalg.norm(Z3, axis=1), 1.0, atol=1e-5)
    # the means are frozen at fit time: transforming a subset uses the vocabulary's mean, not the subset's
    np.testing.assert_allclose(nz.transform(X[:5]).numpy(), Z[:5], atol=1e-6)
    with pytest.raises(ValueError, match="unknown operation"):
        Normalize(("unit", "length"))


def test_whiten_gives_identity_covariance_on_the_dictionary():
    X, Y, _ = _xy(ds=8, dt=11)
    P = _pairs(len(X), 100)
    w = Whiten(device="cpu").fit(X, Y, P)
    Xd = w.transform(X).numpy()[P[:, 0]].astype(np.float64)
    Yd = w.transform_target(Y).numpy()[P[:, 1]].astype(np.float64)
    np.testing.assert_allclose(Xd.T @ Xd, np.eye(8), atol=1e-4)
    np.testing.assert_allclose(Yd.T @ Yd, np.eye(11), atol=1e-4)
    with pytest.raises(ValueError, match="whitening is singular"):
        Whiten(device="cpu").fit(X, Y, P[:5])
    Whiten(eps=1e-3, device="cpu").fit(X, Y, P[:5])  # regularised: fine


def _vecmap_supervised(X, Z, src, trg, src_reweight, trg_reweight, src_dewhiten, trg_dewhiten, dim):
    """NumPy transcription of VecMap's supervised steps (map_embeddings.py, Artetxe et al. 2018), float64."""

    def unit(m):
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    def whitening(m):
        u, s, vt = np.linalg.svd(m, full_matrices=False)
        return vt.T.dot(np.diag(1 / s)).dot(vt)

    xw = unit(unit(X) - unit(X).mean(0))
    zw = unit(unit(Z) - unit(Z).mean(0))
    xw, zw = unit(xw), unit(zw)
    wx1, wz1 = whitening(xw[src]), whitening(zw[trg])
    xw, zw = xw.dot(wx1), zw.dot(wz1)
    wx2, s, wz2_t = np.linalg.svd(xw[src].T.dot(zw[trg]))
    wz2 = wz2_t.T
    xw, zw = xw.dot(wx2), zw.dot(wz2)
    xw *= s**src_reweight
    zw *= s**trg_reweight
    dw = {"src": wx2.T.dot(np.linalg.inv(wx1)).dot(wx2), "trg": wz2.T.dot(np.linalg.inv(wz1)).dot(wz2)}
    xw, zw = xw.dot(dw[src_dewhiten]), zw.dot(dw[trg_dewhiten])
    return xw[:, :dim], zw[:, :dim]


def test_artetxe2018_pipeline_equals_vecmap_transcription():
    X, Y, _ = _xy(ds=10, dt=10, noise=0.3)
    P = _pairs(len(X), 150)
    pipe = Pipeline(
        [
            Normalize(("unit", "center", "unit"), device="cpu"),
            Whiten(device="cpu"),
            Procrustes(space="common", device="cpu"),
            ReWeight(0.5, 0.5, device="cpu"),
            DeWhiten("src", "tgt", device="cpu"),
            DimReduce(7, device="cpu"),
        ]
    ).fit(X, Y, P)
    xw, zw = _vecmap_supervised(X.astype(np.float64), Y.astype(np.float64), P[:, 0], P[:, 1], 0.5, 0.5, "src", "trg", 7)
    # the singular vectors are unique up to a sign per axis: compare the similarity matrices
    np.testing.assert_allclose((pipe.transform(X) @ pipe.transform_target(Y).T).numpy(), xw @ zw.T, atol=2e-3)
    assert pipe.transform(X).shape == (len(X), 7)
    # the (unit, center) recipe of artetxe2018() with target re-weighting
    a18 = artetxe2018(n_components=0.5, device="cpu").fit(X, Y, P)
    assert a18.transform(X).shape == (len(X), 5)


def test_steps_that_need_the_common_space_say_so():
    X, Y, _ = _xy()
    P = _pairs(len(X), 100)
    for step in (ReWeight(), DimReduce(3)):
        with pytest.raises(ValueError, match="Procrustes\\(space='common'\\)"):
            Pipeline([Procrustes(device="cpu"), step]).fit(X, Y, P)
    with pytest.raises(ValueError, match="Whiten"):
        Pipeline([Procrustes(space="common", device="cpu"), DeWhiten()]).fit(X, Y, P)


def test_bad_pairs_raise_clear_errors():
    X, Y, _ = _xy(n=50)
    with pytest.raises(ValueError, match="source rows must lie in"):
        LeastSquares(device="cpu").fit(X, Y, np.array([[0, 1], [50, 2]]))
    with pytest.raises(ValueError, match=r"\(p, 2\)"):
        Procrustes(device="cpu").fit(X, Y, np.array([0, 1, 2]))
    with pytest.raises(RuntimeError, match="fit"):
        Procrustes().transform(X)


# ------------------------------------------------------------------------------------------ SGD aligners
def test_sgd_mse_converges_to_least_squares():
    X, Y, _ = _xy(n=300, ds=6, dt=9, noise=0.2)
    P = _pairs(len(X), 200)
    sgd = SGDAligner("mse", epochs=300, lr=0.05, batch_size=None, patience=None, seed=0, device="cpu").fit(X, Y, P)
    want = scipy.linalg.lstsq(X[P[:, 0]].astype(np.float64), Y[P[:, 1]].astype(np.float64))[0]
    np.testing.assert_allclose(sgd.W_.numpy(), want, atol=2e-3)


def test_lpa_phase1_neighbours_and_weights_match_sklearn():
    X, _, _ = _xy(n=300, ds=8)
    rows = torch.tensor([5, 17, 250, 3])
    idx, W = lle_neighbourhoods(torch.from_numpy(X), rows, k=6, reg=1e-3)
    nn = NearestNeighbors(n_neighbors=7).fit(X.astype(np.float64))
    want_idx = nn.kneighbors(X[rows.numpy()].astype(np.float64), return_distance=False)[:, 1:]  # self first
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    want_w = barycenter_weights(X[rows.numpy()].astype(np.float64), X.astype(np.float64), want_idx, reg=1e-3)
    np.testing.assert_allclose(W.numpy(), want_w, atol=1e-5)
    # neighbours restricted to the n_ref most frequent rows: row 250 is not among them, nothing is dropped wrongly
    idx2, _ = lle_neighbourhoods(torch.from_numpy(X), rows, k=6, n_ref=100)
    assert int(idx2.max()) < 100 and not (idx2 == rows[:, None]).any()


def test_lpa_fast_lpl_equals_literal_eq5():
    X, Y, _ = _xy(n=300, ds=8, dt=10, noise=0.1)
    P, V = _pairs(len(X), 120), _pairs(len(X), 30, seed=5)
    kw = dict(loss="lpa", k=5, beta=0.7, ortho=0.1, epochs=8, lr=0.01, batch_size=32, seed=3, device="cpu")
    a = SGDAligner(**kw).fit(X, Y, P, val_pairs=V)
    b = SGDAligner(lpl_exact=True, **kw).fit(X, Y, P, val_pairs=V)
    np.testing.assert_allclose(a.W_.numpy(), b.W_.numpy(), atol=1e-5)
    np.testing.assert_allclose([h["lpl"] for h in a.history_], [h["lpl"] for h in b.history_], rtol=1e-4)
    assert a.neighbors_.shape == (len(np.unique(P[:, 0])), 5)
    np.testing.assert_allclose(a.lle_weights_.sum(1).numpy(), 1.0, atol=1e-5)


def test_sgd_deterministic_under_seed_and_early_stopping_keeps_best():
    X, Y, _ = _xy(n=300, noise=0.1)
    P, V = _pairs(len(X), 150), _pairs(len(X), 40, seed=9)
    kw = dict(loss="lpa", k=4, epochs=30, lr=0.01, patience=5, device="cpu")
    a = SGDAligner(seed=1, **kw).fit(X, Y, P, val_pairs=V)
    b = SGDAligner(seed=1, **kw).fit(X, Y, P, val_pairs=V)
    c = SGDAligner(seed=2, **kw).fit(X, Y, P, val_pairs=V)
    assert torch.equal(a.W_, b.W_) and not torch.equal(a.W_, c.W_)
    h = pd.DataFrame(a.history_)
    best = h.sort_values(["val_p@1", "val_mse"], ascending=[False, True]).iloc[0]
    assert int(best["epoch"]) == a.best_epoch_
    assert len(h) <= 30 and (len(h) == 30 or len(h) - a.best_epoch_ == 5)


# ----------------------------------------------------------------------------------------- planted problem
def _planted(ds, dt, seed=0):
    """A random (semi-)orthogonal map plus noise; 1,000 training pairs, 100 validation, 500 test words."""
    n = 3000
    X, Y, _ = _xy(n=n, ds=ds, dt=dt, noise=0.05, seed=seed)
    perm = np.random.default_rng(seed + 1).permutation(n)
    tr, va, te = perm[:1000], perm[1000:1100], perm[1500:2000]
    words = np.array([f"w{i}" for i in range(n)])
    test = pd.DataFrame({"src": words[te], "tgt": words[te]})
    return X, Y, np.stack([tr, tr], 1), np.stack([va, va], 1), list(words), test


ALIGNERS = {
    "least squares": lambda: LeastSquares(device="cpu"),
    "procrustes": lambda: Procrustes(device="cpu"),
    "shigeto ridge": lambda: ShigetoRidge(device="cpu"),
    "artetxe 2016": lambda: artetxe2016(device="cpu"),
    "smith 2017": lambda: smith2017(n_components=0.9, device="cpu"),
    "artetxe 2018": lambda: artetxe2018(n_components=0.9, device="cpu"),
    "sgd mse": lambda: SGDAligner("mse", epochs=40, lr=0.02, seed=0, device="cpu"),
    "sgd lpa": lambda: SGDAligner("lpa", k=10, beta=1.0, epochs=40, lr=0.02, seed=0, device="cpu"),
    "sgd lpa ortho": lambda: Pipeline(
        [
            Normalize(("unit", "center"), device="cpu"),
            SGDAligner("lpa", k=10, beta=1.0, ortho=1.0, epochs=40, lr=0.02, seed=0, device="cpu"),
        ]
    ),
}


@pytest.mark.parametrize("name", list(ALIGNERS))
@pytest.mark.parametrize("dims", [(24, 24), (12, 30)])
def test_planted_rotation_recovered_by_every_aligner(name, dims):
    X, Y, P, V, words, test = _planted(*dims)
    al = ALIGNERS[name]().fit(X, Y, P, val_pairs=V)
    for method in ("csls", "nn"):
        ev = evaluate_translation(
            al.transform(X), al.transform_target(Y), words, words, test, method=method, device="cpu"
        )
        assert ev["n_queries"] == 500 and ev["coverage"] == 1.0
        assert ev["p@1"] >= 0.99, (name, dims, method, ev["p@1"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(k=-1), "k must be an integer >= 0"),
        (dict(epochs=0), "epochs >= 1"),
        (dict(batch_size=-5), "batch_size must be an integer >= 1 or None"),
        (dict(patience=0), "patience must be an integer >= 1 or None"),
        (dict(n_ref=5, k=10), "n_ref must be an integer >= 11"),
        (dict(beta=-1.0), "beta must be a finite number >= 0"),
        (dict(ortho=float("nan")), "ortho must be a finite number >= 0"),
        (dict(knn_method="ball"), "knn_method must be"),
    ],
)
def test_sgd_aligner_sizes_are_validated_naming_the_argument(kwargs, message):
    """Issue 16: sizes and counts are checked where they enter, with the argument named."""
    with pytest.raises((ValueError, TypeError), match=message):
        SGDAligner(**kwargs)


def test_algebraic_aligners_reject_negative_penalties():
    with pytest.raises(ValueError, match="ridge must be a finite number >= 0"):
        LeastSquares(ridge=-1)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        ShigetoRidge(alpha=float("inf"))
