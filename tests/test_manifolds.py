"""lpa_utils.chapters.ch01_manifolds: neighbourhood measures against scikit-learn / hand cases, the batched MLP against
independent per-model training, the Figure-1 experiment's plumbing on tiny sizes, and the notebook's helpers
(settings, figures, records, findings and claims) on hand-made sweeps."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

from lpa_utils.chapters import ch01_manifolds as ch01
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
from lpa_utils.chapters.common import setup
from lpa_utils.maths.neighbors import knn_kept, knn_overlap
from lpa_utils.report.papers import ARTEFACTS
from lpa_utils.report.results import Results


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
    mapped, hist = fit_alignment_batch(
        X, Y, P, betas, k=5, hidden=16, steps=200, lr=1e-2, init_seeds=[0, 1, 0, 1], device="cpu"
    )
    assert mapped.shape == (4, 200, 3) and hist.shape == (200, 4)
    assert (hist[-1] < hist[0]).all()
    # model 0 alone gives the same function as inside the batch (no cross-talk between models)
    alone, _ = fit_alignment_batch(X, Y, P[:1], [0.0], k=5, hidden=16, steps=200, lr=1e-2, init_seeds=[0], device="cpu")
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
    pd.testing.assert_frame_equal(df, df2)  # bit-identical rerun


# ------------------------------------------------------------------------------ the notebook's helpers


def _hand_sweep(err_mse=(0.4, 0.2), err_lpl=(0.2, 0.1), at_50=0.05):
    """A sweep as :func:`figure1_experiment` returns it: 10 and 50 pairs, seeds 0 and 1. At 10 pairs the errors
    are given per seed; at 50 pairs both losses have error ``at_50``. hit@k and k-NN kept favour LPL by 0.1 at
    10 pairs and are equal at 50."""
    rows = []
    for s in (0, 1):
        rows += [
            {
                "n_pairs": 10,
                "seed": s,
                "loss": "MSE",
                "alignment_error": err_mse[s],
                "knn_preserved": 0.5,
                "hit_at_k": 0.5,
            },
            {
                "n_pairs": 10,
                "seed": s,
                "loss": "MSE+LPL",
                "alignment_error": err_lpl[s],
                "knn_preserved": 0.6,
                "hit_at_k": 0.6,
            },
            {"n_pairs": 50, "seed": s, "loss": "MSE", "alignment_error": at_50, "knn_preserved": 0.8, "hit_at_k": 0.9},
            {
                "n_pairs": 50,
                "seed": s,
                "loss": "MSE+LPL",
                "alignment_error": at_50,
                "knn_preserved": 0.8,
                "hit_at_k": 0.9,
            },
        ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def smoke_cfg():
    ch = setup("01_manifolds", profile="smoke", threads=None)
    return ch01.settings(ch, pair_sizes=[10, 50])


def test_settings_follow_the_profile_and_overrides():
    smoke, full = (setup("01_manifolds", profile=p, threads=None) for p in ("smoke", "full"))
    s, f = ch01.settings(smoke), ch01.settings(full)
    assert (s.n_emb, s.n_fig1, s.sizes, s.seeds, s.steps, s.max_words) == (300, 400, (10, 50), (0, 1), 100, 5000)
    assert (f.n_emb, f.n_fig1, f.seeds, f.steps, f.max_words) == (1500, 1500, (0, 1, 2), 600, 20_000)
    assert f.sizes == (10, 20, 50, 100, 200, 500)
    o = ch01.settings(smoke, seeds=[4], n_points=50, pair_sizes=[7], manifold="s_curve")
    assert (o.seeds, o.n_emb, o.sizes, o.manifold) == ((4,), 50, (7,), "s_curve")
    assert o.params()["pair_sizes"] == [7] and o.params()["n_points"] == 50
    glued = o.glue()
    assert glued["manifold_name"] == "s curve" and glued["n_seeds"] == 1 and glued["pair_sizes"] == "7"
    assert all(isinstance(v, (int, float, str)) and not isinstance(v, np.generic) for v in glued.values())
    assert "profile smoke" in o.describe()
    text = ch01.settings(smoke, seeds="[3, 4]", pair_sizes="[5, 9]")  # as papermill -p passes them
    assert (text.seeds, text.sizes) == ((3, 4), (5, 9))
    with pytest.raises(ValueError, match="seeds"):
        ch01.settings(smoke, seeds="0, 1, x")
    with pytest.raises(ValueError, match="manifold"):
        ch01.settings(smoke, manifold="torus")


def test_labels():
    assert ch01.manifold_label("swiss_roll", 1500, 0.05) == "synthetic swiss roll, 1,500 points, noise 0.05"
    assert ch01.figure1_label("s_curve", 400) == "synthetic s curve M1 (400 points) and its non-linear image M2"
    assert ch01.runs_label([0]) == "1 run (seed 0)"
    assert ch01.runs_label((0, 1, 2)) == "3 seeds (0, 1, 2)"


def test_linear_residual_zero_for_affine_maps_positive_for_the_hidden_map():
    X, _ = make_manifold("swiss_roll", 300, seed=0)
    A = np.random.default_rng(0).normal(size=(3, 3))
    assert ch01.linear_residual(X, X @ A + 2.0) == pytest.approx(0.0, abs=1e-20)
    r = ch01.linear_residual(X, hidden_map(X, seed=0, bend=1.5, noise=0.0))
    assert 0.01 < r < 1.0


def test_gain_table_by_hand():
    gain = ch01.gain_table(_hand_sweep(), k=10)
    assert list(gain.index) == [10, 50] and gain.index.name == "n_pairs"
    np.testing.assert_allclose(gain["error: LPL - MSE (mean)"], [-0.15, 0.0])
    assert list(gain["error: seeds where LPL is lower"]) == [2, 0]
    np.testing.assert_allclose(gain["hit@10: LPL - MSE (mean)"], [0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(gain["kNN kept: LPL - MSE (mean)"], [0.1, 0.0], atol=1e-12)
    summary = ch01.sweep_summary(_hand_sweep())
    assert summary.loc[(10, "MSE"), ("alignment_error", "mean")] == pytest.approx(0.3)


def test_claims_and_findings_by_hand(smoke_cfg):
    sweep = _hand_sweep()
    gain = ch01.gain_table(sweep)
    claims = ch01.claims(smoke_cfg, sweep, gain)
    assert list(claims["artefact"]) == [ch01.ARTEFACT] * 3 and ch01.ARTEFACT in ARTEFACTS
    # LPL halves the error in both seeds at 10 pairs; k-NN kept +0.1; equal errors at 50 pairs
    assert list(claims["verdict"]) == ["yes", "yes", "yes"]
    assert claims.loc[0, "ours"].startswith("mean error 0.300 (MSE) vs 0.150 (MSE+LPL); LPL lower in 2/2 seeds")
    assert claims.loc[2, "ours"] == "relative error change +0.0%"
    # one seed against LPL: the gain is inside its spread, so "no"; a 20% rise at 50 pairs breaks "agree"
    worse = _hand_sweep(err_mse=(0.4, 0.2), err_lpl=(0.1, 0.3))
    worse.loc[(worse["n_pairs"] == 50) & (worse["loss"] == "MSE+LPL"), "alignment_error"] = 0.06
    c2 = ch01.claims(smoke_cfg, worse, ch01.gain_table(worse))
    assert c2.loc[0, "verdict"] == "no" and c2.loc[2, "verdict"] == "no"

    table = pd.DataFrame({"method": ["PCA", "LLE"], "trustworthiness": [0.8, 0.9], "10-NN kept": [0.5, 0.6]})
    f = ch01.findings(smoke_cfg, table=table, sweep=sweep, gain=gain)
    assert f["best_method"] == "LLE" and f["pca_trust"] == 0.8 and f["best_kept"] == 0.6
    assert (f["few_pairs"], f["many_pairs"]) == (10, 50)
    assert f["err_few_mse"] == pytest.approx(0.3) and f["err_few_lpl"] == pytest.approx(0.15)
    assert f["lpl_helps"] == "10 pairs (50% lower; lower for 2/2 seeds)"
    assert f["lpl_hurts"] == "none"
    assert f["lpl_close"] == "50 pairs (largest relative gap 0.0%)"
    assert f["knn_gap"] == pytest.approx(0.1) and "gap of at least" in f["knn_reading"]
    assert all(isinstance(v, (int, float, str)) and not isinstance(v, np.generic) for v in f.values())
    f2 = ch01.findings(smoke_cfg, table=table, sweep=worse, gain=ch01.gain_table(worse))
    assert f2["lpl_hurts"] == "50 pairs" and f2["lpl_close"] == "none"


def test_record_results_records_and_tables(smoke_cfg):
    res = Results("01_manifolds", profile="smoke")
    sweep = _hand_sweep()
    table = pd.DataFrame(
        {"method": ["PCA", "LLE"], "trustworthiness": [0.8, 0.9], "10-NN kept": [0.5, 0.6], "seconds": [0.1, 0.2]}
    )
    proj = pd.DataFrame(
        {
            "query": ["a", "a"],
            "word": ["a", "b"],
            "is_query": [True, False],
            "distance": [0.0, 1.0],
            "pc1": [0.0, 1.0],
            "pc2": [0.0, 1.0],
        }
    )
    ch01.record_results(
        res,
        smoke_cfg,
        table=table,
        sweep=sweep,
        gain=ch01.gain_table(sweep),
        proj=proj,
        lin={"neighbours": 0.1, "random words": 0.5},
        lin_resid=0.15,
    )
    q = [r.quantity for r in res.records]
    assert q[:4] == ["trustworthiness", "10-NN kept"] * 2
    assert len(q) == 4 + 2 * 2 * 3 + 3 and q[-1] == "linear residual of the hidden map"
    fig1 = [r for r in res.records if r.quantity == "alignment_error @ 10 pairs"]
    assert [r.method for r in fig1] == ["MSE", "MSE+LPL"] and fig1[0].values == [0.4, 0.2]
    assert fig1[0].paper_ref == ARTEFACTS[ch01.ARTEFACT].label
    assert set(res.tables) == {"neighbourhood_table", "figure1_sweep", "figure1_gain", "glove_neighbourhoods"}
    assert list(res.tables["figure1_gain"][0])[0] == "n_pairs"
    assert list(res.tables["glove_neighbourhoods"][0]) == ["query", "word", "distance"]
    assert res.params["n_fig1"] == smoke_cfg.n_fig1


def test_figures_are_drawn():
    X, t = make_manifold("swiss_roll", 120, seed=0)
    emb, _ = embed_all(X, methods=("PCA", "LLE"), n_neighbors=10)
    Y = hidden_map(X, seed=0)
    panels = ch01.fit_panels(X, Y, 15, seed=0, k=5, hidden=8, steps=5, device="cpu")
    assert panels.pairs.shape == (15,) and panels.mapped.shape == (2, 120, 3)
    assert panels.scores["alignment_error"].shape == (2,)
    proj = pd.DataFrame(
        {
            "query": ["a", "a", "b"],
            "word": ["a", "c", "b"],
            "is_query": [True, False, True],
            "distance": [0.0, 1.0, 0.0],
            "pc1": [0.0, 1.0, 2.0],
            "pc2": [0.0, 1.0, 2.0],
        }
    )
    figs = [
        ch01.plot_embeddings(X, t, emb, "swiss_roll"),
        ch01.plot_panels(X, t, Y, panels, k=5),
        ch01.plot_sweep(_hand_sweep()),
        ch01.plot_word_neighbourhoods(proj, "two queries"),
    ]
    assert all(isinstance(f, plt.Figure) for f in figs)
    plt.close("all")
