"""The alignment losses of the LPL paper (equation numbers from [ganesan2020lpl], book/references.bib).

- :func:`mse_loss` eq. 4: ``||f(m^s_i) - m^t_i||^2`` over the pairs of the training dictionary.
- :func:`lpl_loss` eq. 5: ``||m^t_i - sum_j W_ij f(m^s_j)||^2``: the target of a pair is reconstructed from the
  *mapped source neighbours* of its source word, with the LLE weights W of phase 1 (eq. 6) frozen.
- :func:`ortho_loss`: ``L_ortho = ||W W^T - I||_F^2`` (Xing et al. 2015), the soft orthogonality constraint.
- :func:`lpa_loss` eq. 7: ``L_sup = L_mse + beta * L_lpl + L_ortho``.
- :func:`nli_alignment_loss` eq. 8 (alignment part): ``gamma * sum_i delta_{y_i} (L^i_mse + L^i_lpl)`` with a delta
  per label; a negative delta makes the term a divergence, which the paper bounds by a threshold ("in practice,
  the negative loss has a threshold"): here each sample's term is floored at ``floor``.

All functions take torch tensors (NumPy is accepted and converted), keep autograd, and reduce by ``"mean"``
over pairs (default; the paper writes sums, which only rescale the learning rate), ``"sum"`` or ``"none"``.
"""

from __future__ import annotations

import torch

from lpa_utils.checks import as_tensor

REDUCTIONS = ("mean", "sum", "none")


def _t(x, like: torch.Tensor | None = None, name: str = "input") -> torch.Tensor:
    """Tensors pass through unchanged (autograd kept); arrays become tensors (float32, or ``like``'s float dtype
    and device) through :func:`lpa_utils.checks.as_tensor`."""
    if isinstance(x, torch.Tensor):
        return x
    t = as_tensor(x, name=name, device=None if like is None else like.device, dtype=None)
    if t.is_floating_point():
        return t.to(like.dtype if like is not None else torch.float32)
    return t


def _reduce(per_sample: torch.Tensor, reduction: str, name: str) -> torch.Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "none":
        return per_sample
    raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def mse_loss(mapped, target, reduction: str = "mean") -> torch.Tensor:
    """Eq. 4: per pair ``||f(m^s_i) - m^t_i||_2^2``, averaged over pairs (``reduction="mean"``).

    Args: mapped (p, d) = f(source vectors of the pairs); target (p, d) = the paired target vectors.
    Returns: scalar tensor (or (p,) with ``reduction="none"``). Note: the sum over d, mean over pairs — not
    ``torch.nn.functional.mse_loss``, which also averages over d.
    """
    mapped = _t(mapped, name="mse_loss: mapped")
    target = _t(target, like=mapped, name="mse_loss: target")
    if mapped.shape != target.shape or mapped.ndim != 2:
        raise ValueError(f"mse_loss: mapped {tuple(mapped.shape)} and target {tuple(target.shape)} must both be (p, d)")
    return _reduce((mapped - target).pow(2).sum(1), reduction, "mse_loss")


def lpl_loss(target, mapped_neighbours, W, reduction: str = "mean") -> torch.Tensor:
    """Eq. 5, locality preserving loss: per pair ``||m^t_i - sum_j W_ij f(m^s_j)||_2^2``, W frozen.

    Args:
        target: (p, d) target vectors m^t_i of the pairs.
        mapped_neighbours: (p, k, d) the mapped source neighbours f(m^s_j), j in N_k(m^s_i).
        W: (p, k) LLE weights of phase 1 (eq. 6; rows sum to one). Detached: no gradient flows into W.
    Returns: scalar tensor (or (p,) with ``reduction="none"``).
    """
    mapped_neighbours = _t(mapped_neighbours, name="lpl_loss: mapped_neighbours")
    target = _t(target, like=mapped_neighbours, name="lpl_loss: target")
    W = _t(W, like=mapped_neighbours, name="lpl_loss: W").detach().to(mapped_neighbours.dtype)
    if mapped_neighbours.ndim != 3:
        raise ValueError(f"lpl_loss: mapped_neighbours must be (p, k, d), got {tuple(mapped_neighbours.shape)}")
    p, k, d = mapped_neighbours.shape
    if target.shape != (p, d):
        raise ValueError(f"lpl_loss: target must be ({p}, {d}) to match mapped_neighbours, got {tuple(target.shape)}")
    if W.shape != (p, k):
        raise ValueError(f"lpl_loss: W must be ({p}, {k}) to match mapped_neighbours, got {tuple(W.shape)}")
    recon = torch.bmm(W.unsqueeze(1), mapped_neighbours).squeeze(1)  # (p, d) = sum_j W_ij f(m_j)
    return _reduce((target - recon).pow(2).sum(1), reduction, "lpl_loss")


def ortho_loss(weight) -> torch.Tensor:
    """``L_ortho = ||W W^T - I||_F^2`` for a (d_out, d_in) weight matrix.

    For a non-square matrix the constraint is semi-orthogonality on the smaller side: ``W W^T = I_{d_out}`` when
    d_out <= d_in (orthonormal rows), else ``W^T W = I_{d_in}`` (orthonormal columns), since a rank-d_in product
    cannot equal I_{d_out}. Returns a scalar tensor.
    """
    weight = _t(weight, name="ortho_loss: weight")
    if weight.ndim != 2:
        raise ValueError(f"ortho_loss: weight must be (d_out, d_in), got {tuple(weight.shape)}")
    d_out, d_in = weight.shape
    gram = weight @ weight.T if d_out <= d_in else weight.T @ weight
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return (gram - eye).pow(2).sum()


def lpa_loss(
    mapped,
    target,
    mapped_neighbours=None,
    W=None,
    *,
    beta: float = 1.0,
    weight=None,
    ortho: float = 1.0,
    reduction: str = "mean",
    return_parts: bool = False,
):
    """Eq. 7: ``L_sup = L_mse + beta * L_lpl + ortho * L_ortho`` (the paper uses ``ortho = 1``).

    Args:
        mapped: (p, d) f(m^s_i); target: (p, d) m^t_i.
        mapped_neighbours: (p, k, d) f(m^s_j) of the source neighbours; W: (p, k) frozen LLE weights. Both None
            (or beta = 0) drops the LPL term.
        beta: weight of LPL; weight: the (d_out, d_in) matrix of a linear f for L_ortho (None drops the term);
        ortho: weight of L_ortho.
        return_parts: also return ``{"mse", "lpl", "ortho", "total"}`` (detached floats).
    Returns: the scalar total (and the parts dict if ``return_parts``).
    """
    total = mse_loss(mapped, target, reduction=reduction)
    parts = {"mse": float(total.detach().sum()) if reduction != "none" else None, "lpl": 0.0, "ortho": 0.0}
    if beta != 0 and (mapped_neighbours is not None or W is not None):
        if mapped_neighbours is None or W is None:
            raise ValueError("lpa_loss: LPL needs both mapped_neighbours and W (or beta=0)")
        lpl = lpl_loss(target, mapped_neighbours, W, reduction=reduction)
        total = total + beta * lpl
        parts["lpl"] = float(lpl.detach().sum()) if reduction != "none" else None
    if weight is not None and ortho != 0:
        o = ortho_loss(weight)
        total = total + ortho * o
        parts["ortho"] = float(o.detach())
    if return_parts:
        parts["total"] = float(total.detach().sum()) if reduction != "none" else None
        return total, parts
    return total


def nli_alignment_loss(
    per_sample_align, labels, delta, gamma: float = 1.0, floor: float | None = -1.0, reduction: str = "mean"
) -> torch.Tensor:
    """Eq. 8, alignment part: ``gamma * reduce_i max(delta_{y_i} * a_i, floor)``.

    Args:
        per_sample_align: (n,) ``a_i = L^i_mse + L^i_lpl`` (e.g. ``mse_loss(..., reduction="none")`` plus
            ``lpl_loss(..., reduction="none")``), non-negative.
        labels: (n,) int labels in ``[0, len(delta))`` (SNLI: 0 entailment, 1 neutral, 2 contradiction).
        delta: (n_labels,) one scalar per label: positive aligns premise and hypothesis, negative pushes them
            apart (a divergence). The paper uses 100 (entailment), -5 (neutral), 1 (contradiction).
        gamma: overall weight of the alignment term.
        floor: lower bound (<= 0) of each sample's term ``delta_{y_i} a_i``, the paper's "threshold" that stops a
            negative delta from driving the loss to minus infinity: once ``delta a_i <= floor`` the sample's
            gradient is zero. ``None`` disables it (unbounded below for a negative delta).
    Returns: scalar tensor (or (n,) with ``reduction="none"``).
    """
    a = _t(per_sample_align, name="nli_alignment_loss: per_sample_align")
    labels = _t(labels, name="nli_alignment_loss: labels")
    delta = _t(delta, like=a, name="nli_alignment_loss: delta").to(device=a.device, dtype=a.dtype)
    if a.ndim != 1:
        raise ValueError(f"nli_alignment_loss: per_sample_align must be (n,), got {tuple(a.shape)}")
    if labels.shape != a.shape:
        raise ValueError(
            f"nli_alignment_loss: labels {tuple(labels.shape)} must match per_sample_align {tuple(a.shape)}"
        )
    if labels.is_floating_point():
        raise TypeError("nli_alignment_loss: labels must be integers (label ids)")
    if delta.ndim != 1:
        raise ValueError(f"nli_alignment_loss: delta must be (n_labels,), got {tuple(delta.shape)}")
    labels = labels.to(device=a.device, dtype=torch.int64)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= delta.shape[0]):
        raise ValueError(
            f"nli_alignment_loss: labels must be in [0, {delta.shape[0]}) to index delta, "
            f"got [{int(labels.min())}, {int(labels.max())}]"
        )
    term = delta[labels] * a
    if floor is not None:
        if floor > 0:
            raise ValueError(
                f"nli_alignment_loss: floor must be <= 0 (a lower bound for divergence terms), got {floor}"
            )
        term = torch.clamp(term, min=float(floor))
    return gamma * _reduce(term, reduction, "nli_alignment_loss")
