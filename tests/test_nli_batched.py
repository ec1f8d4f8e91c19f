"""Tests of the batched training of lpa_utils.models.nli: R runs as one model give the runs done one by one.

References: the same runs trained alone (the R = 1 case), torch.optim.Adam, torch.nn.Linear, the unbatched
eq. 8 of lpa_utils.maths.losses and the single-run AlignNLI. Toy data only (tests/test_nli.py builds it).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from lpa_utils.maths.losses import nli_alignment_loss
from lpa_utils.models import nli
from lpa_utils.models.nli import NLIConfig, RunSpec
from tests.test_nli import FAST, synthetic_data

pytestmark = pytest.mark.usefixtures("one_thread")

#: short rounds, a long budget and little patience: the toy runs stop at different rounds
BASE = replace(FAST, min_round_steps=5, max_round_steps=10, max_rounds=12, patience=2)


@pytest.fixture(scope="module")
def toy():
    return synthetic_data(n_train=300, n_dev=150, n_test=120, k=4)


def _arrays(data):
    prow = data.premise_row
    lpl = dict(nbr_rows=data.pool.idx[prow], pool_emb=data.pool.emb, pool_weights=data.pool.weights[prow])
    train = (data.premise["train"], data.hypothesis["train"], data.labels["train"])
    dev = (data.premise["dev"], data.hypothesis["dev"], data.labels["dev"])
    evals = {"test": (data.premise["test"], data.hypothesis["test"], data.labels["test"])}
    return train, dev, evals, lpl


def _specs(n_train=300):
    """Runs that differ in everything a run may own: method, subset (and its size), seed, gamma, beta, delta,
    floor, dropout, learning rate and weight decay. The 20-pair run has a smaller batch (20 < 32)."""
    rng = np.random.default_rng(0)
    table = [
        ("baseline", 100, dict(dropout=0.1)),
        ("MSE", 300, dict(dropout=0.3, weight_decay=1e-3, gamma=0.1)),
        ("MSE+LPL", 150, dict(dropout=0.0, gamma=0.05, beta=0.5)),
        ("MSE+LPL", 300, dict(dropout=0.2, weight_decay=1e-4, floor=None, lr=1e-3)),
        ("baseline", 60, dict(dropout=0.5, weight_decay=1e-3)),
        ("MSE", 20, dict(gamma=0.5, delta={"entailment": 10.0, "neutral": -1.0, "contradiction": 2.0})),
    ]
    return [
        RunSpec(np.sort(rng.choice(n_train, n, replace=False)), m, replace(BASE, **kw), seed=11 + i)
        for i, (m, n, kw) in enumerate(table)
    ]


def _same_fit(a: nli.FitResult, b: nli.FitResult, atol: float) -> None:
    assert (a.rounds, a.best_round, a.steps) == (b.rounds, b.best_round, b.steps)
    assert a.dev_acc == b.dev_acc
    for ha, hb in zip(a.history, b.history):
        assert ha["dev_acc"] == hb["dev_acc"] and ha["steps"] == hb["steps"]
        assert ha["ce"] == pytest.approx(hb["ce"], abs=atol) and ha["align"] == pytest.approx(hb["align"], abs=atol)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], atol=atol, rtol=0)
    np.testing.assert_array_equal(a.hits["test"], b.hits["test"])


def test_batched_runs_equal_the_runs_one_by_one_float64(toy):
    """Six runs trained as one batched model give, run for run, what each gives trained alone (the R = 1 case):
    same rounds, early stop, dev accuracy, per-round losses, parameters and test predictions. Covers different
    subset sizes (and a smaller batch), dropout, per-run weight decay / gamma / beta / delta / floor / lr, and
    runs that stop at different rounds (a stopped run is removed and never moves again)."""
    train, dev, evals, lpl = _arrays(toy)
    specs = _specs()
    batched = nli.fit_batched(*train, *dev, specs, eval_sets=evals, dtype=torch.float64, **lpl)
    assert len({f.rounds for f in batched}) > 1  # the runs stop at different rounds
    assert any(f.rounds < FAST.max_rounds for f in batched)  # some by early stopping
    for spec, fb in zip(specs, batched):
        alone = nli.fit_batched(*train, *dev, [spec], eval_sets=evals, dtype=torch.float64, **lpl)[0]
        assert fb.method == spec.method and fb.config == spec.config
        _same_fit(fb, alone, atol=1e-10)


def test_batched_runs_equal_the_runs_one_by_one_float32(toy):
    """The same in float32 (the chapter's precision), to float tolerance, on runs short enough that rounding
    cannot flip a dev comparison."""
    train, dev, evals, lpl = _arrays(toy)
    specs = [replace(s, config=replace(s.config, max_rounds=2, patience=5)) for s in _specs()]
    batched = nli.fit_batched(*train, *dev, specs, eval_sets=evals, **lpl)
    for spec, fb in zip(specs, batched):
        alone = nli.fit_batched(*train, *dev, [spec], eval_sets=evals, **lpl)[0]
        assert (fb.rounds, fb.best_round) == (alone.rounds, alone.best_round)
        for k, v in fb.model.state_dict().items():
            torch.testing.assert_close(v, alone.model.state_dict()[k], atol=1e-5, rtol=1e-4)


def test_fit_nli_is_the_single_run_case(toy):
    train, dev, _, lpl = _arrays(toy)
    spec = _specs()[2]
    rows = spec.rows
    nb = {k: (v[rows] if k != "pool_emb" else v) for k, v in lpl.items()}
    a = nli.fit_nli(*(x[rows] for x in train), *dev, method=spec.method, config=spec.config, seed=spec.seed, **nb)
    b = nli.fit_batched(*train, *dev, [spec], **lpl)[0]
    assert a.history == b.history and a.dev_acc == b.dev_acc
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])


def test_run_order_and_neighbours_do_not_matter(toy):
    """Reversing the runs gives the same results per run (LPL runs are moved to the front internally), and an
    MSE run ignores beta (only "MSE+LPL" runs project neighbours)."""
    train, dev, _, lpl = _arrays(toy)
    specs = _specs()[:4]
    a = nli.fit_batched(*train, *dev, specs, dtype=torch.float64, **lpl)
    b = nli.fit_batched(*train, *dev, specs[::-1], dtype=torch.float64, **lpl)[::-1]
    for fa, fb in zip(a, b):
        assert fa.history == fb.history
    mse = specs[1]
    c = nli.fit_batched(*train, *dev, [replace(mse, config=replace(mse.config, beta=7.0))], dtype=torch.float64)[0]
    assert c.history == a[1].history


def test_global_rng_untouched_and_seeds_matter(toy):
    train, dev, _, lpl = _arrays(toy)
    spec = _specs()[1]
    torch.manual_seed(5)
    before = torch.get_rng_state().clone()
    a = nli.fit_batched(*train, *dev, [spec], **lpl)[0]
    assert torch.equal(torch.get_rng_state(), before)
    b = nli.fit_batched(*train, *dev, [replace(spec, seed=spec.seed + 1)], **lpl)[0]
    assert a.history != b.history


def test_shared_fields_and_inputs_are_checked(toy):
    train, dev, _, lpl = _arrays(toy)
    s = _specs()[0]
    with pytest.raises(ValueError, match="hidden"):
        nli.fit_batched(*train, *dev, [s, replace(s, config=replace(s.config, hidden=8))])
    with pytest.raises(ValueError, match="rows"):
        nli.fit_batched(*train, *dev, [replace(s, rows=np.array([0, 400]))])
    with pytest.raises(ValueError, match="nbr_rows"):
        nli.fit_batched(*train, *dev, [replace(s, method="MSE+LPL")])
    with pytest.raises(ValueError, match="no runs"):
        nli.fit_batched(*train, *dev, [])
    with pytest.raises(ValueError, match="dropout"):
        NLIConfig(dropout=1.0)
    with pytest.raises(ValueError, match="seed"):
        nli.run_generators(-1)


# ---------------------------------------------------------------------------------------------- the pieces
def test_batched_linear_initialises_each_run_like_nn_linear_from_its_own_generator():
    gens = [nli.run_generators(s)[0] for s in (1, 2, 3)]
    lin = nli.BatchedLinear(5, 4, gens)
    alone = nli.BatchedLinear(5, 4, [nli.run_generators(2)[0]])
    assert torch.equal(lin.weight[1], alone.weight[0]) and torch.equal(lin.bias[1], alone.bias[0])
    assert lin.weight.abs().max() <= 1 / np.sqrt(5) and not torch.equal(lin.weight[0], lin.weight[1])
    x = torch.randn(3, 7, 5)
    ref = torch.stack([x[r] @ lin.weight[r] + lin.bias[r] for r in range(3)])
    torch.testing.assert_close(lin(x), ref)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_batched_model_matches_its_single_runs(n_layers):
    torch.manual_seed(0)
    gens = [nli.run_generators(s)[0] for s in range(3)]
    bm = nli.BatchedAlignNLI(6, gens, hidden=8, n_layers=n_layers)
    p, h = torch.randn(3, 5, 6), torch.randn(3, 5, 6)
    logits, fp = bm(p, h)
    assert logits.shape == (3, 5, 3) and fp.shape == (3, 5, 6)
    pred, feats = bm.predict_shared(p[0], h[0], block=2, return_features=True)
    for r in range(3):
        m = bm.run(r)
        lr, fr = m(p[r], h[r])
        torch.testing.assert_close(lr, logits[r], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fr, fp[r], atol=1e-6, rtol=1e-5)
        p0, z0 = nli.predict(m, p[0], h[0], return_features=True)
        assert torch.equal(pred[r], p0)
        torch.testing.assert_close(feats[r], z0, atol=1e-5, rtol=1e-5)
    sub = bm.subset([2, 0])
    torch.testing.assert_close(sub.predict_shared(p[0], h[0]), pred[[2, 0]])
    state = bm.state_of(1)
    bm.keep_runs([1])
    assert bm.runs == 1 and all(torch.equal(a, b) for a, b in zip(bm.state_of(0), state))


def test_batched_adam_is_torch_adam_per_run():
    torch.manual_seed(0)
    w0 = torch.randn(3, 4, 2)
    lr, wd = torch.tensor([1e-3, 1e-2, 5e-3]), torch.tensor([0.0, 1e-2, 1e-3])
    w = w0.clone().requires_grad_()
    opt = nli.BatchedAdam([w], lr, wd)
    refs = [w0[r].clone().requires_grad_() for r in range(3)]
    ropts = [torch.optim.Adam([refs[r]], lr=float(lr[r]), weight_decay=float(wd[r])) for r in range(3)]
    target = torch.randn(3, 4, 2)
    for step in range(6):
        w.grad = None
        ((w - target) ** 3).sum().backward()
        opt.step([w])
        for r in range(len(refs)):
            ropts[r].zero_grad()
            ((refs[r] - target[r]) ** 3).sum().backward()
            ropts[r].step()
        if step == 2:  # run 1 stops: dropped with its moments, the others go on unchanged
            keep = torch.tensor([0, 2])
            opt.keep_runs(keep)
            w = w.detach()[keep].requires_grad_()
            target, refs, ropts = target[keep], [refs[0], refs[2]], [ropts[0], ropts[2]]
    for r in range(2):
        torch.testing.assert_close(w[r], refs[r], atol=1e-6, rtol=1e-5)


def test_eq8_batched_against_the_unbatched_eq8():
    torch.manual_seed(0)
    R, n = 3, 7
    logits, labels, align = torch.randn(R, n, 3), torch.randint(0, 3, (R, n)), torch.rand(R, n) * 3
    gamma = torch.tensor([0.01, 1.0, 0.5])
    delta = torch.tensor([[100.0, -5.0, 1.0], [1.0, 2.0, 3.0], [100.0, -5.0, 1.0]])
    floor = torch.tensor([-5.0, -1.0, -torch.inf])
    total, ce, al = nli.eq8_batched(logits, labels, align, gamma=gamma, delta=delta, floor=floor)
    for r in range(R):
        f = None if torch.isinf(floor[r]) else float(floor[r])
        ref_al = nli_alignment_loss(align[r], labels[r], delta[r], float(gamma[r]), f)
        ref_ce = torch.nn.functional.cross_entropy(logits[r], labels[r])
        torch.testing.assert_close(al[r], ref_al)
        torch.testing.assert_close(ce[r], ref_ce)
        torch.testing.assert_close(total[r], ref_ce + ref_al)
    t0, c0, a0 = nli.eq8_batched(logits, labels, None, gamma=gamma, delta=delta, floor=floor)
    assert torch.equal(t0, c0) and not a0.any()


def test_dropout_masks_per_run():
    drop = torch.tensor([0.0, 0.3, 0.6])
    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    (m,) = nli._dropout_masks(gens, drop, 200, 50, 1, torch.float32)
    assert m.shape == (3, 200, 50) and torch.equal(m[0], torch.ones(200, 50))
    for r in (1, 2):
        kept = m[r] > 0
        assert abs(1 - kept.float().mean() - float(drop[r])) < 0.02
        torch.testing.assert_close(m[r][kept], torch.full((int(kept.sum()),), 1 / (1 - float(drop[r]))))
    (alone,) = nli._dropout_masks([torch.Generator().manual_seed(2)], drop[2:], 200, 50, 1, torch.float32)
    assert torch.equal(alone[0], m[2])  # a run's masks do not depend on the runs beside it
