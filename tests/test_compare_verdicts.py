"""Two builds' verdicts compared: kept, shifted (to or from inconclusive) and flipped claims."""

from __future__ import annotations

import pandas as pd

from lpa_utils.report.results import Results
from tools import compare_verdicts as cv


def _build(directory, verdicts):
    res = Results("03_word_alignment", profile="smoke", directory=directory)
    rows = [
        {"artefact": "lpl.table1a", "claim": f"claim {i}", "verdict": v, "effect": 1.0 + i, "low": 0.5, "high": 2.0}
        for i, v in enumerate(verdicts)
    ]
    res.add_table("claims", pd.DataFrame(rows))
    res.save()


def test_flips_and_shifts_are_told_apart(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _build(a, ["reproduced", "reproduced", "inconclusive", "not reproduced"])
    _build(b, ["reproduced", "not reproduced", "not reproduced", "not reproduced"])
    m = cv.compare(cv.claims_of(a, "smoke"), cv.claims_of(b, "smoke"))
    assert list(m["change"]) == ["", "flip", "shift", ""]
    assert cv.summary(m).startswith("4 claims in both builds: 2 kept their verdict, 1 moved")
    assert cv.main([str(a), str(b), "--profile", "smoke", "--markdown", str(tmp_path / "t.md")]) == 1
    assert "| claim 1 |" in (tmp_path / "t.md").read_text()
    assert cv.main([str(a), str(a), "--profile", "smoke"]) == 0
