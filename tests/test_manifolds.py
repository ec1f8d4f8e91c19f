"""lpa_utils.chapters.ch01_manifolds: neighbourhood measures against scikit-learn / hand cases, the batched MLP against
independent per-model training and a hand-written loss, the Figure-1 experiment's plumbing on tiny sizes, the seeds'
derivation from the base seed, and the notebook's helpers (settings, figures, records, findings, claims and the
controls' verdicts) on hand-made sweeps and controls. The controls themselves: tests/test_ch01_controls.py."""

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
from lpa_utils.maths.lle import lle_weights
from lpa_utils.maths.neighbors import knn, knn_kept, knn_overlap
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


def test_fit_batch_with_per_model_data_equals_separate_fits():
    """Models with their own (M1, M2) in one batch give the functions that each would give alone; the dense path
    (f at all points, gathered) and the sparse path (f at the p*k neighbours) agree."""
    Xs = np.stack([make_manifold("swiss_roll", 120, seed=s)[0] for s in (0, 1)])
    Ys = np.stack([hidden_map(X, seed=0, noise=0.0) for X in Xs])
    pairs = sample_pairs(120, 15, [3, 4])  # 15 * 10 > 120: the dense path
    kw = dict(k=10, hidden=8, steps=60, lr=1e-2, device="cpu")
    both, _ = fit_alignment_batch(Xs, Ys, pairs, [1.0, 1.0], init_seeds=[5, 6], **kw)
    for b in range(2):
        alone, _ = fit_alignment_batch(Xs[b], Ys[b], pairs[b : b + 1], [1.0], init_seeds=[5 + b], **kw)
        torch.testing.assert_close(alone[0], both[b], rtol=1e-4, atol=1e-5)
    few = sample_pairs(120, 5, [3])  # 5 * 10 < 120: the sparse path; the same loss by hand
    m1, h1 = fit_alignment_batch(Xs[0], Ys[0], few, [1.0], init_seeds=[5], k=10, hidden=8, steps=1, device="cpu")
    f = BatchedMLP.init([5], 3, 3, 8)
    _, nb = knn(Xs[0], 10, device="cpu")
    nb = nb[few[0]]
    w = lle_weights(Xs[0][few[0]], nb, ref=Xs[0], device="cpu")
    xt, yt = torch.as_tensor(Xs[0], dtype=torch.float32), torch.as_tensor(Ys[0], dtype=torch.float32)
    mse = ((f(xt[few[0]][None])[0] - yt[few[0]]) ** 2).sum(1).mean()
    rec = (w[..., None] * f(xt[nb.reshape(-1)][None])[0].reshape(5, 10, 3)).sum(1)
    lpl = ((yt[few[0]] - rec) ** 2).sum(1).mean()
    assert h1[0, 0] == pytest.approx(float((mse + lpl).detach()), rel=1e-5)
    with pytest.raises(ValueError, match=r"\(n, D\) or \(2, n, D\)"):
        fit_alignment_batch(Xs[:1], Ys, pairs, [0.0, 1.0], **kw)


def test_alignment_items_by_hand_and_their_means():
    X, _ = make_manifold("swiss_roll", 300, seed=0)
    Y = hidden_map(X, seed=0, noise=0.0)
    perfect = torch.as_tensor(Y, dtype=torch.float32)[None]
    shuffled = perfect[:, np.random.default_rng(0).permutation(300)]
    mask = np.ones((2, 300), dtype=bool)
    mask[:, :100] = False
    items = ch01.alignment_items(torch.cat([perfect, shuffled]), X, Y, mask, k=5)
    assert all(len(v) == 2 and v[0].shape == (200,) for v in items.values())
    spread = ((Y - Y.mean(0)) ** 2).sum(1).mean()
    np.testing.assert_allclose(
        items["alignment_error"][1], ((shuffled[0].double().numpy() - Y) ** 2).sum(1)[100:] / spread
    )
    assert (items["hit_at_k"][0] == 1).all() and set(np.unique(items["hit_at_k"][1])) <= {0.0, 1.0}
    s = alignment_scores(torch.cat([perfect, shuffled]), X, Y, mask, k=5)
    np.testing.assert_allclose(s["knn_preserved"], [v.mean() for v in items["knn_preserved"]])


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


def test_derive_seed_is_deterministic_and_separates_uses():
    a = ch01.derive_seed(0, "figure 1", "run", 3)
    assert a == ch01.derive_seed(0, "figure 1", "run", 3) and 0 <= a < 2**32
    others = {
        ch01.derive_seed(0, "figure 1", "run", 4),
        ch01.derive_seed(1, "figure 1", "run", 3),
        ch01.derive_seed(0, "controls", "run", 3),
        ch01.derive_seed(0),
    }
    assert a not in others and len(others) == 4
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="base_seed"):
            ch01.derive_seed(bad)
    with pytest.raises(ValueError, match="path"):
        ch01.derive_seed(0, -2)


def test_hidden_map_noise_seed_keeps_g_and_redraws_the_noise():
    X, _ = make_manifold("swiss_roll", 200, seed=0)
    clean = hidden_map(X, seed=5, noise=0.0)
    a, b = (hidden_map(X, seed=5, noise=0.1, noise_seed=s) for s in (1, 2))
    assert not np.allclose(a, b)
    np.testing.assert_allclose(a - clean, 0.0, atol=1.0)  # the same g under the noise
    np.testing.assert_array_equal(hidden_map(X, seed=5, noise=0.1), hidden_map(X, seed=5, noise=0.1))
    Xs, Ys, ts = ch01.draw_runs("s_curve", 150, 0.05, bend=1.0, map_noise=0.0, map_seed=5, run_seeds=[7, 8])
    assert Xs.shape == (2, 150, 3) and Ys.shape == (2, 150, 3) and ts.shape == (2, 150)
    assert not np.allclose(Xs[0], Xs[1])  # each run its own sample of M1
    np.testing.assert_allclose(Ys[1], hidden_map(Xs[1], seed=5, bend=1.0, noise=0.0))  # one g for all runs


def test_figure1_experiment_sweep():
    Xs, Ys, _ = ch01.draw_runs("swiss_roll", 150, 0.05, bend=1.5, map_noise=0.02, map_seed=0, run_seeds=[0, 1])
    kw = dict(k=5, hidden=8, steps=30, progress=False, device="cpu")
    sw = figure1_experiment(Xs, Ys, [10, 20], [11, 12], **kw)
    assert isinstance(sw, ch01.Sweep) and len(sw.table) == 8
    assert set(sw.table["loss"]) == set(ch01.LOSSES) and set(sw.table["run"]) == {0, 1}
    lpl, mse = sw.paired(20, "hit_at_k")
    assert lpl.shape == mse.shape == (2, 130)
    row = sw.table.query("n_pairs == 20 and run == 1 and loss == 'MSE'").iloc[0]
    assert row["alignment_error"] == pytest.approx(sw.items[(20, "MSE", "alignment_error")][1].mean())
    sw2 = figure1_experiment(Xs, Ys, [10, 20], [11, 12], **kw)
    pd.testing.assert_frame_equal(sw.table, sw2.table)  # bit-identical rerun
    shared = figure1_experiment(Xs[0], Ys[0], [10], [11, 12], **kw)  # one (M1, M2) for all runs
    assert shared.items[(10, "MSE", "knn_preserved")].shape == (2, 140)
    with pytest.raises(ValueError, match="runs"):
        figure1_experiment(Xs, Ys, [10], [11], **kw)


# ------------------------------------------------------------------------------ the notebook's helpers


def _hand_sweep(runs=4, m=50, lpl_gain=0.05, many_gain=0.0, knn_gain=0.1, seed=0):
    """A :class:`Sweep` as :func:`figure1_experiment` returns it, 10 and 50 pairs, ``runs`` runs of ``m`` unpaired
    points: MSE's errors are random in [0.1, 0.5]; LPL's are lower by ``lpl_gain`` at 10 pairs and by
    ``many_gain`` at 50; k-NN kept and hit@k favour LPL by ``knn_gain`` at 10 pairs and are equal at 50."""
    rng = np.random.default_rng(seed)
    items, rows = {}, []
    for p, gain, kg in ((10, lpl_gain, knn_gain), (50, many_gain, 0.0)):
        err = rng.uniform(0.1, 0.5, size=(runs, m))
        knn_ = rng.integers(0, 6, size=(runs, m)) / 10
        hit = (rng.uniform(size=(runs, m)) < 0.5).astype(float)
        items.update(
            {
                (p, "MSE", "alignment_error"): err,
                (p, "MSE+LPL", "alignment_error"): err - gain,
                (p, "MSE", "knn_preserved"): knn_,
                (p, "MSE+LPL", "knn_preserved"): knn_ + kg,
                (p, "MSE", "hit_at_k"): hit,
                (p, "MSE+LPL", "hit_at_k"): np.maximum(hit, rng.uniform(size=(runs, m)) < kg),
            }
        )
    for (p, loss, metric), v in items.items():
        for r in range(runs):
            rows.append({"n_pairs": p, "run": r, "loss": loss, "metric": metric, "value": v[r].mean()})
    table = (
        pd.DataFrame(rows).pivot_table(index=["n_pairs", "run", "loss"], columns="metric", values="value").reset_index()
    )
    return ch01.Sweep(table[["n_pairs", "run", "loss", *ch01.METRICS]], items)


def _hand_control(name, hit_gain, err_gain, runs=5, m=40, seed=0):
    """A :class:`ControlResult` whose MSE + LPL hits are MSE's raised on a fraction ``hit_gain`` of the points
    and whose errors are MSE's lowered by ``err_gain``."""
    rng = np.random.default_rng(seed)
    design = ch01.POSITIVE if name == "positive" else ch01.NEGATIVE
    hit = (rng.uniform(size=(runs, m)) < 0.6).astype(float)
    err = rng.uniform(0.0, 0.2, size=(runs, m))
    items = {
        ("MSE", "hit"): hit,
        ("MSE+LPL", "hit"): np.maximum(hit, rng.uniform(size=(runs, m)) < hit_gain),
        ("MSE", "error"): err,
        ("MSE+LPL", "error"): err - err_gain,
    }
    chosen = {"MSE": np.full(runs, 1e-3), "MSE+LPL": np.full(runs, 3.0)}
    return ch01.ControlResult(design, items, chosen, np.full(runs, 0.3), np.full(runs, 0.6))


@pytest.fixture(scope="module")
def smoke_cfg():
    ch = setup("01_manifolds", profile="smoke", threads=None)
    return ch01.settings(ch, pair_sizes=[10, 50])


def test_settings_follow_the_profile_and_overrides():
    smoke, full = (setup("01_manifolds", profile=p, threads=None) for p in ("smoke", "full"))
    s, f = ch01.settings(smoke), ch01.settings(full)
    assert (s.n_emb, s.n_fig1, s.sizes, s.runs, s.control_runs, s.steps, s.max_words) == (
        300,
        400,
        (10, 50),
        3,
        4,
        100,
        5000,
    )
    assert (f.n_emb, f.n_fig1, f.runs, f.control_runs, f.steps, f.max_words) == (1500, 1500, 10, 20, 600, 20_000)
    assert f.sizes == (10, 20, 50, 100, 200, 500) and f.runs >= 10
    o = ch01.settings(smoke, base_seed=4, runs=5, n_points=50, pair_sizes=[7], manifold="s_curve")
    assert (o.base_seed, o.runs, o.n_emb, o.sizes, o.manifold) == (4, 5, 50, (7,), "s_curve")
    assert o.params()["pair_sizes"] == [7] and o.params()["base_seed"] == 4
    glued = o.glue()
    assert glued["manifold_name"] == "s curve" and glued["n_runs"] == 5 and glued["pair_sizes"] == "7"
    assert all(isinstance(v, (int, float, str)) and not isinstance(v, np.generic) for v in glued.values())
    assert "profile smoke, base seed 4" in o.describe()
    # every seed derives from the base seed
    assert o.seed("embeddings") == ch01.derive_seed(4, "embeddings")
    assert o.run_seeds("figure 1") == [ch01.derive_seed(4, "figure 1", "run", r) for r in range(5)]
    assert ch01.settings(smoke, base_seed=5).run_seeds("figure 1") != ch01.settings(smoke, base_seed=4).run_seeds(
        "figure 1"
    )
    text = ch01.settings(smoke, base_seed="3", runs="4", pair_sizes="[5, 9]")  # as papermill -p passes them
    assert (text.base_seed, text.runs, text.sizes) == (3, 4, (5, 9))
    with pytest.raises(ValueError, match="base_seed"):
        ch01.settings(smoke, base_seed="x")
    with pytest.raises(ValueError, match="runs"):
        ch01.settings(smoke, runs=1)
    with pytest.raises(ValueError, match="manifold"):
        ch01.settings(smoke, manifold="torus")


def test_labels():
    assert ch01.manifold_label("swiss_roll", 1500, 0.05) == "synthetic swiss roll, 1,500 points, noise 0.05"
    assert ch01.figure1_label("s_curve", 400) == "synthetic s curve M1 (400 points) and its non-linear image M2"
    assert ch01.runs_label(1, 0) == "1 run (base seed 0)"
    assert ch01.runs_label(10, 3) == "10 runs (seeds derived from base seed 3)"


def test_linear_residual_zero_for_affine_maps_positive_for_the_hidden_map():
    X, _ = make_manifold("swiss_roll", 300, seed=0)
    A = np.random.default_rng(0).normal(size=(3, 3))
    assert ch01.linear_residual(X, X @ A + 2.0) == pytest.approx(0.0, abs=1e-20)
    r = ch01.linear_residual(X, hidden_map(X, seed=0, bend=1.5, noise=0.0))
    assert 0.01 < r < 1.0


def test_effect_table_and_view_by_hand(smoke_cfg):
    sweep = _hand_sweep()
    eff = ch01.effect_table(smoke_cfg, sweep)
    assert list(eff["n_pairs"]) == [10] * 3 + [50] * 3
    e = eff.set_index(["n_pairs", "metric"])
    # errors lower by 0.05 everywhere: +5 % of spread with a degenerate interval; k-NN kept +10 pp
    assert e.loc[(10, "alignment_error"), ["effect", "low", "high"]].tolist() == pytest.approx([5.0] * 3)
    assert e.loc[(10, "knn_preserved"), "effect"] == pytest.approx(10.0)
    assert e.loc[(50, "alignment_error"), ["effect", "low", "high"]].tolist() == pytest.approx([0.0] * 3)
    view = ch01.effect_view(eff)
    assert view.loc[10, "alignment_error (% of spread)"] == "+5.00 [+5.00, +5.00]"


def test_claims_by_hand(smoke_cfg):
    v = ch01.figure1_verdicts(smoke_cfg, _hand_sweep())
    claims = ch01.claims(smoke_cfg, v)
    assert list(claims["artefact"]) == [ch01.ARTEFACT] * 4 and ch01.ARTEFACT in ARTEFACTS
    # Fig. 1 gives no number: no verdict against the paper, but the interval's reading in the note
    assert list(claims["verdict"]) == ["no paper figure"] * 3 + ["reproduced"]
    assert "interval above 0: MSE + LPL better" in claims.loc[0, "note"]
    assert claims.loc[0, "ours"].startswith("+5.0 % of spread [+5.0, +5.0] over 4 runs x 50 unpaired points")
    assert {"effect", "low", "high", "level", "runs", "items", "margin", "rule"} <= set(claims)
    assert claims.loc[3, "margin"] == ch01.AGREE_MARGIN and claims.loc[3, "paper"] == "+0.0 % of spread"
    # with many pairs, LPL 1 % of the spread worse: outside the margin, so the losses do not agree
    worse = ch01.figure1_verdicts(smoke_cfg, _hand_sweep(many_gain=-0.01))
    assert worse["many_agree"].verdict == "not reproduced"
    eff = ch01.effect_table(smoke_cfg, _hand_sweep()).set_index(["n_pairs", "metric"])
    assert (eff.loc[(10, "hit_at_k"), "low"], eff.loc[(10, "hit_at_k"), "high"]) == (
        v["few_hit"].low,
        v["few_hit"].high,
    )
    no_gain = ch01.figure1_verdicts(smoke_cfg, _hand_sweep(lpl_gain=0.0, knn_gain=0.0))
    assert "inside the margin" in ch01._direction(no_gain["few_error"])


def test_control_verdicts_and_rows_by_hand(smoke_cfg):
    controls = {"positive": _hand_control("positive", 0.3, 0.0), "negative": _hand_control("negative", 0.0, -0.01)}
    cv = ch01.control_verdicts(smoke_cfg, controls)
    assert [v.verdict for _, v in cv] == ["reproduced"] * 3
    rows = ch01.control_rows(cv)
    assert list(rows["model"]) == ["planted control"] * 3 and rows["note"].str.contains("not a figure").all()
    assert list(rows["paper"]) == ["+2.0 pp", "+0.0 pp", "-0.2 % of spread"]
    # a positive control without an effect does not pass, and the findings say so
    flat = {"positive": _hand_control("positive", 0.0, 0.0), "negative": controls["negative"]}
    cv2 = ch01.control_verdicts(smoke_cfg, flat)
    assert cv2[0][1].verdict != "reproduced"
    table = pd.DataFrame({"method": ["PCA", "LLE"], "trustworthiness": [0.8, 0.9], "10-NN kept": [0.5, 0.6]})
    sweep = _hand_sweep()
    kw = dict(table=table, sweep=sweep, verdicts=ch01.figure1_verdicts(smoke_cfg, sweep), controls=controls)
    f = ch01.findings(smoke_cfg, cverdicts=cv, **kw)
    assert f["controls_reading"].startswith("Every control verdict comes out as designed")
    assert ch01.findings(smoke_cfg, cverdicts=cv2, **kw)["controls_reading"].startswith("Not as designed")


def test_findings_by_hand(smoke_cfg):
    sweep = _hand_sweep()
    controls = {"positive": _hand_control("positive", 0.3, 0.0), "negative": _hand_control("negative", 0.0, -0.01)}
    table = pd.DataFrame({"method": ["PCA", "LLE"], "trustworthiness": [0.8, 0.9], "10-NN kept": [0.5, 0.6]})
    f = ch01.findings(
        smoke_cfg,
        table=table,
        sweep=sweep,
        verdicts=ch01.figure1_verdicts(smoke_cfg, sweep),
        controls=controls,
        cverdicts=ch01.control_verdicts(smoke_cfg, controls),
    )
    assert f["best_method"] == "LLE" and f["pca_trust"] == 0.8 and f["best_kept"] == 0.6
    assert (f["few_pairs"], f["many_pairs"]) == (10, 50)
    mse = sweep.items[(10, "MSE", "alignment_error")].mean()
    assert f["err_few_mse"] == pytest.approx(mse) and f["err_few_lpl"] == pytest.approx(mse - 0.05)
    assert f["v_few_error"].endswith("no paper figure") and f["d_few_error"] == "interval above 0: MSE + LPL better"
    assert f["pos_recon"] == pytest.approx(0.3) and f["pos_beta"] == 3.0 and f["pos_lam"] == 1e-3
    assert f["vc_0"].endswith(": reproduced") and "test points" in f["vc_0"]
    assert all(isinstance(v, (int, float, str)) and not isinstance(v, np.generic) for v in f.values())


def test_record_results_records_and_tables(smoke_cfg):
    res = Results("01_manifolds", profile="smoke")
    sweep = _hand_sweep()
    controls = {"positive": _hand_control("positive", 0.3, 0.0), "negative": _hand_control("negative", 0.0, -0.01)}
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
        effects=ch01.effect_table(smoke_cfg, sweep),
        controls=controls,
        proj=proj,
        lin={"neighbours": 0.1, "random words": 0.5},
        lin_resid=0.15,
    )
    q = [r.quantity for r in res.records]
    assert q[:4] == ["trustworthiness", "10-NN kept"] * 2
    assert len(q) == 4 + 2 * 2 * 3 + 2 * (2 * 2 + 1) + 3 and q[-1] == "linear residual of the hidden map"
    fig1 = [r for r in res.records if r.quantity == "alignment_error @ 10 pairs"]
    assert [r.method for r in fig1] == ["MSE", "MSE+LPL"] and fig1[0].runs == 4
    assert fig1[0].paper_ref == ARTEFACTS[ch01.ARTEFACT].label
    ctl = [r for r in res.records if r.quantity == "control positive: hit"]
    assert [r.method for r in ctl] == ["MSE", "MSE+LPL"] and ctl[0].runs == 5
    assert set(res.tables) == {
        "neighbourhood_table",
        "figure1_sweep",
        "figure1_effects",
        "controls_summary",
        "glove_neighbourhoods",
    }
    assert list(res.tables["glove_neighbourhoods"][0]) == ["query", "word", "distance"]
    assert res.params["n_fig1"] == smoke_cfg.n_fig1 and res.params["base_seed"] == smoke_cfg.base_seed


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
    controls = [_hand_control("positive", 0.3, 0.0), _hand_control("negative", 0.0, -0.01)]
    figs = [
        ch01.plot_embeddings(X, t, emb, "swiss_roll"),
        ch01.plot_panels(X, t, Y, panels, k=5),
        ch01.plot_sweep(_hand_sweep()),
        ch01.plot_controls(controls),
        ch01.plot_word_neighbourhoods(proj, "two queries"),
    ]
    assert all(isinstance(f, plt.Figure) for f in figs)
    plt.close("all")
