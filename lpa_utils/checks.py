"""Input validation shared by every layer: arrays to tensors, shapes, finiteness, index pairs, counts, words.

Every public function of :mod:`lpa_utils` converts and checks its inputs here, so that a bad argument gives the
same kind of error wherever it enters, naming the argument (``name``) and what was expected:

- :func:`as_tensor`   NumPy array / list / tensor -> torch tensor (numeric dtypes only); tensors keep autograd.
- :func:`as_matrix`   the same, then a non-empty 2-D (n, d) matrix, finite unless ``finite=False``.
- :func:`as_pairs`    (p, 2) integer rows (source row, target row) inside both vocabularies.
- :func:`positive_int` a count that must be an integer >= ``minimum``.
- :func:`whole_number` the same, also accepting an integral float (``5e3`` from papermill or YAML) and ``None``.
- :func:`word_rows_strict` rows of query words in a vocabulary; an error naming the missing words.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from lpa_utils.config import resolve_device


def device_of(device) -> torch.device:
    """``torch.device`` passes through; anything else goes through :func:`lpa_utils.config.resolve_device`."""
    return device if isinstance(device, torch.device) else resolve_device(device)


def infer_device(device, *tensors) -> torch.device:
    """``device`` if given, else the device of the first tensor among ``tensors``, else the CPU."""
    if device is not None:
        return device_of(device)
    for t in tensors:
        if isinstance(t, torch.Tensor):
            return t.device
    return torch.device("cpu")


def as_tensor(x, *, name: str = "X", device=None, dtype=torch.float32, detach: bool = False) -> torch.Tensor:
    """NumPy array / list / tensor -> torch tensor of ``dtype`` (``None``: keep) on ``device``.

    A tensor keeps its device when ``device`` is None (and its autograd graph unless ``detach``); anything else
    goes to ``resolve_device(device)``. Non-numeric input (strings, objects) raises ``TypeError`` naming ``name``.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach() if detach else x
        t = t if device is None else t.to(device_of(device))
    else:
        arr = np.asarray(x)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr)
        if not arr.flags.writeable:  # e.g. Arrow-backed pandas columns; torch wants writable memory
            arr = arr.copy()
        t = torch.from_numpy(arr).to(device_of(device))
    return t if dtype is None else t.to(dtype)


def check_matrix(X: torch.Tensor, name: str, *, min_rows: int = 1, finite: bool = True) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``X`` is 2-D with >= ``min_rows`` rows, >= 1 column and (if
    ``finite``) no NaN or infinite entry; the message gives the first offending rows."""
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d), got shape {tuple(X.shape)}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(X.shape)})")
    if X.shape[0] < min_rows:
        raise ValueError(f"{name}: needs at least {min_rows} row(s), got shape {tuple(X.shape)}")
    # one cheap reduction first (a NaN / inf anywhere makes the sum non-finite); rows are located only if needed
    if (
        finite
        and X.is_floating_point()
        and not bool(torch.isfinite(X.sum(dtype=torch.float64)))
        and not bool(torch.isfinite(X).all())
    ):
        bad = torch.nonzero(~torch.isfinite(X).all(dim=1)).flatten()
        rows = ", ".join(str(int(r)) for r in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ValueError(
            f"{name} has {len(bad)} rows with NaN or infinite values (rows {rows}); clean or drop them first"
        )


def as_matrix(
    x, name: str = "X", device=None, *, dtype=torch.float32, min_rows: int = 1, finite: bool = True, detach: bool = True
) -> torch.Tensor:
    """:func:`as_tensor` then :func:`check_matrix`: a checked (n, d) tensor of ``dtype`` on ``device``."""
    t = as_tensor(x, name=name, device=device, dtype=dtype, detach=detach)
    check_matrix(t, name, min_rows=min_rows, finite=finite)
    return t


def as_pairs(pairs, n_src: int, n_tgt: int, name: str, device=None) -> torch.Tensor:
    """(p, 2) integer rows (source row, target row) -> int64 tensor (p, 2) on ``device``.

    Accepts a NumPy array, a tensor, a list of pairs or a DataFrame of rows. Checks the shape, that the values
    are integers and that every source row is in ``[0, n_src)`` and every target row in ``[0, n_tgt)``.
    """
    if pairs is None:
        raise ValueError(f"{name}: pairs are required ((p, 2) integer rows (source row, target row))")
    if hasattr(pairs, "to_numpy"):  # a DataFrame of rows
        pairs = pairs.to_numpy()
    t = torch.as_tensor(np.asarray(pairs) if not isinstance(pairs, torch.Tensor) else pairs)
    if t.ndim != 2 or t.shape[1] != 2 or t.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty (p, 2) array of (source row, target row), got shape {tuple(t.shape)}"
        )
    if t.is_floating_point():
        raise TypeError(f"{name} must hold integer rows, got dtype {t.dtype}")
    t = t.to(device=device_of(device), dtype=torch.int64)
    if int(t[:, 0].min()) < 0 or int(t[:, 0].max()) >= n_src:
        raise ValueError(
            f"{name}: source rows must lie in [0, {n_src}), got [{int(t[:, 0].min())}, "
            f"{int(t[:, 0].max())}] (words missing from the vocabulary must be dropped first)"
        )
    if int(t[:, 1].min()) < 0 or int(t[:, 1].max()) >= n_tgt:
        raise ValueError(
            f"{name}: target rows must lie in [0, {n_tgt}), got [{int(t[:, 1].min())}, {int(t[:, 1].max())}]"
        )
    return t


def positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int, or ``ValueError`` naming ``name`` when it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def whole_number(value, name: str, minimum: int = 0, *, allow_none: bool = False) -> int | None:
    """``value`` as an int >= ``minimum``: an integer, or a float with an integral value (``5e3``, ``2000.0``, as
    papermill parameters and YAML give them); ``None`` passes through when ``allow_none``. Anything else (a bool, a
    string, ``2.5``, NaN, a value below ``minimum``) raises ``TypeError`` / ``ValueError`` naming ``name``."""
    if value is None and allow_none:
        return None
    want = f"an integer >= {minimum}" + (" or None" if allow_none else "")
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        value = int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {want}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {want}, got {value}")
    return int(value)


def word_rows_strict(words: Sequence[str], queries: Sequence[str], caller: str) -> np.ndarray:
    """Rows of ``queries`` in ``words`` (shape (len(queries),)); ``KeyError`` naming the missing words."""
    pos = {w: i for i, w in enumerate(words)}
    missing = [q for q in queries if q not in pos]
    if missing:
        raise KeyError(f"{caller}: {missing} not in the vocabulary given ({len(words)} words)")
    return np.array([pos[q] for q in queries])
