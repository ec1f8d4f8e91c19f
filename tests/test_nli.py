"""Tests of lpa_utils.models.nli (Figure 2 model, eq. 8, training, experiment runner, Table 3 helpers).

Everything here runs on small random tensors; the SNLI run itself is the chapter notebook's job.
References are independent: NumPy hand computations, scikit-learn's NearestNeighbors, pandas aggregation.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from lpa_utils.chapters import ch04_nli as C4
from lpa_utils.data import load_snli
from lpa_utils.models import nli
from lpa_utils.models.nli import LABELS, MODELS, NLIConfig
from lpa_utils.report.papers import ARTEFACTS, NLI_GAIN
from lpa_utils.report.results import Results

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny models run faster on one thread


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic_pairs(n, d=8, seed=0, noise=0.05):
    """A separable 3-class toy NLI problem: h = p (entailment), h = -p (contradiction), h = random (neutral)."""
    rng = np.random.default_rng(seed)
    p = _unit(rng.normal(size=(n, d)))
    y = rng.integers(0, 3, n)
    h = np.where((y == 0)[:, None], p, np.where((y == 2)[:, None], -p, _unit(rng.normal(size=(n, d)))))
    h = _unit(h + noise * rng.normal(size=(n, d)))
    return p, h, y.astype(np.int64)


def synthetic_data(n_train=300, n_dev=150, n_test=150, d=8, seed=0, k=4):
    """An NLIData built from the toy problem; training premises repeat (3 hypotheses per premise, as in SNLI)."""
    frames, prem, hyp, lab = {}, {}, {}, {}
    for j, (s, n) in enumerate((("train", n_train), ("dev", n_dev), ("test", n_test))):
        p, h, y = synthetic_pairs(n, d, seed=seed + 100 * j)
        ids = np.arange(n) // 3 if s == "train" else np.arange(n)
        if s == "train":
            p = p[3 * ids]  # pairs 3i, 3i+1, 3i+2 share premise 3i
            rng = np.random.default_rng(seed + 7)
            h = np.where((y == 0)[:, None], p, np.where((y == 2)[:, None], -p, h))
            h = _unit(h + 0.05 * rng.normal(size=h.shape))
        prem[s], hyp[s], lab[s] = p.astype(np.float32), h.astype(np.float32), y
        frames[s] = pd.DataFrame(
            {
                "premise": [f"{s}-p{i}" for i in ids],
                "hypothesis": [f"{s}-h{i}" for i in range(n)],
                "label": [LABELS[i] for i in y],
                "label_id": y,
            }
        )
    data = nli.NLIData(frames=frames, premise=prem, hypothesis=hyp, labels=lab, encoder="toy")
    nli.build_lpl_pool(data, k=k, method="brute")
    return data


FAST = NLIConfig(
    hidden=32, batch_size=32, min_round_steps=20, max_round_steps=40, max_rounds=6, patience=3, k=4, gamma=0.01, lr=3e-3
)
LEARN = NLIConfig(
    hidden=64,
    batch_size=64,
    min_round_steps=50,
    max_round_steps=50,
    max_rounds=12,
    patience=4,
    k=4,
    gamma=0.01,
    lr=3e-3,
)


# ---------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("n_layers, penult", [(1, 3 * 6), (2, 16), (3, 16)])
def test_model_shapes(n_layers, penult):
    torch.manual_seed(0)
    m = nli.AlignNLI(6, hidden=16, n_layers=n_layers)
    p, h = torch.randn(5, 6), torch.randn(5, 6)
    logits, fp = m(p, h)
    z, fp2 = m.features(p, h)
    assert logits.shape == (5, 3) and fp.shape == (5, 6) and z.shape == (5, penult)
    assert m.penultimate_dim == penult
    assert torch.allclose(fp, fp2)
    assert sum(isinstance(x, torch.nn.Linear) for x in m.body) + 1 == n_layers
    pred, feats = nli.predict(m, p, h, return_features=True, batch_size=2)
    assert pred.shape == (5,) and feats.shape == (5, penult)
    assert torch.allclose(feats, m.eval().features(p, h)[0], atol=1e-6)


def test_projection_is_single_tanh_layer():
    torch.manual_seed(0)
    m = nli.AlignNLI(4, proj_activation="tanh")
    p = torch.randn(3, 4)
    A, b = m.proj.weight.detach().numpy(), m.proj.bias.detach().numpy()
    np.testing.assert_allclose(m.project(p).detach().numpy(), np.tanh(p.numpy() @ A.T + b), rtol=1e-5, atol=1e-6)
    m2 = nli.AlignNLI(4, proj_activation="linear")
    A2, b2 = m2.proj.weight.detach().numpy(), m2.proj.bias.detach().numpy()
    np.testing.assert_allclose(m2.project(p).detach().numpy(), p.numpy() @ A2.T + b2, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------- eq. 8
def test_per_sample_alignment_by_hand():
    torch.manual_seed(1)
    m = nli.AlignNLI(3, hidden=4)
    rng = np.random.default_rng(0)
    p, h = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(2, 3)).astype(np.float32)
    nb = rng.normal(size=(2, 4, 3)).astype(np.float32)
    w = rng.dirichlet(np.ones(4), size=2).astype(np.float32)
    A, b = m.proj.weight.detach().numpy(), m.proj.bias.detach().numpy()
    f = lambda x: np.tanh(x @ A.T + b)  # noqa: E731
    mse = ((f(p) - h) ** 2).sum(1)
    recon = np.einsum("ik,ikd->id", w, f(nb))
    lpl = ((h - recon) ** 2).sum(1)
    got = nli.per_sample_alignment(m, torch.from_numpy(p), torch.from_numpy(h))
    np.testing.assert_allclose(got.detach().numpy(), mse, rtol=1e-5)
    got = nli.per_sample_alignment(
        m, torch.from_numpy(p), torch.from_numpy(h), nbr_p=torch.from_numpy(nb), nbr_w=torch.from_numpy(w), beta=0.5
    )
    np.testing.assert_allclose(got.detach().numpy(), mse + 0.5 * lpl, rtol=1e-5)


def _ce_by_hand(logits, y):
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def test_eq8_against_hand_computation():
    # labels: 0 entailment, 1 neutral, 2 contradiction; paper delta 100 / -5 / 1
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 0.0, 1.0], [0.3, 0.3, 0.3]], dtype=np.float32)
    y = np.array([0, 1, 2, 1])
    a = np.array([0.2, 0.1, 0.5, 3.0], dtype=np.float32)
    cfg = NLIConfig(gamma=0.01, floor=-5.0)
    total, ce, al = nli.eq8_loss(torch.from_numpy(logits), torch.from_numpy(y), torch.from_numpy(a), cfg)
    # hand: delta*a = [20, -0.5, 0.5, -15 -> floored at -5]; mean = (20 - 0.5 + 0.5 - 5) / 4 = 3.75
    expected_align = 0.01 * 3.75
    expected_ce = _ce_by_hand(logits.astype(np.float64), y)
    assert float(al) == pytest.approx(expected_align, rel=1e-6)
    assert float(ce) == pytest.approx(expected_ce, rel=1e-6)
    assert float(total) == pytest.approx(expected_ce + expected_align, rel=1e-6)
    # the baseline is the cross entropy alone
    total_b, ce_b, al_b = nli.eq8_loss(torch.from_numpy(logits), torch.from_numpy(y), None, cfg)
    assert float(total_b) == pytest.approx(expected_ce, rel=1e-6) and float(al_b) == 0.0
    # delta follows the label names, whatever order the dict is written in
    cfg2 = NLIConfig(gamma=1.0, floor=None, delta={"neutral": 2.0, "contradiction": 3.0, "entailment": 1.0})
    _, _, al2 = nli.eq8_loss(torch.from_numpy(logits), torch.from_numpy(y), torch.from_numpy(a), cfg2)
    assert float(al2) == pytest.approx((0.2 * 1 + 0.1 * 2 + 0.5 * 3 + 3.0 * 2) / 4, rel=1e-6)


def test_floor_bounds_the_divergence_and_stops_its_gradient():
    y = torch.tensor([1, 1])  # two neutral pairs (delta -5)
    logits = torch.zeros(2, 3)
    a = torch.tensor([0.5, 4.0], requires_grad=True)
    cfg = NLIConfig(gamma=1.0, floor=-5.0)
    _, _, al = nli.eq8_loss(logits, y, a, cfg)
    assert float(al.detach()) == pytest.approx((-2.5 + -5.0) / 2)  # -20 floored at -5
    al.backward()
    np.testing.assert_allclose(a.grad.numpy(), [-5.0 / 2, 0.0])  # past the floor: no push
    # without a floor the divergence is unbounded below
    a2 = torch.tensor([0.5, 4.0e6])
    _, _, al2 = nli.eq8_loss(logits, y, a2, NLIConfig(gamma=1.0, floor=None))
    assert float(al2) < -1e6


def test_config_validation():
    with pytest.raises(ValueError, match="delta"):
        NLIConfig(delta={"entailment": 1.0})
    with pytest.raises(ValueError, match="floor"):
        NLIConfig(floor=2.0)
    with pytest.raises(ValueError, match="n_layers"):
        NLIConfig(n_layers=0)
    np.testing.assert_array_equal(NLIConfig().delta_vector().numpy(), [100.0, -5.0, 1.0])


# ---------------------------------------------------------------------------------------------- LPL pool
def test_lpl_pool_uses_unique_training_premises_and_sklearn_neighbours():
    data = synthetic_data(n_train=90, k=4)
    pool = data.pool
    texts = data.frames["train"]["premise"]
    assert pool.emb.shape == (texts.nunique(), 8)
    # every training pair points at its own premise's row
    np.testing.assert_allclose(pool.emb[data.premise_row], data.premise["train"], rtol=0, atol=0)
    ref = NearestNeighbors(n_neighbors=5).fit(pool.emb.astype(np.float64))
    _, ridx = ref.kneighbors(pool.emb.astype(np.float64))
    np.testing.assert_array_equal(pool.idx, ridx[:, 1:])
    np.testing.assert_allclose(pool.weights.sum(1), 1.0, atol=1e-5)
    # neighbours never include the premise itself
    assert not (pool.idx == np.arange(len(pool.emb))[:, None]).any()


def test_kdtree_and_brute_pools_agree():
    d1 = synthetic_data(n_train=90, k=4)
    d2 = synthetic_data(n_train=90, k=4)
    nli.build_lpl_pool(d2, k=4, method="kdtree")
    np.testing.assert_array_equal(d1.pool.idx, d2.pool.idx)
    np.testing.assert_allclose(d1.pool.weights, d2.pool.weights, atol=1e-5)


def test_neighbours_outside_fraction():
    data = synthetic_data(n_train=90, k=4)
    assert C4.neighbours_outside_fraction(data, np.arange(90)) == 0.0
    rows = np.arange(3)  # one premise: all its neighbours are other premises
    assert C4.neighbours_outside_fraction(data, rows) == 1.0


# ---------------------------------------------------------------------------------------------- training
def test_tiny_separable_problem_is_learned():
    p, h, y = synthetic_pairs(600, seed=0)
    dp, dh, dy = synthetic_pairs(200, seed=1)
    tp, th, ty = synthetic_pairs(300, seed=2)
    for method in ("baseline", "MSE"):
        fit = nli.fit_nli(p, h, y, dp, dh, dy, method=method, config=LEARN, seed=0, device="cpu")
        assert fit.dev_acc > 0.95, (method, fit.history)
        assert nli.accuracy(fit.model, tp, th, ty) > 0.95
    # chance level on shuffled labels: the test can fail
    rng = np.random.default_rng(0)
    fit = nli.fit_nli(p, h, rng.permutation(y), dp, dh, rng.permutation(dy), config=FAST, seed=0, device="cpu")
    assert nli.accuracy(fit.model, tp, th, rng.permutation(ty)) < 0.5


def test_lpl_model_trains_on_subset():
    data = synthetic_data(n_train=300)
    fit = C4.fit_on_subset(data, np.arange(0, 300, 2), "MSE+LPL", config=LEARN, seed=0, device="cpu")
    assert fit.dev_acc > 0.85
    assert fit.history and {"ce", "align", "dev_acc"} <= set(fit.history[0])


def test_alignment_term_pulls_entailed_pairs_together():
    p, h, y = synthetic_pairs(300, seed=0)
    cfg = NLIConfig(hidden=16, batch_size=64, min_round_steps=30, max_rounds=3, patience=5, gamma=0.05, lr=3e-3)
    base = nli.fit_nli(p, h, y, p, h, y, method="baseline", config=cfg, seed=0, device="cpu")
    mse = nli.fit_nli(p, h, y, p, h, y, method="MSE", config=cfg, seed=0, device="cpu")
    ent = y == 0
    P, H = torch.from_numpy(p[ent]), torch.from_numpy(h[ent])
    with torch.no_grad():
        d_base = ((base.model.project(P) - H) ** 2).sum(1).mean()
        d_mse = ((mse.model.project(P) - H) ** 2).sum(1).mean()
    assert d_mse < 0.5 * d_base


def test_determinism_and_global_rng_untouched():
    p, h, y = synthetic_pairs(200, seed=0)
    torch.manual_seed(123)
    before = torch.get_rng_state().clone()
    a = nli.fit_nli(p, h, y, p[:50], h[:50], y[:50], method="MSE", config=FAST, seed=7, device="cpu")
    assert torch.equal(torch.get_rng_state(), before)
    b = nli.fit_nli(p, h, y, p[:50], h[:50], y[:50], method="MSE", config=FAST, seed=7, device="cpu")
    c = nli.fit_nli(p, h, y, p[:50], h[:50], y[:50], method="MSE", config=FAST, seed=8, device="cpu")
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.history == b.history
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_fit_input_errors():
    p, h, y = synthetic_pairs(20)
    with pytest.raises(ValueError, match="method"):
        nli.fit_nli(p, h, y, p, h, y, method="LPL")
    with pytest.raises(ValueError, match="nbr_rows"):
        nli.fit_nli(p, h, y, p, h, y, method="MSE+LPL")
    with pytest.raises(ValueError, match="shapes"):
        nli.fit_nli(p, h[:5], y, p, h, y)
    with pytest.raises(ValueError, match="labels"):
        nli.fit_nli(p, h, y + 3, p, h, y)


# ---------------------------------------------------------------------------------------------- runner
def test_run_experiment_is_tidy_and_paired():
    data = synthetic_data(n_train=240)
    keep = {}
    df = C4.run_experiment(
        data,
        [60, "all"],
        draws=2,
        config=FAST,
        seed=0,
        device="cpu",
        keep=keep,
        keep_sizes=[60],
        progress=False,
        eval_splits=("test", "dev"),
    )
    assert len(df) == 2 * 2 * 3
    assert set(df["model"]) == set(MODELS) and sorted(set(df["size"])) == [60, 240]
    assert {"size", "draw", "model", "dev_acc", "test_acc", "nbr_outside", "steps", "capped"} <= set(df.columns)
    capped = df["rounds"].eq(FAST.max_rounds) & (df["rounds"] - 1 - df["best_round"] < FAST.patience)
    assert (df["capped"] == capped).all()
    assert df["test_acc"].between(0, 1).all()
    # the three models of one draw share one subset; the two draws differ
    assert len(keep) == 2 * 3
    r0 = [keep[(60, 0, m)][0] for m in MODELS]
    assert all(np.array_equal(r0[0], r) for r in r0)
    assert not np.array_equal(keep[(60, 0, "baseline")][0], keep[(60, 1, "baseline")][0])
    # reported dev accuracy equals a fresh evaluation of the kept model
    rows, fit = keep[(60, 1, "MSE")]
    got = df[(df["size"] == 60) & (df["draw"] == 1) & (df["model"] == "MSE")]
    assert got["dev_acc"].item() == pytest.approx(
        nli.accuracy(fit.model, data.premise["dev"], data.hypothesis["dev"], data.labels["dev"])
    )
    summ = C4.summarize_runs(df)
    ref = df.groupby(["size", "model"])["test_acc"].agg(["mean", "std"])
    assert summ.loc[60, "MSE std"] == pytest.approx(100 * ref.loc[(60, "MSE"), "std"])
    assert summ.loc[240, "MSE+LPL gain (pp)"] == pytest.approx(
        100 * (ref.loc[(240, "MSE+LPL"), "mean"] - ref.loc[(240, "baseline"), "mean"])
    )


def test_draw_subset():
    a = C4.draw_subset(100, 10, seed=0, draw=0)
    assert len(a) == 10 and len(set(a)) == 10 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, C4.draw_subset(100, 10, seed=0, draw=0))
    assert not np.array_equal(a, C4.draw_subset(100, 10, seed=0, draw=1))
    np.testing.assert_array_equal(C4.draw_subset(100, 500, seed=0, draw=0), np.arange(100))


def test_select_hyperparameters_uses_dev_only():
    data = synthetic_data(n_train=150)
    data.labels["test"][:] = -1  # a test split that would break any evaluation
    chosen, table = C4.select_hyperparameters(data, size=90, gammas=[0.0, 0.01], draws=1, config=FAST, progress=False)
    assert set(chosen) == set(MODELS)
    assert chosen["MSE"].gamma in (0.0, 0.01) and chosen["baseline"].gamma == FAST.gamma
    assert table.shape == (2, 2)
    chosen, table = C4.select_hyperparameters(
        data,
        size=90,
        grid={"dropout": [0.1, 0.5], "weight_decay": [0.0]},
        models=("baseline",),
        draws=1,
        config=FAST,
        progress=False,
    )
    assert chosen["baseline"].dropout in (0.1, 0.5) and chosen["MSE"] == FAST
    assert table.shape == (2, 1)
    with pytest.raises(ValueError, match="not NLIConfig fields"):
        C4.select_hyperparameters(data, size=90, grid={"lr_typo": [1.0]}, progress=False)


# ---------------------------------------------------------------------------------------------- Table 3
def test_nearest_training_pairs_and_purity_against_sklearn():
    data = synthetic_data(n_train=150)
    rows = np.arange(0, 150)
    fits = {m: C4.fit_on_subset(data, rows, m, config=FAST, seed=0, device="cpu") for m in MODELS}
    tab = C4.nearest_training_pairs(fits, data, rows, test_index=3, k=2)
    assert len(tab) == 3 * 3 and list(tab["rank"][:3]) == [0, 1, 2]
    for m, fit in fits.items():
        z_tr = nli.penultimate(fit.model, data.premise["train"], data.hypothesis["train"]).numpy()
        z_q = nli.penultimate(fit.model, data.premise["test"], data.hypothesis["test"]).numpy()
        nn_ = NearestNeighbors(n_neighbors=5).fit(z_tr.astype(np.float64))
        _, ridx = nn_.kneighbors(z_q.astype(np.float64))
        sub = tab[(tab["model"] == m) & (tab["rank"] > 0)]
        assert list(sub["hypothesis"]) == list(data.frames["train"]["hypothesis"].iloc[ridx[3, :2]])
        # purity by hand from the sklearn neighbours
        pred_tr = nli.predict(fit.model, data.premise["train"], data.hypothesis["train"]).numpy()
        gold_tr, gq = data.labels["train"], data.labels["test"]
        nb_pred, nb_gold = pred_tr[ridx], gold_tr[ridx]
        pur = np.mean([np.bincount(r, minlength=3).max() / 5 for r in nb_pred])
        agree = np.mean(nb_gold == gq[:, None])
        got = C4.label_purity(fit, data, rows, k=5)
        assert got["pred_purity"] == pytest.approx(pur, abs=1e-6)
        assert got["gold_agree"] == pytest.approx(agree, abs=1e-6)
        vote = np.array([np.bincount(r, minlength=3).argmax() for r in nb_gold])
        assert got["knn_acc"] == pytest.approx(np.mean(vote == gq), abs=1e-6)


# ---------------------------------------------------------------------------------------------- claims
def _runs_frame(acc):
    """acc: {(size, model): [acc per draw]} -> tidy frame as run_experiment returns."""
    return pd.DataFrame(
        [{"size": s, "draw": d, "model": m, "test_acc": a} for (s, m), vals in acc.items() for d, a in enumerate(vals)]
    )


def test_paper_claims_by_hand():
    acc = {
        (1000, "baseline"): [0.40, 0.51, 0.45],
        (1000, "MSE"): [0.45, 0.55, 0.47],
        (1000, "MSE+LPL"): [0.50, 0.60, 0.55],
        (5000, "baseline"): [0.60, 0.62, 0.61],
        (5000, "MSE"): [0.61, 0.63, 0.62],
        (5000, "MSE+LPL"): [0.62, 0.625, 0.63],
        (20000, "baseline"): [0.70, 0.72, 0.71],
        (20000, "MSE"): [0.70, 0.72, 0.71],
        (20000, "MSE+LPL"): [0.705, 0.71, 0.715],
    }
    df = _runs_frame(acc)
    g = C4.paired_gains(df)
    lpl1000 = g[(g["model"] == "MSE+LPL") & (g["size"] == 1000)]["gain_pp"].to_numpy()
    np.testing.assert_allclose(lpl1000, [10.0, 9.0, 10.0], atol=1e-9)
    c = C4.check_paper_claims(df).set_index(["claim", "model"])
    gain = c.loc[("gain over baseline at 1000 samples", "MSE+LPL")]
    assert gain["value"] == pytest.approx(29 / 3) and gain["verdict"] == "yes"
    mse = c.loc[("gain over baseline at 1000 samples", "MSE")]
    assert mse["value"] == pytest.approx((5 + 4 + 2) / 3) and mse["verdict"] == "partly"
    # MSE+LPL gains 9.7, 1.5, 0 pp: strictly decreasing -> rho = -1
    assert c.loc[("gain shrinks as data grows", "MSE+LPL"), "value"] == pytest.approx(-1.0)
    assert c.loc[("gain shrinks as data grows", "MSE+LPL"), "verdict"] == "yes"
    # spread: std of MSE+LPL is 5 / 0.5 / 0.5 pp against baseline 5.5 / 1 / 1 and MSE 5.3 / 1 / 1
    spread = c.loc[("MSE+LPL has the lowest spread over runs", "MSE+LPL")]
    assert spread["value"] == 3 and spread["verdict"] == "yes"
    beats = c.loc[("MSE+LPL beats MSE alone", "MSE+LPL")]
    assert beats["verdict"] == "yes"
    assert set(c["artefact"]) == {"lpl.fig3a", "lpl.fig3b"}
    assert spread["artefact"] == "lpl.fig3b"
    # the paper's figure comes from lpa_utils.report.papers.NLI_GAIN
    assert gain["paper"] == "+8.9 pp (+19.3% relative) at 1000"
    lab = C4.check_paper_claims(df, label="glove-mean", artefacts=("lpl.fig4_5", "lpl.fig4_5"))
    assert lab["claim"].str.startswith("glove-mean: ").all() and set(lab["artefact"]) == {"lpl.fig4_5"}
    # flip: no gain at all
    flat = _runs_frame({(s, m): [0.5, 0.6, 0.55] for s in (1000, 5000) for m in MODELS})
    cf = C4.check_paper_claims(flat).set_index(["claim", "model"])
    assert cf.loc[("gain over baseline at 1000 samples", "MSE+LPL"), "verdict"] == "no"
    assert cf.loc[("MSE+LPL beats MSE alone", "MSE+LPL"), "verdict"] == "no"
    assert cf.loc[("MSE+LPL has the lowest spread over runs", "MSE+LPL"), "verdict"] == "no"
    # ahead of MSE at one size of three and behind on average (-0.33 pp): not "partly", "no"
    mixed = _runs_frame(
        {
            **{(s, m): [0.5, 0.6, 0.55] for s in (1000, 5000, 20000) for m in MODELS[:2]},
            (1000, "MSE+LPL"): [0.51, 0.61, 0.56],
            (5000, "MSE+LPL"): [0.49, 0.59, 0.54],
            (20000, "MSE+LPL"): [0.49, 0.59, 0.54],
        }
    )
    cm = C4.check_paper_claims(mixed).set_index(["claim", "model"]).loc[("MSE+LPL beats MSE alone", "MSE+LPL")]
    assert cm["value"] == pytest.approx(-1 / 3) and cm["verdict"] == "no"
    # a positive mean gain inside its own spread (gains +3, -1, +1 pp: mean 1, std 2) is not a gain
    noisy = _runs_frame(
        {
            (1000, "baseline"): [0.50, 0.60, 0.55],
            (1000, "MSE"): [0.53, 0.59, 0.56],
            (1000, "MSE+LPL"): [0.50, 0.60, 0.55],
        }
    )
    cn = C4.check_paper_claims(noisy).set_index(["claim", "model"]).loc[("gain over baseline at 1000 samples", "MSE")]
    assert cn["value"] == pytest.approx(1.0) and cn["verdict"] == "no" and cn["note"] == "within the spread over draws"


def test_subsample_frames_keeps_premise_groups():
    df = pd.DataFrame(
        {
            "premise": np.repeat([f"p{i}" for i in range(50)], 3),
            "hypothesis": [f"h{i}" for i in range(150)],
            "label_id": np.tile([0, 1, 2], 50),
        }
    )
    sub = nli.subsample_frames({"train": df}, {"train": 30}, seed=0)["train"]
    assert len(sub) == 30 and sub["premise"].nunique() == 10
    again = nli.subsample_frames({"train": df}, {"train": 30}, seed=0)["train"]
    pd.testing.assert_frame_equal(sub, again)
    rnd = nli.subsample_frames({"train": df}, {"train": 30}, seed=0, by_premise=False)["train"]
    assert len(rnd) == 30 and rnd["premise"].nunique() > 10
    assert len(nli.subsample_frames({"train": df}, {"train": None})["train"]) == 150


def test_carve_dev_and_find_pair():
    df = pd.DataFrame({"premise": list("abcdef"), "hypothesis": list("uvwxyz"), "label_id": [1, 0, 2, 0, 1, 2]})
    tr, dv = nli.carve_dev(df, 2, seed=0)
    assert len(tr) == 4 and len(dv) == 2 and set(tr["premise"]) | set(dv["premise"]) == set("abcdef")
    assert nli.find_pair(df, "c", "w") == 2
    assert nli.find_pair(df, "c", "nope") == 1  # first entailment pair
    with pytest.raises(ValueError):
        nli.carve_dev(df, 6)


@pytest.mark.slow
def test_prepare_nli_on_real_snli_glove():
    from lpa_utils.data import encode_sentences, load_snli

    frames = nli.subsample_frames(load_snli(), {"train": 60, "dev": 12, "test": 12}, seed=0)
    data = nli.prepare_nli(frames, "glove-mean", k=3, progress=False)
    assert data.dim == 50 and data.sizes() == {"train": 60, "dev": 12, "test": 12}
    ref = encode_sentences(list(frames["test"]["hypothesis"]), "glove-mean", progress=False)
    np.testing.assert_array_equal(data.hypothesis["test"], ref)
    # the pool holds exactly the distinct training premises, nothing from dev or test
    assert len(data.pool.emb) == frames["train"]["premise"].nunique()
    np.testing.assert_array_equal(data.pool.emb[data.premise_row], data.premise["train"])
    with pytest.raises(ValueError, match="label_id"):
        nli.prepare_nli({"train": frames["train"].assign(label_id=5), "dev": frames["dev"]}, "glove-mean")


def test_purity_claims_by_hand():
    purity = pd.DataFrame(
        {
            "model": ["baseline"] * 2 + ["MSE"] * 2 + ["MSE+LPL"] * 2,
            "draw": [0, 1] * 3,
            "pred_purity": [0.50, 0.52, 0.60, 0.62, 0.51, 0.53],
            "gold_agree": [0.40, 0.40, 0.39, 0.39, 0.45, 0.47],
        }
    )
    c = C4.check_purity_claims(purity).set_index(["claim", "model"])
    assert set(c["artefact"]) == {"lpl.table3"}
    pred = "neighbours' predicted labels cluster"
    gold = "neighbours share the test pair's gold label"
    assert c.loc[(pred, "MSE"), "value"] == pytest.approx(10.0) and c.loc[(pred, "MSE"), "verdict"] == "yes"
    assert c.loc[(pred, "MSE+LPL"), "verdict"] == "partly"  # +1 pp, std 1.4 pp
    assert c.loc[(gold, "MSE"), "verdict"] == "no"
    assert c.loc[(gold, "MSE+LPL"), "value"] == pytest.approx(6.0) and c.loc[(gold, "MSE+LPL"), "verdict"] == "yes"


# ---------------------------------------------------------------------------------------------- the chapter
TOY = C4.Settings(
    sizes=[60, "all"],
    limits={},
    config=FAST,
    gammas=[0.0, 0.01],
    select_size=60,
    select_draws=1,
    draws=2,
    table3_size=60,
    contrast_sizes=[60],
    tune_size=60,
    mnli_dev=30,
    mnli_limits={},
)


def test_settings_per_profile():
    smoke = C4.settings(SimpleNamespace(full=False), draws=5, table3_size=2000)
    assert smoke.draws == 2 and smoke.table3_size == 600 and smoke.sizes == [150, 600, "all"]
    assert smoke.config.hidden == 64 and smoke.limits == {"train": 1200, "dev": 300, "test": 600}
    assert smoke.mnli_limits == {**smoke.limits, "dev_matched": 600, "dev_mismatched": 600}
    full = C4.settings(SimpleNamespace(full=True), n_layers=3, k=7)
    assert full.limits == {} and full.draws == 3 and full.table3_size == 2000 and 2000 in full.sizes
    assert full.config.n_layers == 3 and full.config.k == 7 and full.config.hidden == NLIConfig().hidden
    assert C4.settings(SimpleNamespace(full=True), sizes=[500, "all"], table3_size="all").sizes == [500, "all"]
    with pytest.raises(ValueError, match="table3_size"):
        C4.settings(SimpleNamespace(full=True), sizes=[500, 1000])
    assert full.pairs("all", 1200) == 1200 and full.pairs(5000, 1200) == 1200 and full.pairs(500, 1200) == 500
    facts = C4.setting_facts(full)
    assert facts["paper_gain_pp"] == NLI_GAIN["gain_pct_points"] and facts["paper_gain_size"] == NLI_GAIN["at_size"]
    assert facts["paper_gain_rel"] == NLI_GAIN["gain_relative_pct"]
    assert facts["mlp_layers"] == 3 and facts["draws"] == 3 and facts["select_size"] == 2000


def test_data_helpers_and_checks(capsys):
    data = synthetic_data(n_train=150)
    facts = C4.data_facts(data.frames, data)
    texts = pd.concat([pd.concat([f.premise, f.hypothesis]) for f in data.frames.values()])
    assert facts["n_sentences"] == texts.nunique() and facts["pool_size"] == 50 and facts["pool_k"] == 4
    assert (facts["n_train"], facts["n_dev"], facts["n_test"], facts["dim"]) == (150, 150, 150, 8)
    tab = C4.data_table(data)
    assert tab.loc["train", "pairs"] == 150 and tab.loc["train", "unique premises"] == 50
    C4.print_checks(data.pool, NLIConfig())
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "labels (label_id order): ('entailment', 'neutral', 'contradiction')"
    assert out[1] == "delta (entailment, neutral, contradiction): [100.0, -5.0, 1.0] | floor: -5.0"
    assert len(out) == 5 and all(line.endswith("True") for line in out[2:])


def test_chapter_records_claims_figures_and_findings(monkeypatch):
    """The notebook's pipeline on the toy problem: records, tables and claims in the results file, the glued
    findings (Python scalars and strings only) and the figures with their captions."""
    monkeypatch.setattr(C4, "TUNE_GRID", {"dropout": [0.1, 0.5], "weight_decay": [0.0]})
    data = synthetic_data(n_train=240)
    chosen, gamma_table = C4.select_hyperparameters(
        data, size=60, gammas=TOY.gammas, draws=1, config=FAST, progress=False
    )
    kept = {}
    runs = C4.run_experiment(data, TOY.sizes, draws=2, config=chosen, keep=kept, keep_sizes=[60], progress=False)
    claims = C4.check_paper_claims(runs)
    tuned = C4.tuned_baseline(data, runs, TOY)
    assert tuned.config.dropout in (0.1, 0.5) and tuned.size == 60
    assert list(tuned.table.index) == [*MODELS, "baseline, tuned dropout / weight decay"]
    table3 = C4.table3_neighbours(kept, data, 60)
    first_entailment = int(np.flatnonzero(data.labels["test"] == 0)[0])  # the paper's pair is not in the toy data
    assert table3["hypothesis"].iloc[0] == data.frames["test"]["hypothesis"].iloc[first_entailment]
    assert len(table3) == 3 * 3
    purity = C4.purity_table(kept, data, 60, k=5)
    pclaims = C4.check_purity_claims(purity, k=5)
    contrast = C4.Contrast("toy2", 150, chosen, runs, C4.check_paper_claims(runs, label="toy2"))
    mnli = C4.MNLIRun("fake", "toy", runs.assign(dev_matched_acc=runs.test_acc, dev_mismatched_acc=runs.dev_acc))
    res = Results("04_nli_regularisation", profile="smoke")
    all_claims = C4.record_results(
        res,
        TOY,
        data,
        runs=runs,
        chosen=chosen,
        gamma_table=gamma_table,
        claims=claims,
        tuned=tuned,
        table3=table3,
        purity=purity,
        pclaims=pclaims,
        contrast=contrast,
        mnli=mnli,
        contrast_encoder="toy2",
        purity_k=5,
    )
    recs = res.to_frame()
    counts = recs["quantity"].value_counts().to_dict()
    assert counts == {
        "test accuracy": 6 + 6 + 1,
        "gain over baseline": 4 + 4,
        "dev_matched accuracy": 6,
        "dev_mismatched accuracy": 6,
        **{f"penultimate 5-NN {c}": 3 for c in ("pred_purity", "gold_agree", "knn_acc")},
    }
    first = recs.iloc[0]
    ref = runs[(runs["size"] == 60) & (runs["model"] == "MSE")].sort_values("draw")["test_acc"] * 100
    assert (first["quantity"], first["method"], first["data"]) == ("test accuracy", "MSE", "SNLI test (toy, 150 pairs)")
    np.testing.assert_allclose(first["values"], ref.to_numpy())
    gains = recs[(recs["quantity"] == "gain over baseline") & (recs["data"] == "SNLI test (toy, 150 pairs)")]
    # the paper's figure stands beside the size nearest NLI_GAIN["at_size"] (here all 240 pairs), nowhere else
    assert (gains["paper"].notna() == (gains["extra"].map(lambda e: e["size"]) == 240)).all()
    assert set(gains["paper"].dropna()) == {NLI_GAIN["gain_pct_points"]}
    assert recs[recs["data"] == "SNLI test (toy2, 150 pairs)"]["paper"].isna().all()  # exactly 1000 only
    assert recs.iloc[-1]["method"] == "baseline (dropout/weight decay tuned on dev)"
    assert set(res.tables) == {
        "mnli_runs",
        "contrast_runs",
        "tuned_baseline",
        "runs",
        "summary",
        "claims",
        "gamma_dev",
        "table3",
        "purity",
    }
    assert set(all_claims["artefact"]) == {"lpl.fig3a", "lpl.fig3b", "lpl.table3", "lpl.fig4_5"} <= set(ARTEFACTS)
    assert len(all_claims) == 2 * len(claims) + len(pclaims) + len(C4.mnli_claims(mnli))
    assert res.params["mnli"] is True and res.params["table3_size"] == 60 and res.params["n_train"] == 240
    json.dumps(res.tables["claims"])  # JSON-safe

    bare = Results("04_nli_regularisation", profile="smoke")
    c2 = C4.record_results(
        bare,
        TOY,
        data,
        runs=runs,
        chosen=chosen,
        gamma_table=gamma_table,
        claims=claims,
        tuned=tuned,
        table3=table3,
        purity=purity,
        pclaims=pclaims,
        contrast=None,
        mnli=None,
        contrast_encoder=None,
        purity_k=5,
    )
    assert "mnli_runs" not in bare.tables and "contrast_runs" not in bare.tables and bare.params["mnli"] is False
    last = c2.iloc[-1]
    assert (last["artefact"], last["verdict"], last["paper"]) == (
        "lpl.fig4_5",
        "not run",
        ARTEFACTS["lpl.fig4_5"].label,
    )

    ch = SimpleNamespace(profile="smoke", started=time.perf_counter())
    f = C4.findings(
        ch,
        data,
        runs=runs,
        claims=claims,
        tuned=tuned,
        purity=purity,
        pclaims=pclaims,
        contrast=contrast,
        mnli=mnli,
        purity_k=5,
    )
    assert all(type(v) in (int, float, str) for v in f.values())  # glue's text/plain: no numpy reprs
    summ = C4.summarize_runs(runs)
    assert f["acc_base_small"] == pytest.approx(summ["baseline mean"].iloc[0]) and f["size_all"] == 240
    assert f["gain_size"] == 240 and f["gain_verdict"] in C4.HEADLINE.values()
    assert f["tuned_acc"] == tuned.table.loc["baseline, tuned dropout / weight decay", "mean"]
    lpl = purity[purity["model"] == "MSE+LPL"]["pred_purity"].mean()
    assert f["purity_pred_lpl"] == pytest.approx(100 * lpl, abs=0.006)
    assert f["shrink_verdict"] in ("yes", "no") and "toy2" in f["contrast_finding"]
    assert f["mnli_finding"].startswith("Figures 4 and 5") and f["contrast_gammas"].startswith("MSE ")
    f0 = C4.findings(
        ch,
        data,
        runs=runs,
        claims=claims,
        tuned=tuned,
        purity=purity,
        pclaims=pclaims,
        contrast=None,
        mnli=None,
        purity_k=5,
    )
    assert f0["contrast_finding"] == "no contrast encoder was run." and "skipped" in f0["mnli_finding"]
    assert C4.contrast_summary(None) is None and C4.contrast_claims(None) is None and C4.mnli_summary(None) is None
    assert C4.contrast_claims(contrast)["claim"].str.contains("gain over").all()
    assert C4.mnli_summary(mnli).index.names == ["dev set", "training pairs"]
    assert list(C4.outside_table(runs).columns) == [60, 240] and C4.capped_table(runs).loc["runs"].eq(6).all()

    fig, cap = C4.fig_accuracy(runs, data)
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 2
    assert cap == ("SNLI (150 test pairs), toy sentence embeddings", "2 draws (random training subsets) per size")
    fig, cap = C4.fig_gains(C4.paired_gains(runs), data)
    assert cap.runs == "2 draws per size"
    fig, cap = C4.fig_mnli(mnli)
    assert cap == ("official MultiNLI (fake), toy sentence embeddings", "2 draws per size")
    fig, cap = C4.fig_mnli(None)
    assert cap.runs == "0 draws" and "not available" in cap.data
    plt.close("all")


def test_mnli_experiment_says_why_it_is_skipped(monkeypatch, capsys):
    monkeypatch.setattr(type(C4.DATASETS["mnli"]), "is_cached", lambda self: False)
    assert C4.mnli_experiment(None, TOY, {m: FAST for m in MODELS}, encoder="toy") is None
    assert "Figures 4 and 5 are skipped" in capsys.readouterr().out


@pytest.mark.slow
def test_mnli_experiment_on_multinli_files(tmp_path):
    """The optional MultiNLI section on files in the official layout (SNLI pairs standing in for MultiNLI)."""
    snli = load_snli()
    parts = {
        "train": snli["train"].iloc[:450],
        "dev_matched": snli["test"].iloc[:60],
        "dev_mismatched": snli["test"].iloc[60:120],
    }
    for name, df in parts.items():
        lines = [
            json.dumps({"gold_label": r.label, "sentence1": r.premise, "sentence2": r.hypothesis, "genre": "fiction"})
            for r in df.itertuples()
        ]
        (tmp_path / f"multinli_1.0_{name}.jsonl").write_text("\n".join(lines) + "\n")
    mnli = C4.mnli_experiment(tmp_path, TOY, {m: FAST for m in MODELS}, encoder="glove-mean", max_train=300)
    assert mnli.source == str(tmp_path) and mnli.encoder == "glove-mean"
    assert sorted(set(mnli.runs["size"])) == [60, 300] and len(mnli.runs) == 2 * 2 * 3
    assert mnli.runs[["dev_matched_acc", "dev_mismatched_acc"]].stack().between(0, 1).all()
    assert set(C4.mnli_claims(mnli)["artefact"]) == {"lpl.fig4_5"}
    assert len(C4.mnli_summary(mnli)) == 2 * 2
    plt.close(C4.fig_mnli(mnli)[0])
