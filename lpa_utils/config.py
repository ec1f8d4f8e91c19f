"""Where things live, which profile runs, which device computes, and seeding.

Every notebook has a papermill ``parameters`` cell with ``profile = None``; ``resolve_profile`` turns that
into ``"full"`` (what the book shows) or ``"smoke"`` (tiny sizes, seconds per notebook, used by nbval in CI).
The environment variable ``LPA_PROFILE`` sets the profile when the parameter is left at ``None``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("full", "smoke")


def data_dir() -> Path:
    """Cache directory for downloaded and derived data: ``$LPA_DATA`` or ``<repo>/data/cache`` (git-ignored)."""
    return Path(os.environ.get("LPA_DATA") or REPO_ROOT / "data" / "cache")


#: where ``make book`` (``python -m tools.book``) keeps the book's own results files
BOOK_RESULTS = REPO_ROOT / "book" / "results"


def results_dir() -> Path:
    """Where a chapter writes its results file: ``$LPA_RESULTS_DIR``, else ``lpa_results/`` in the working directory
    (beside the output notebook of a ``papermill`` run). Only the book build sets it to :data:`BOOK_RESULTS`, so a
    chapter rerun on other data never overwrites the book's results."""
    return Path(os.environ.get("LPA_RESULTS_DIR") or Path.cwd() / "lpa_results")


def resolve_profile(profile: str | None = None) -> str:
    """Return ``"full"`` or ``"smoke"``: the argument if given, else ``$LPA_PROFILE``, else ``"full"``."""
    value = profile or os.environ.get("LPA_PROFILE") or "full"
    if value not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {value!r} (from the parameter or LPA_PROFILE)")
    return value


def resolve_device(device: str | None = None):
    """``"cpu"``, ``"cuda"``, ``"cuda:1"`` ... or ``None``/``"auto"`` (CUDA when available) -> ``torch.device``."""

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for but CUDA is not available on this machine; use 'cpu'")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so that a rerun on the CPU gives the same numbers."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def torch_generator(seed: int, device=None):
    """A seeded ``torch.Generator`` (on ``device``) for code that must not touch the global RNG."""

    g = torch.Generator(device=device if device is not None else "cpu")
    g.manual_seed(int(seed))
    return g
