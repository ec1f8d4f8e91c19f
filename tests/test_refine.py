"""Self-learning refinement: the fast mutual-CSLS dictionary against the plain one, and the refinement loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lpa_utils.align import Procrustes
from lpa_utils.align.refine import SelfLearning, mutual_csls_pairs, mutual_nn_pairs


@pytest.mark.parametrize("block", [7, 64, 4096])
def test_mutual_csls_matches_the_dense_reference(block):
    g = torch.Generator().manual_seed(0)
    A, B, W = torch.randn(300, 12, generator=g), torch.randn(350, 40, generator=g), torch.randn(12, 40, generator=g)
    fast = mutual_csls_pairs(A, B, W, k=5, block=block)
    # independent reference: the full CSLS matrix in numpy, argmax both ways
    Z = (A @ W).numpy()
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    T = B.numpy() / np.linalg.norm(B.numpy(), axis=1, keepdims=True)
    S = Z @ T.T
    r_t = np.sort(S, axis=1)[:, -5:].mean(1)
    r_s = np.sort(S, axis=0)[-5:, :].mean(0)
    fwd = (2 * S - r_s[None, :]).argmax(1)
    bwd = (2 * S - r_t[:, None]).argmax(0)
    ref = np.array([(i, j) for i, j in enumerate(fwd) if bwd[j] == i])
    assert len(fast) > 20 and np.array_equal(fast, ref)
    assert np.array_equal(fast, mutual_nn_pairs(A @ W, B, method="csls", k=5))


def test_self_learning_recovers_a_rotation_from_few_seed_pairs():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 16)).astype(np.float32)
    R = np.linalg.qr(rng.normal(size=(16, 16)))[0]
    Y = (X @ R + 0.05 * rng.normal(size=X.shape)).astype(np.float32)
    seed = np.stack([np.arange(12), np.arange(12)], 1)  # 12 pairs in 16-d: Procrustes alone is far off
    alone = Procrustes().fit(X, Y, seed)
    refined = SelfLearning(n_iter=5, n_words=2000).fit(X, Y, seed)
    err = lambda al: float(np.linalg.norm(np.asarray(al.W_) - R))  # noqa: E731
    assert err(refined) < 0.05 and err(alone) > 1.0
    assert refined.history_[0]["pairs"] == 12 and refined.history_[-1]["pairs"] == 2000
