"""The time budget of ``make book`` (issue 17): each step's budget per profile, the line the build prints after a
step, the estimate of what is left, and the JSON the Performance page reads (:mod:`tools.pages`)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from lpa_utils.io import atomic_path
from tools.paths import results_dir

#: the build step after the chapters: ``python -m tools.bench`` and ``python -m tools.scaling``
BENCH_STEP = "bench+scaling"


# -- time budget ---------------------------------------------------------------------------------------------

#: seconds each step of ``make book`` should take on the 2-core reference machine, per profile (issue 17): the
#: build prints each step's time against its budget and an estimate of what is left, warns (never fails) when a
#: step runs over, and writes both to ``budget[.smoke].json`` for the Performance page
BUDGETS: dict[str, dict[str, float]] = {
    "full": {
        "01_manifolds": 90,
        "02_lle_weights": 30,
        "03_word_alignment": 420,
        "04_nli_regularisation": 420,
        "05_adversarial_autoencoder": 300,
        BENCH_STEP: 150,
    },
    "smoke": {
        "01_manifolds": 15,
        "02_lle_weights": 10,
        "03_word_alignment": 60,
        "04_nli_regularisation": 60,
        "05_adversarial_autoencoder": 45,
        BENCH_STEP: 45,
    },
}


def fmt_duration(seconds: float) -> str:
    """``"42 s"``, ``"5 min 12 s"``, ``"7 min"``, ``"1 h 3 min"`` (rounded to the second)."""
    total = int(round(max(0.0, float(seconds))))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    if m:
        return f"{m} min {s} s" if s else f"{m} min"
    return f"{s} s"


def step_label(step: str) -> str:
    """``"03_word_alignment"`` -> ``"chapter 03"``; other steps keep their name."""
    head = step.split("_", 1)[0]
    return f"chapter {head}" if head.isdigit() else step


def estimate_left(done: dict[str, float], todo: list[str], budgets: dict[str, float]) -> float:
    """Seconds the steps ``todo`` should still take: their budgets scaled by this machine's pace so far (measured
    over budgeted time of the steps ``done``, kept within [0.5, 3] so that one odd step does not swing it)."""
    spent = sum(done.values())
    planned = sum(budgets.get(k, 0.0) for k in done)
    pace = min(3.0, max(0.5, spent / planned)) if spent > 0 and planned > 0 else 1.0
    return pace * sum(budgets.get(k, 0.0) for k in todo)


def budget_line(step: str, seconds: float, budget: float | None, left: float | None) -> str:
    """The line the build prints after a step, e.g. ``"chapter 03: 5 min 12 s (budget 7 min) — about 12 min
    left"``; a step over its budget gets a ``WARNING`` line after it (a warning, not a failure)."""
    line = f"{step_label(step)}: {fmt_duration(seconds)}"
    if budget:
        line += f" (budget {fmt_duration(budget)})"
    if left is not None:
        line += " — done" if left <= 0 else f" — about {fmt_duration(left)} left"
    if budget and seconds > budget:
        line += (
            f"\n    WARNING: {step_label(step)} ran {fmt_duration(seconds - budget)} over its budget of "
            f"{fmt_duration(budget)} ({seconds / budget:.1f}x); see the Performance page"
        )
    return line


def budget_table(measured: dict[str, float], budgets: dict[str, float]) -> list[dict]:
    """Rows ``{"step", "label", "budget_s", "seconds", "ratio", "over"}`` for every budgeted or measured step."""
    rows = []
    for step in list(budgets) + [k for k in measured if k not in budgets]:
        sec, bud = measured.get(step), budgets.get(step)
        rows.append(
            {
                "step": step,
                "label": step_label(step),
                "budget_s": bud,
                "seconds": None if sec is None else round(sec, 1),
                "ratio": None if sec is None or not bud else round(sec / bud, 2),
                "over": None if sec is None or not bud else bool(sec > bud),
            }
        )
    return rows


def write_budget(profile: str, measured: dict[str, float], directory: Path | None = None) -> Path:
    """Write ``budget[.smoke].json`` (the measured times and budgets of this build) for the Performance page."""
    budgets = BUDGETS.get(profile, {})
    doc = {
        "profile": profile,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "total_s": round(sum(measured.values()), 1),
        "total_budget_s": sum(budgets.values()),
        "steps": budget_table(measured, budgets),
    }
    out = Path(directory or results_dir()) / f"budget{'' if profile == 'full' else '.' + profile}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return out
