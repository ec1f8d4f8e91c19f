"""lpa_utils.maths.losses: hand-worked values, autograd against finite differences (gradcheck, float64), W frozen."""

import numpy as np
import pytest
import torch

from lpa_utils.maths.losses import lpa_loss, lpl_loss, mse_loss, nli_alignment_loss, ortho_loss


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mse_hand_worked():
    mapped = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    target = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    # pair 1: 0 + 4 = 4; pair 2: 9 + 16 = 25
    assert mse_loss(mapped, target).item() == pytest.approx(14.5)
    assert mse_loss(mapped, target, reduction="sum").item() == pytest.approx(29.0)
    assert mse_loss(mapped, target, reduction="none").tolist() == [4.0, 25.0]
    # differs from torch's elementwise mean by the factor d
    assert mse_loss(mapped, target).item() == pytest.approx(2 * torch.nn.functional.mse_loss(mapped, target).item())


def test_lpl_hand_worked():
    target = torch.tensor([[1.0, 1.0]])
    neigh = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]]])
    W = torch.tensor([[0.0, 0.5, 0.5]])
    assert lpl_loss(target, neigh, W).item() == pytest.approx(0.0)  # exact reconstruction
    W = torch.tensor([[1.0, 0.0, 0.0]])
    assert lpl_loss(target, neigh, W).item() == pytest.approx(2.0)  # ||(1,1) - (0,0)||^2


def test_lpl_equals_loop_definition():
    p, k, d = 7, 4, 5
    t = torch.randn(p, d, generator=_g(1), dtype=torch.float64)
    nb = torch.randn(p, k, d, generator=_g(2), dtype=torch.float64)
    W = torch.rand(p, k, generator=_g(3), dtype=torch.float64)
    W = W / W.sum(1, keepdim=True)
    ref = np.mean(
        [np.sum((t[i].numpy() - sum(W[i, j].item() * nb[i, j].numpy() for j in range(k))) ** 2) for i in range(p)]
    )
    assert lpl_loss(t, nb, W).item() == pytest.approx(ref, rel=1e-12)


def test_lpl_gradcheck_and_W_frozen():
    p, k, d = 4, 3, 5
    t = torch.randn(p, d, generator=_g(4), dtype=torch.float64, requires_grad=True)
    nb = torch.randn(p, k, d, generator=_g(5), dtype=torch.float64, requires_grad=True)
    W = torch.rand(p, k, generator=_g(6), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: lpl_loss(a, b, W), (t, nb))
    lpl_loss(t, nb, W).backward()
    assert W.grad is None  # frozen: no gradient reaches W
    # gradient through a linear map f(x) = x A^T, as in training
    A = torch.randn(d, d, generator=_g(7), dtype=torch.float64, requires_grad=True)
    src = torch.randn(p, k, d, generator=_g(8), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda A_: lpl_loss(t.detach(), src @ A_.T, W.detach()), (A,))


def test_mse_and_ortho_gradcheck():
    a = torch.randn(5, 3, generator=_g(9), dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, 3, generator=_g(10), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: mse_loss(x, b), (a,))
    M = torch.randn(3, 4, generator=_g(11), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ortho_loss, (M,))


def test_ortho_zero_for_orthogonal_and_hand_value():
    Q, _ = torch.linalg.qr(torch.randn(6, 6, generator=_g(12), dtype=torch.float64))
    assert ortho_loss(Q).item() == pytest.approx(0.0, abs=1e-20)
    assert ortho_loss(Q[:4]).item() == pytest.approx(0.0, abs=1e-20)  # orthonormal rows (4, 6)
    assert ortho_loss(Q[:, :4]).item() == pytest.approx(0.0, abs=1e-20)  # orthonormal columns (6, 4)
    # 2 I: (4 - 1)^2 per diagonal entry
    assert ortho_loss(2 * torch.eye(3)).item() == pytest.approx(27.0)


def test_lpa_is_sum_of_parts():
    p, k, d = 6, 3, 4
    m = torch.randn(p, d, generator=_g(13))
    t = torch.randn(p, d, generator=_g(14))
    nb = torch.randn(p, k, d, generator=_g(15))
    W = torch.full((p, k), 1 / k)
    A = torch.randn(d, d, generator=_g(16))
    total, parts = lpa_loss(m, t, nb, W, beta=0.7, weight=A, ortho=1.0, return_parts=True)
    expect = mse_loss(m, t) + 0.7 * lpl_loss(t, nb, W) + ortho_loss(A)
    assert total.item() == pytest.approx(expect.item(), rel=1e-6)
    assert parts["total"] == pytest.approx(parts["mse"] + 0.7 * parts["lpl"] + parts["ortho"], rel=1e-6)
    assert lpa_loss(m, t, nb, W, beta=0.0).item() == pytest.approx(mse_loss(m, t).item())
    assert lpa_loss(m, t).item() == pytest.approx(mse_loss(m, t).item())
    with pytest.raises(ValueError, match="both"):
        lpa_loss(m, t, nb, None, beta=1.0)


def test_nli_alignment_hand_worked_and_floor():
    a = torch.tensor([1.0, 2.0, 3.0, 10.0], requires_grad=True)
    labels = torch.tensor([0, 1, 2, 1])
    delta = torch.tensor([100.0, -5.0, 1.0])
    # terms: 100, -10, 3, -50; floor -20 -> 100, -10, 3, -20; gamma 0.5, mean -> 0.5 * 73 / 4
    loss = nli_alignment_loss(a, labels, delta, gamma=0.5, floor=-20.0)
    assert loss.item() == pytest.approx(0.5 * 73 / 4)
    loss.backward()
    # the floored sample gets no gradient: it cannot be pushed further apart
    np.testing.assert_allclose(a.grad.numpy(), [0.5 * 100 / 4, 0.5 * -5 / 4, 0.5 / 4, 0.0])
    unfloored = nli_alignment_loss(a.detach(), labels, delta, gamma=0.5, floor=None, reduction="sum")
    assert unfloored.item() == pytest.approx(0.5 * 43)


def test_negative_delta_bounded_below():
    a = torch.logspace(0, 8, 9)
    labels = torch.ones(9, dtype=torch.int64)
    losses = nli_alignment_loss(a, labels, torch.tensor([1.0, -5.0, 1.0]), floor=-100.0, reduction="none")
    assert losses.min().item() == -100.0


def test_bad_input():
    with pytest.raises(ValueError, match="must both be"):
        mse_loss(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="W must be"):
        lpl_loss(torch.zeros(3, 2), torch.zeros(3, 4, 2), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="labels must be in"):
        nli_alignment_loss(torch.ones(2), torch.tensor([0, 3]), torch.ones(3))
    with pytest.raises(ValueError, match="floor"):
        nli_alignment_loss(torch.ones(2), torch.tensor([0, 1]), torch.ones(3), floor=1.0)
    with pytest.raises(ValueError, match="reduction"):
        mse_loss(torch.zeros(3, 2), torch.zeros(3, 2), reduction="avg")
