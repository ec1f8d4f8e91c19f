"""Generated parts of the reproduction report: the verdict rule on a worked example, and the two-build check.

:func:`verdict_rule_markdown` renders :func:`lpa_utils.report.verdicts.worked_example`; :func:`stability_markdown`
compares the verdicts of this build with those of a second build of the verdict-bearing chapters run with another
``base_seed`` (``make stability`` writes it to :data:`SECOND_BUILD`), via :mod:`tools.compare_verdicts`.
"""

from __future__ import annotations

from pathlib import Path

from lpa_utils.config import REPO_ROOT as ROOT
from lpa_utils.report.tables import md_table
from lpa_utils.report.verdicts import REPRODUCED, worked_example
from tools import compare_verdicts
from tools.paths import results_dir

#: Where ``make stability`` puts the results of the second build (chapters 01, 03, 04, 05 with base_seed 1).
SECOND_BUILD = ROOT / "book" / "results-base-seed-1"


def verdict_rule_markdown() -> str:
    """The worked example: the per-run table and the verdict line it gives."""
    table, v = worked_example()
    return (
        md_table(table, floatfmt=".1f")
        + f"\n\nPaired effect and interval: **{v.text()}** ({v.rule})."
        + (
            " The interval lies above 0 on the paper's side and outside the margin, so the claim is reproduced, "
            "although the effect is not the paper's exactly.\n"
            if v.verdict == REPRODUCED and v.low > v.margin
            else "\n"
        )
    )


def stability_markdown(profile: str = "full", first: Path | None = None, second: Path = SECOND_BUILD) -> str:
    """The verdicts of this build beside a second build's (another base seed), or how to make that build."""
    first = Path(first) if first is not None else results_dir()
    if not any(Path(second).glob("*.json")):
        return (
            "This build has no second build to compare with. `make stability` runs the chapters that give verdicts "
            f"again with `base_seed = 1` into `{Path(second).relative_to(ROOT)}` and rebuilds this page, which then "
            "lists every claim with both verdicts.\n"
        )
    m = compare_verdicts.compare(
        compare_verdicts.claims_of(first, profile), compare_verdicts.claims_of(Path(second), profile)
    )
    return (
        "The chapters that give verdicts were run twice, with `base_seed = 0` (this build) and `base_seed = 1` "
        "(every run redraws its split, subsets, initialisation and batch order). "
        + compare_verdicts.markdown(m, "base seed 0", "base seed 1")
    )
