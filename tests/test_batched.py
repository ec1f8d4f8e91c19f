"""lpa_utils.align.batched: R runs trained as one model equal the same runs trained alone, equal the original
SGDAligner loop for one run, keep stopped runs frozen, recover a planted rotation, reach the closed-form ridge
solution, and reject bad input clearly (issue 17, item 1)."""

import numpy as np
import pytest
import torch

from lpa_utils.align import MaskedAdam, RunSpec, SGDAligner, fit_runs

pytestmark = pytest.mark.usefixtures("one_thread")


def _xy(n=400, ds=10, dt=10, noise=0.3, seed=0):
    """X (n, ds) Gaussian, Y = X Q + noise with Q a random (semi-)orthogonal (ds, dt) map."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, ds)).astype(np.float32)
    Q = np.linalg.qr(rng.standard_normal((max(ds, dt), max(ds, dt))))[0][:ds, :dt]
    Y = (X @ Q + noise * rng.standard_normal((n, dt))).astype(np.float32)
    return X, Y, Q


def _pairs(rows):
    rows = np.asarray(rows)
    return np.stack([rows, rows], 1)


def _mixed_runs(n=400):
    """Six runs: different seeds, pair subsets of different sizes, losses, beta, k, ortho (both scales), ridge."""
    perm = np.random.default_rng(1).permutation(n)
    V = _pairs(perm[300:340])
    return [
        RunSpec(_pairs(perm[:200]), V, loss="mse", seed=0),
        RunSpec(_pairs(perm[:120]), V, loss="lpa", beta=0.7, k=5, ortho=0.1, seed=1),
        RunSpec(_pairs(perm[50:250]), V, loss="lpa", beta=2.0, k=3, seed=2),
        RunSpec(_pairs(perm[:60]), V, loss="mse", weight_decay=0.05, seed=3),
        RunSpec(_pairs(perm[:200]), None, loss="lpa", beta=1.0, k=5, ortho=20.0, ortho_scale="paper", seed=4),
        RunSpec(_pairs(perm[100:190]), _pairs(perm[340:360]), loss="lpa", beta=0.3, k=7, seed=5),
    ]


KW = dict(lr=0.02, batch_size=32, patience=3, device="cpu")


def _assert_same(batched, solo, r, atol=1e-5):
    np.testing.assert_allclose(batched.W[r].numpy(), solo.W[0].numpy(), atol=atol)
    np.testing.assert_allclose(batched.W_last[r].numpy(), solo.W_last[0].numpy(), atol=atol)
    assert batched.best_epoch[r] == solo.best_epoch[0] and batched.stopped_at[r] == solo.stopped_at[0]
    assert batched.steps_taken[r] == solo.steps_taken[0]
    hb, hs = batched.history[r], solo.history[0]
    assert [sorted(h) for h in hb] == [sorted(h) for h in hs]
    for a, b in zip(hb, hs):
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (r, key)


# ------------------------------------------------------------------------------------- (1) batched == solo
def test_batched_runs_equal_solo_runs_epoch_mode():
    X, Y, _ = _xy()
    runs = _mixed_runs()
    batched = fit_runs(X, Y, runs, epochs=25, val_every=1, **KW)
    stops = batched.stopped_at
    assert (stops < 25).sum() >= 2 and len(set(stops[stops < 25])) >= 2, stops  # early stops at different epochs
    for r, run in enumerate(runs):
        _assert_same(batched, fit_runs(X, Y, [run], epochs=25, val_every=1, **KW), r)
    assert batched.recon[0] is None and batched.recon[1]["k"] == 5 and batched.recon[4]["shared_with"] == 1
    frame = batched.history_frame()
    assert set(frame["run"]) == set(range(6)) and {"val_p@1", "lpl", "ridge"} <= set(frame.columns)


def test_batched_runs_equal_solo_runs_steps_mode():
    X, Y, _ = _xy(seed=2)
    runs = _mixed_runs()[:4]
    kw = dict(KW, patience=12, batch_size=48)
    batched = fit_runs(X, Y, runs, steps=60, val_every=4, **kw)
    assert batched.unit == "step" and (batched.steps_taken <= 60).all()
    for r, run in enumerate(runs):
        _assert_same(batched, fit_runs(X, Y, [run], steps=60, val_every=4, **kw), r)
    full = batched.stopped_at == 60
    assert (batched.steps_taken[full] == 60).all()  # every run gets the same number of steps, whatever its size
    h = batched.history[3]  # 60 pairs, batches of 48: 2 steps per pass
    assert h[0]["step"] == 4 and h[0]["passes"] == pytest.approx(4 * 60 / 2 / 60 * 1.0)


def test_paper_scale_of_ortho_divides_by_the_number_of_pairs():
    X, Y, _ = _xy(n=300)
    P = _pairs(np.arange(80))
    a = fit_runs(X, Y, [RunSpec(P, loss="lpa", k=4, ortho=80.0, ortho_scale="paper")], epochs=5, device="cpu")
    b = fit_runs(X, Y, [RunSpec(P, loss="lpa", k=4, ortho=1.0)], epochs=5, device="cpu")
    assert torch.equal(a.W, b.W)


def test_pruned_validation_scores_equal_full_scoring():
    X, Y, _ = _xy(n=2000, ds=8, dt=8, noise=0.5, seed=3)
    perm = np.random.default_rng(0).permutation(2000)
    runs = [RunSpec(_pairs(perm[:300]), _pairs(perm[300:700]), loss="lpa", k=5, seed=s) for s in range(2)]
    kw = dict(epochs=20, lr=0.01, batch_size=64, patience=None, device="cpu")
    a, b = fit_runs(X, Y, runs, val_prune=True, **kw), fit_runs(X, Y, runs, val_prune=False, **kw)
    for r in range(2):
        assert [h["val_p@1"] for h in a.history[r]] == [h["val_p@1"] for h in b.history[r]]
    assert torch.equal(a.W, b.W) and 0.2 < a.best_val_p1.min() < 0.95
    assert a.val_stats["certified"] > a.val_stats["scored"] and b.val_stats["certified"] == 0


# ------------------------------------------------------------------------------- (2) one run == SGDAligner
@pytest.mark.parametrize(
    "kw, ds, dt",
    [
        (dict(loss="mse", ortho=0.2, seed=1), 10, 10),
        (dict(loss="lpa", k=5, beta=0.7, ortho=1.0, seed=2, init="orthogonal"), 8, 12),
        (dict(loss="lpa", k=6, beta=1.5, seed=3, init="small", val_every=3, n_ref=250), 12, 8),
    ],
)
def test_one_run_equals_the_original_sgd_aligner_loop(kw, ds, dt):
    """SGDAligner(lpl_exact=True) is the original autograd loop (torch Adam, literal eq. 5): an independent check
    of the hand-written gradients, the masked Adam and the batch order."""
    X, Y, _ = _xy(ds=ds, dt=dt)
    perm = np.random.default_rng(0).permutation(400)
    P, V = _pairs(perm[:150]), _pairs(perm[200:240])
    common = dict(epochs=15, lr=0.01, batch_size=32, patience=4, device="cpu")
    ref = SGDAligner(lpl_exact=True, **common, **kw).fit(X, Y, P, val_pairs=V)
    run_kw = {k: kw[k] for k in ("loss", "k", "beta", "ortho", "seed") if k in kw}
    fit_kw = {k: kw[k] for k in ("init", "val_every", "n_ref") if k in kw}
    fit = fit_runs(X, Y, [RunSpec(P, V, **run_kw)], **common, **fit_kw)
    np.testing.assert_allclose(fit.W[0].numpy(), ref.W_.numpy(), atol=1e-5)
    assert fit.best_epoch[0] == ref.best_epoch_ and len(fit.history[0]) == len(ref.history_)
    for a, b in zip(fit.history[0], ref.history_):
        for key in b:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key
    front = SGDAligner(**common, **kw).fit(X, Y, P, val_pairs=V)  # the front: fit_runs with one run
    assert torch.equal(front.W_, fit.W[0]) and front.best_epoch_ == fit.best_epoch[0]


# ----------------------------------------------------------------------------------------------- (3) masking
def test_masked_adam_leaves_masked_runs_untouched_unlike_torch_adam():
    g = torch.randn(2, 3, 4)
    W = torch.randn(2, 3, 4)
    ref = torch.nn.Parameter(W[0].clone())
    torch_opt = torch.optim.Adam([ref], lr=0.1)
    opt = MaskedAdam(W, lr=0.1)
    for step in range(4):
        ref.grad = g[0] * (step + 1)
        torch_opt.step()
        opt.step(g * (step + 1), active=np.array([True, step < 2]))
    np.testing.assert_allclose(W[0].numpy(), ref.detach().numpy(), atol=1e-6)
    frozen, m, v = W[1].clone(), opt.m[1].clone(), opt.v[1].clone()
    for _ in range(3):
        opt.step(torch.zeros_like(g), active=np.array([True, False]))
    assert torch.equal(W[1], frozen) and torch.equal(opt.m[1], m) and torch.equal(opt.v[1], v)
    assert list(opt.t) == [7, 2]
    # the documented problem: a plain Adam moves a parameter whose gradient is zero (momentum)
    before = ref.detach().clone()
    ref.grad = torch.zeros_like(ref)
    torch_opt.step()
    assert not torch.equal(ref.detach(), before)


def test_stopped_run_keeps_its_best_checkpoint_and_does_not_drift():
    X, Y, _ = _xy()
    runs = _mixed_runs()
    fit = fit_runs(X, Y, runs, epochs=25, val_every=1, **KW)
    r = int(np.argmin(fit.stopped_at))
    assert fit.stopped_at[r] < fit.stopped_at.max()  # it stopped while others trained on
    no_val = RunSpec(**{**runs[r].__dict__, "val_pairs": None})
    kw = dict(KW, patience=None)
    at_best = fit_runs(X, Y, [no_val], epochs=int(fit.best_epoch[r]), **kw)
    at_stop = fit_runs(X, Y, [no_val], epochs=int(fit.stopped_at[r]), **kw)
    np.testing.assert_allclose(fit.W[r].numpy(), at_best.W[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(fit.W_last[r].numpy(), at_stop.W[0].numpy(), atol=1e-5)
    assert fit.steps_taken[r] == at_stop.steps_taken[0]


# -------------------------------------------------------------------------------------- (4) planted rotation
def test_planted_rotation_recovered_by_every_run():
    X, Y, Q = _xy(n=3000, ds=16, dt=16, noise=0.05, seed=4)
    perm = np.random.default_rng(5).permutation(3000)
    P, V, test = _pairs(perm[:1000]), _pairs(perm[1000:1100]), perm[1500:2000]
    runs = [
        RunSpec(P, V, loss="mse", seed=0),
        RunSpec(P, V, loss="lpa", k=10, seed=1),
        RunSpec(P, V, loss="lpa", k=5, beta=0.3, ortho=1.0, seed=2),
        RunSpec(P[:400], V, loss="mse", weight_decay=1e-4, seed=3),
        RunSpec(P[200:700], V, loss="lpa", k=10, ortho=1.0, ortho_scale="paper", seed=4),
    ]
    fit = fit_runs(X, Y, runs, epochs=30, lr=0.02, batch_size=128, patience=None, val_every=10, device="cpu")
    Yn = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    for r in range(len(runs)):
        W = fit.W[r].numpy()
        pred = (X[test] @ W @ Yn.T).argmax(1)
        assert (pred == test).mean() >= 0.99, r
        assert np.abs(W - Q).max() < 0.1, r


# ----------------------------------------------------------------------------------------------- (5) ridge
def test_weight_decay_reaches_the_closed_form_ridge_solution():
    X, Y, _ = _xy(n=300, ds=6, dt=5, noise=0.5, seed=6)
    P = _pairs(np.arange(200))
    wds = (0.0, 0.1, 1.0)
    runs = [RunSpec(P, loss="mse", weight_decay=wd, seed=i) for i, wd in enumerate(wds)]
    fit = fit_runs(X, Y, runs, steps=1500, lr=0.02, batch_size=None, patience=None, device="cpu")
    A, B = X[:200].astype(np.float64), Y[:200].astype(np.float64)
    for r, wd in enumerate(wds):  # argmin (1/p) ||A W - B||^2 + wd ||W||^2 = (A^T A + p wd I)^{-1} A^T B
        want = np.linalg.solve(A.T @ A + 200 * wd * np.eye(6), A.T @ B)
        np.testing.assert_allclose(fit.W[r].numpy(), want, atol=2e-4)
    assert fit.history[2][-1]["ridge"] == pytest.approx(float((fit.W[2].double() ** 2).sum()), rel=1e-3)


# ----------------------------------------------------------------------------------------------- (6) errors
@pytest.mark.parametrize(
    "make, kw, message",
    [
        (lambda P: [], {}, "runs is empty"),
        (lambda P: [P], {}, r"runs\[0\] must be a RunSpec"),
        (lambda P: [RunSpec(P), RunSpec(P + 1000)], {}, r"runs\[1\].pairs: source rows must lie in"),
        (lambda P: [RunSpec(np.c_[P, P[:, :1]])], {}, r"non-empty \(p, 2\)"),
        (lambda P: [RunSpec(P, val_pairs=P[:, 0])], {}, r"runs\[0\].val_pairs must be a non-empty \(p, 2\)"),
        (lambda P: [RunSpec(P[:0])], {}, r"non-empty \(p, 2\)"),
        (lambda P: [RunSpec(P)], dict(epochs=5, steps=5), "epochs or steps, not both"),
        (lambda P: [RunSpec(P)], dict(steps=0), "epochs/steps must be an integer >= 1"),
        (lambda P: [RunSpec(P)], dict(init="eye"), "init must be one of"),
        (lambda P: [RunSpec(P, loss="lpa", k=10)], dict(n_ref=5), "n_ref must be an integer >= 11"),
    ],
)
def test_bad_input_raises_a_clear_value_error(make, kw, message):
    X, Y, _ = _xy(n=50)
    with pytest.raises(ValueError, match=message):
        fit_runs(X, Y, make(_pairs(np.arange(20))), device="cpu", **kw)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(loss="ridge"), "loss must be 'mse' or 'lpa'"),
        (dict(beta=-1.0), "beta must be a finite number >= 0"),
        (dict(weight_decay=float("nan")), "weight_decay must be a finite number >= 0"),
        (dict(ortho_scale="sum"), "ortho_scale must be 'mean' or 'paper'"),
        (dict(loss="lpa", k=0), "k must be an integer >= 1"),
    ],
)
def test_bad_run_spec_raises_a_clear_value_error(kw, message):
    with pytest.raises(ValueError, match=message):
        RunSpec(_pairs(np.arange(5)), **kw)


def test_mismatched_x_shapes_raise():
    X, Y, _ = _xy(n=50)
    with pytest.raises(ValueError, match="fit_runs: X"):
        fit_runs(X[:, :, None], Y, [RunSpec(_pairs(np.arange(5)))], device="cpu")
    with pytest.raises(ValueError, match="target rows must lie in"):
        fit_runs(X, Y[:10], [RunSpec(_pairs(np.arange(20)))], device="cpu")
