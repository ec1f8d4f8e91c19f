"""Tests of lpa_utils.models.nli (Figure 2 model, eq. 8, training, data helpers). The batched training is tested
in test_nli_batched.py, the chapter's protocol and verdicts in test_nli_chapter.py.

Everything here runs on small random tensors; the SNLI run itself is the chapter notebook's job.
References are independent: NumPy hand computations, scikit-learn's NearestNeighbors, pandas aggregation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from lpa_utils.chapters import ch04_nli as C4
from lpa_utils.data import load_snli
from lpa_utils.models import nli
from lpa_utils.models.nli import LABELS, NLIConfig

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
    assert fit.dev_acc > 0.8  # chance: 1/3
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
    from lpa_utils.data import encode_sentences

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
