"""Tests of MUSE's adversarial map (``lpa_utils.models.adversarial``: MuseAdversarialMap and its helpers, issue 18)
against independent facts: a planted rotation / reflection, closed forms, autograd, a direct NumPy CSLS."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lpa_utils.models import adversarial as A

# The planted case: a whitened 2-D skewed cloud (a "comet": a Gaussian blob with an exponential tail), so that
# its covariance is the identity and only its shape fixes the rotation; the target is an exact rotation (or
# reflection) of it, row i of Y the image of row i of X. MUSE's recipe with its defaults, except a narrower
# discriminator (64 hidden units), a criterion every 100 steps and no learning-rate decay or shrink (MUSE applies
# them once per epoch of 31,250 steps, far beyond a test's 1,200 steps).
N_POINTS = 500
STEPS = 1200
TEST_CFG = dict(steps=STEPS, hidden=64, eval_every=100, lr_decay=1.0, lr_shrink=1.0)


def _comet(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.exponential(1.0, n)
    X = rng.standard_normal((n, 2)) * [0.3, 0.12]
    X[:, 0] += 1.5 * t
    X[:, 1] += 0.4 * t
    X = X - X.mean(0)
    evals, evecs = np.linalg.eigh(np.cov(X.T))
    return (X @ evecs @ np.diag(evals**-0.5) @ evecs.T).astype(np.float32)


def _rotation(seed: int, det: int) -> np.ndarray:
    theta = np.random.default_rng(seed + 500).uniform(0.0, 2.0 * np.pi)
    Q = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return Q @ np.diag([1.0, -1.0]) if det < 0 else Q


def _planted(seed: int, det: int = 1):
    X = _comet(N_POINTS, seed)
    Q = _rotation(seed, det)
    Y = (X.astype(np.float64) @ Q.T).astype(np.float32)  # y_i = Q x_i, so the answer is W = Q
    return X, Y, Q


def _p_at_1(model, X, Y) -> float:
    """Euclidean nearest neighbour of every mapped source row among the target rows; gold = the same row."""
    top = torch.cdist(model.transform(X), model.transform_target(Y)).argmin(1).numpy()
    return float((top == np.arange(len(X))).mean())


# ------------------------------------------------------------------------------------------- planted cases
def test_recovers_planted_rotation_from_random_starts():
    """(a) From random starts of the right orientation the map finds the planted rotation (4 of 5 seeds asked;
    5 of 5 measured: ||W - Q||_F 0.009-0.023, P@1 0.95-1.00, about 3.5 s per seed on one thread)."""
    results = []
    for seed in range(5):
        X, Y, Q = _planted(seed)
        m = A.MuseAdversarialMap(A.MuseConfig(**TEST_CFG), seed=seed).fit(X, Y, orientations="positive")
        W = m.weight_.numpy()
        results.append((seed, float(np.linalg.norm(W - Q)), _p_at_1(m, X, Y)))
    ok = [r for r in results if r[1] < 0.05 and r[2] >= 0.9]
    assert len(ok) >= 4, results


def test_orientation_choice_picks_the_reflection():
    """(b) The true map is a reflection (det -1): the det +1 start cannot reach it; with orientations="both" the
    unsupervised criterion picks the det -1 run, which recovers the map. Two seeds (measured: both recover it,
    ||W - Q||_F 0.013 and 0.019; on seeds 0-4, 3 of 5 det -1 runs converged within 1,200 steps, and in each of
    those the criterion chose them)."""
    recovered = 0
    for seed in (0, 1):
        X, Y, Q = _planted(seed, det=-1)
        assert np.linalg.det(Q) < 0
        m = A.MuseAdversarialMap(A.MuseConfig(**TEST_CFG), seed=seed).fit(X, Y, orientations="both")
        assert set(m.orientations_) == {1, -1}
        assert np.linalg.det(m.starts_[1].numpy()) > 0 and np.linalg.det(m.starts_[-1].numpy()) < 0
        W_pos, W_neg = m.candidates_[1].numpy(), m.candidates_[-1].numpy()
        assert np.linalg.det(W_pos) > 0 and np.linalg.norm(W_pos - Q) > 1.0  # unreachable from det +1
        if np.linalg.norm(W_neg - Q) < 0.05:  # this run found the map ...
            recovered += 1
            assert m.orientation_ == -1  # ... and the criterion saw it
            assert m.orientations_[1] < m.orientations_[-1] == m.criterion_
            W = m.weight_.numpy()
            assert np.linalg.det(W) < 0 and np.linalg.norm(W - Q) < 0.05
            assert _p_at_1(m, X, Y) >= 0.9
            # (e) after training the chosen map is still (nearly) orthogonal
            assert np.linalg.norm(W @ W.T - np.eye(2)) < 0.05
        h = m.history_
        assert set(h.columns) >= {"step", "orientation", "criterion", "dis_acc", "map_lr", "orth_error"}
        assert len(h) == 2 * (STEPS // 100 + 1)
        for s in (1, -1):  # the recorded best criteria are the maxima of each orientation's history
            assert m.orientations_[s] == pytest.approx(h.loc[h.orientation == s, "criterion"].max())
    assert recovered >= 1


# ------------------------------------------------------------------------------------- seeds and streams
def _tiny(seed, **kw):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 5)).astype(np.float32)
    Y = rng.standard_normal((50, 5)).astype(np.float32)
    cfg = A.MuseConfig(steps=15, hidden=8, eval_every=5, n_select=20, **kw)
    return A.MuseAdversarialMap(cfg, seed=seed).fit(X, Y, orientations="both"), X, Y


def test_same_seed_same_map_different_seed_different_start():
    """(c) Determinism: the same seed gives bit-identical maps and histories; other seeds other starts."""
    state = torch.random.get_rng_state()
    m1, X, Y = _tiny(3)
    m2, _, _ = _tiny(3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is neither used nor moved
    assert torch.equal(m1.weight_, m2.weight_)
    for s in (1, -1):
        assert torch.equal(m1.final_weights_[s], m2.final_weights_[s])
    assert m1.history_.equals(m2.history_)
    m3, _, _ = _tiny(4)
    assert not torch.allclose(m1.starts_[1], m3.starts_[1], atol=1e-3)
    assert not torch.allclose(m1.final_weights_[1], m3.final_weights_[1], atol=1e-3)
    # the start (det +1) and its reflection differ in the first column only
    S = m1.starts_
    np.testing.assert_array_equal(S[1][:, 1:].numpy(), S[-1][:, 1:].numpy())
    np.testing.assert_array_equal(S[1][:, 0].numpy(), -S[-1][:, 0].numpy())


@pytest.mark.parametrize("d", [2, 10, 50])
def test_start_stream_is_not_the_planted_rotation(d):
    """(d) The model's start for seed s is neither random_orthogonal(d, seed=s) nor seed=s + 1 (the chapter's
    planted rotation), nor their reflections: the seed streams are spawned, not reused."""

    def close(A_, B_):
        return torch.allclose(A_, B_, atol=1e-4) or torch.allclose(A_, A.MuseAdversarialMap._reflect(B_), atol=1e-4)

    for s in range(4):
        start = A.MuseAdversarialMap(seed=s).start(d, orientations="both")
        for other in (A.random_orthogonal(d, seed=s), A.random_orthogonal(d, seed=s + 1)):
            assert not close(start[1], other) and not close(start[-1], other)
        assert abs(float(torch.linalg.det(start[1].double())) - 1.0) < 1e-5
        assert abs(float(torch.linalg.det(start[-1].double())) + 1.0) < 1e-5


def test_seed_streams_are_distinct_and_reproducible():
    a, b = A.seed_streams(5), A.seed_streams(5)
    draws = {k: torch.rand(4, generator=g) for k, g in a.items()}
    for k, g in b.items():
        assert torch.equal(draws[k], torch.rand(4, generator=g))
    values = list(draws.values())
    assert all(not torch.equal(values[i], values[j]) for i in range(len(values)) for j in range(i))
    assert not torch.equal(draws["start"], torch.rand(4, generator=torch.Generator().manual_seed(5)))


# ----------------------------------------------------------------------------------- orthogonalisation
def test_orthogonalize_step_hand_case_and_singular_values():
    """(e) One update W <- (1 + b) W - b W W^T W: by hand on a diagonal case, and for a general matrix every
    singular value s goes to (1 + b) s - b s^3 with the singular vectors kept (NumPy SVD)."""
    W = torch.tensor([[2.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    out = A.orthogonalize_step(W, beta=0.1)
    # 1.1 * 2 - 0.1 * 8 = 1.4;  1.1 * 0.5 - 0.1 * 0.125 = 0.5375
    np.testing.assert_allclose(out.numpy(), [[1.4, 0.0], [0.0, 0.5375]], rtol=1e-12)
    M = np.random.default_rng(0).standard_normal((4, 4))
    U, s, Vt = np.linalg.svd(M)
    b = 0.01
    expected = U @ np.diag((1 + b) * s - b * s**3) @ Vt
    np.testing.assert_allclose(A.orthogonalize_step(torch.tensor(M), b).numpy(), expected, atol=1e-12)
    # batched over a leading dimension, and an orthogonal matrix is a fixed point
    Q = A.random_orthogonal(4, seed=1).double()
    batch = torch.stack([torch.tensor(M), Q])
    out = A.orthogonalize_step(batch, b)
    np.testing.assert_allclose(out[0].numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(out[1].numpy(), Q.numpy(), atol=1e-12)


# ------------------------------------------------------------------------------------------- criterion
def _csls_criterion_numpy(Z, T, n_words, k):
    Zn = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    Tn = T / np.linalg.norm(T, axis=1, keepdims=True)
    S = Zn @ Tn.T  # (n, m) cosines, all mapped rows
    r_t = np.sort(S, axis=1)[:, ::-1][:, :k].mean(1)  # mean of each row's k best targets
    r_s = np.sort(S, axis=0)[::-1][:k].mean(0)  # mean of each target's k best mapped rows
    q = min(n_words, len(Z))
    csls = 2 * S[:q] - r_t[:q, None] - r_s[None, :]
    best = csls.argmax(1)
    return float((Zn[:q] * Tn[best]).sum(1).mean())


@pytest.mark.parametrize("n_words", [5, 12, 100])
def test_unsupervised_criterion_matches_numpy_csls(n_words):
    """(f) The mean cosine of the CSLS translations of the first n_words rows, against a direct NumPy computation
    (r_S over all mapped rows, as MUSE does)."""
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((12, 3))
    T = rng.standard_normal((10, 3))
    got = A.unsupervised_criterion(Z.astype(np.float32), T.astype(np.float32), n_words=n_words, k=3)
    assert got == pytest.approx(_csls_criterion_numpy(Z, T, n_words, 3), abs=1e-5)
    # a perfect map scores 1
    assert A.unsupervised_criterion(T, T, n_words=n_words, k=3) == pytest.approx(1.0, abs=1e-6)


def test_unsupervised_criterion_rejects_bad_input():
    with pytest.raises(ValueError, match="dimension"):
        A.unsupervised_criterion(np.ones((3, 2)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="n_words"):
        A.unsupervised_criterion(np.ones((3, 2)), np.ones((3, 2)), n_words=0)


# ------------------------------------------------------------------------------------------ discriminator
def test_batched_discriminator_hand_gradients_match_autograd():
    """The hand-written chain rule of ``bce_grads`` (used in training) equals autograd through ``forward``, with
    the same dropout masks (same generator state), for the parameters and the inputs."""
    g = torch.Generator().manual_seed(0)
    dis = A.BatchedMLPDiscriminator(2, 3, hidden=7, layers=2, generator=g).double()
    x = torch.randn(2, 6, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    y = torch.rand(2, 6, generator=g, dtype=torch.float64)
    for p_in, p_hid in ((0.0, 0.0), (0.2, 0.3)):
        loss, logits, grads, gx = dis.bce_grads(
            x.detach(), y, p_in, p_hid, torch.Generator().manual_seed(9), inputs=True
        )
        ref_logits = dis(x, p_in, p_hid, torch.Generator().manual_seed(9))
        ref = F.binary_cross_entropy_with_logits(ref_logits, y, reduction="none").mean(1)
        ref_grads = torch.autograd.grad(ref.sum(), list(dis.parameters()) + [x])
        torch.testing.assert_close(logits, ref_logits.detach())
        torch.testing.assert_close(loss, ref.detach())
        for a, b in zip(list(grads) + [gx], ref_grads):
            torch.testing.assert_close(a, b)


def test_batched_discriminator_models_are_independent():
    """Model b's output depends on slice b of the input only (the two orientations never mix)."""
    dis = A.BatchedMLPDiscriminator(2, 4, hidden=5, generator=torch.Generator().manual_seed(1))
    x = torch.randn(2, 8, 4, generator=torch.Generator().manual_seed(2))
    x2 = x.clone()
    x2[1] += 1.0
    with torch.no_grad():
        out, out2 = dis(x), dis(x2)
    torch.testing.assert_close(out[0], out2[0], rtol=0, atol=0)
    assert not torch.allclose(out[1], out2[1])


# ---------------------------------------------------------------------------------------------- interface
def test_transform_centres_and_maps():
    m, X, Y = _tiny(0)
    W = m.weight_
    torch.testing.assert_close(m.transform(X), (torch.tensor(X) - torch.tensor(X).mean(0)) @ W.T)
    torch.testing.assert_close(m.transform_target(Y), torch.tensor(Y) - torch.tensor(Y).mean(0))
    assert m.criterion_ == max(m.orientations_.values())
    assert torch.equal(W, m.candidates_[m.orientation_])


def test_errors():
    with pytest.raises(RuntimeError, match="fit"):
        A.MuseAdversarialMap().transform(np.ones((2, 2)))
    with pytest.raises(TypeError, match="unknown MuseConfig"):
        A.MuseAdversarialMap(stepz=3)
    with pytest.raises(ValueError, match="orientations"):
        A.MuseAdversarialMap().start(3, orientations="left")
    with pytest.raises(ValueError, match="equal dimensions"):
        A.MuseAdversarialMap(steps=1).fit(np.ones((4, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="init"):
        A.MuseAdversarialMap(steps=1).fit(np.eye(3), np.eye(3), init=np.eye(2))
