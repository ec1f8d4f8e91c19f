"""lpa_utils.chapters.ch01_manifolds: neighbourhood measures against scikit-learn / hand cases, the batched MLP against
independent per-model training, and the Figure-1 experiment's plumbing on tiny sizes."""
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

from lpa_utils.chapters.ch01_manifolds import (
    BatchedMLP,
    alignment_scores,
    embed_all,
    figure1_experiment,
    fit_alignment_batch,
    hidden_map,
    make_manifold,
    neighbourhood_table,
    sample_pairs,
    train_autoencoder,
)
from lpa_utils.maths.neighbors import knn_kept, knn_overlap


def test_make_manifold_shapes_and_determinism():
    for name in ("swiss_roll", "s_curve"):
        X, t = make_manifold(name, 200, seed=3)
        X2, _ = make_manifold(name, 200, seed=3)
        assert X.shape == (200, 3) and t.shape == (200,)
        np.testing.assert_array_equal(X, X2)
    with pytest.raises(ValueError, match="swiss_roll"):
        make_manifold("torus")


def test_knn_overlap_hand_worked():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    b = np.array([[3, 2, 9], [7, 8, 9]])
    np.testing.assert_allclose(knn_overlap(a, b), [2 / 3, 0.0])


def test_knn_kept_identity_rotation_and_sklearn():
    X, _ = make_manifold("s_curve", 300, seed=0)
    assert knn_kept(X, X, 5) == 1.0
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    assert knn_kept(X, 2.0 * X @ Q + 1.0, 5) == 1.0
    Y = X[:, :2]
    ref_a = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X)[1][:, 1:]
    ref_b = NearestNeighbors(n_neighbors=6).fit(Y).kneighbors(Y)[1][:, 1:]
    expect = np.mean([len(set(r) & set(s)) / 5 for r, s in zip(ref_a, ref_b)])
    assert knn_kept(X, Y, 5) == pytest.approx(expect)


def test_neighbourhood_table_uses_sklearn_trustworthiness():
    X, _ = make_manifold("swiss_roll", 250, seed=1)
    emb, secs = embed_all(X, methods=("PCA", "LLE"), n_neighbors=10)
    df = neighbourhood_table(X, emb, k=7, seconds=secs)
    assert list(df["method"]) == ["PCA", "LLE"]
    assert df.loc[0, "trustworthiness"] == pytest.approx(trustworthiness(X, emb["PCA"], n_neighbors=7))
    assert ((df["7-NN kept"] >= 0) & (df["7-NN kept"] <= 1)).all()
    with pytest.raises(ValueError, match="unknown method"):
        embed_all(X, methods=("tSNE",))


def test_autoencoder_learns_and_is_deterministic():
    X, _ = make_manifold("s_curve", 200, seed=2)
    Z, losses = train_autoencoder(X, 2, hidden=16, epochs=150, seed=0, device="cpu")
    Z2, _ = train_autoencoder(X, 2, hidden=16, epochs=150, seed=0, device="cpu")
    assert Z.shape == (200, 2)
    np.testing.assert_array_equal(Z, Z2)
    assert losses[-1] < 0.5 * losses[0]


def test_batched_mlp_equals_separate_models():
    gX = torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(0))
    f = BatchedMLP.init([5, 6, 5, 7], 3, 2, hidden=8)
    out = f(gX)
    W1, b1, W2, b2 = f.params
    for b in range(4):
        ref = torch.relu(gX[b] @ W1[b] + b1[b]) @ W2[b] + b2[b]
        torch.testing.assert_close(out[b], ref)
    # same seed -> same initial model, wherever it sits in the batch
    torch.testing.assert_close(W1[0], W1[2])
    assert not torch.equal(W1[0], W1[1])


def test_fit_batch_models_are_independent_and_mse_fits_pairs():
    X, _ = make_manifold("swiss_roll", 200, seed=0)
    Y = hidden_map(X, seed=0, noise=0.0)
    pairs = sample_pairs(200, 20, [0, 1])
    P = np.concatenate([pairs, pairs])
    betas = [0.0, 0.0, 1.0, 1.0]
    mapped, hist = fit_alignment_batch(X, Y, P, betas, k=5, hidden=16, steps=200, lr=1e-2,
                                       init_seeds=[0, 1, 0, 1], device="cpu")
    assert mapped.shape == (4, 200, 3) and hist.shape == (200, 4)
    assert (hist[-1] < hist[0]).all()
    # model 0 alone gives the same function as inside the batch (no cross-talk between models)
    alone, _ = fit_alignment_batch(X, Y, P[:1], [0.0], k=5, hidden=16, steps=200, lr=1e-2, init_seeds=[0],
                                   device="cpu")
    torch.testing.assert_close(alone[0], mapped[0], rtol=1e-4, atol=1e-5)


def test_alignment_scores_perfect_and_random():
    X, _ = make_manifold("swiss_roll", 300, seed=0)
    Y = hidden_map(X, seed=0, noise=0.0)
    perfect = torch.as_tensor(Y, dtype=torch.float32)[None]
    shuffled = perfect[:, np.random.default_rng(0).permutation(300)]
    mask = np.ones((1, 300), dtype=bool)
    s = alignment_scores(torch.cat([perfect, shuffled]), X, Y, np.repeat(mask, 2, 0), k=5)
    assert s["alignment_error"][0] == pytest.approx(0.0, abs=1e-10)
    assert s["hit_at_k"][0] == 1.0 and s["hit_at_k"][1] < 0.2
    assert s["alignment_error"][1] > 1.0
    assert s["knn_preserved"][0] > s["knn_preserved"][1]


def test_figure1_experiment_table():
    X, _ = make_manifold("swiss_roll", 150, seed=0)
    Y = hidden_map(X, seed=0)
    df = figure1_experiment(X, Y, [10, 20], seeds=(0, 1), k=5, hidden=8, steps=30, progress=False, device="cpu")
    assert isinstance(df, pd.DataFrame) and len(df) == 8
    assert set(df["loss"]) == {"MSE", "MSE+LPL"}
    df2 = figure1_experiment(X, Y, [10, 20], seeds=(0, 1), k=5, hidden=8, steps=30, progress=False, device="cpu")
    pd.testing.assert_frame_equal(df, df2)     # bit-identical rerun
