"""lpa_utils.report.verdicts: the rule by hand, the bootstrap against a loop and closed forms, SciPy's tests."""

import json
import math
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from lpa_utils.report.verdicts import (
    INCONCLUSIVE,
    NO_PAPER,
    NOT_REPRODUCED,
    REPRODUCED,
    VERDICTS,
    Verdict,
    assess,
    hierarchical_bootstrap,
    paired_differences,
    paired_effect,
    sign_test,
    t_interval,
    verdict,
    worked_example,
)


def pairs(both, only_ours, only_base, neither):
    """One run of 0/1 hits (ours, base) with the given counts of the 2 x 2 table."""
    counts = (both, only_ours, only_base, neither)
    return np.repeat([1, 1, 0, 0], counts), np.repeat([1, 0, 1, 0], counts)


def runs_of(*tables):
    """(ours, base) as lists of runs, one 2 x 2 table per run."""
    ours, base = zip(*(pairs(*t) for t in tables))
    return list(ours), list(base)


def loop_bootstrap(runs, n_boot, seed):
    """The hierarchical bootstrap written plainly: a loop over replicates, runs and items (the reference)."""
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for b in range(n_boot):
        picked = rng.integers(0, len(runs), len(runs))
        out[b] = np.mean([runs[r][rng.integers(0, runs[r].size, runs[r].size)].mean() for r in picked])
    return out


def closed_form(runs):
    """Mean and variance of the hierarchical bootstrap statistic: the mean of R i.i.d. draws M, where M picks a run
    uniformly and averages n_r items drawn from it, so Var M = Var_r(m_r) + mean_r(s_r^2 / n_r) (ddof=0)."""
    m = np.array([r.mean() for r in runs])
    var_m = m.var() + np.mean([r.var() / r.size for r in runs])
    return m.mean(), var_m / len(runs)


# ----------------------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    "interval, paper, margin, expected",
    [
        # paper +3.7, margin 1
        ((2.0, 5.0), 3.7, 1.0, REPRODUCED),  # excludes 0, contains the paper's effect
        ((0.5, 2.6), 3.7, 1.0, REPRODUCED),  # excludes 0 on the paper's side, smaller than the paper's effect
        ((5.0, 8.0), 3.7, 1.0, REPRODUCED),  # larger than the paper's
        ((-0.5, 4.0), 3.7, 1.0, INCONCLUSIVE),  # contains 0 and +3.7
        ((0.0, 3.7), 3.7, 1.0, INCONCLUSIVE),  # endpoints belong to the interval
        ((-2.0, 3.0), 3.7, 1.0, NOT_REPRODUCED),  # contains 0, excludes +3.7
        ((0.0, 2.0), 3.7, 1.0, NOT_REPRODUCED),  # 0 is an endpoint: not excluded
        ((-0.5, 0.8), 3.7, 1.0, NOT_REPRODUCED),  # inside the margin around 0
        ((0.2, 0.9), 3.7, 1.0, NOT_REPRODUCED),  # significant but inside the margin: negligible
        ((-1.0, 1.0), 3.7, 1.0, NOT_REPRODUCED),  # the margin is closed
        ((-3.0, -1.0), 3.7, 1.0, NOT_REPRODUCED),  # the wrong side
        # a negative paper effect (e.g. the method is worse in the paper)
        ((-3.0, -1.0), -2.0, 0.5, REPRODUCED),
        ((-2.5, 0.3), -2.0, 0.5, INCONCLUSIVE),
        ((-1.0, 1.0), -2.0, 0.5, NOT_REPRODUCED),
        ((1.0, 3.0), -2.0, 0.5, NOT_REPRODUCED),
        # the paper reports no difference: equivalence within the margin
        ((-0.5, 0.8), 0.0, 1.0, REPRODUCED),
        ((0.2, 3.0), 0.0, 1.0, NOT_REPRODUCED),
        ((-0.5, 2.0), 0.0, 1.0, INCONCLUSIVE),
        ((0.0, 0.0), 0.0, 0.0, REPRODUCED),
        ((-0.1, 0.1), 0.0, 0.0, INCONCLUSIVE),
        # no interval at all (one run, no items)
        ((-math.inf, math.inf), 3.7, 1.0, INCONCLUSIVE),
        # not in the paper
        ((2.0, 5.0), None, 1.0, NO_PAPER),
        ((-math.inf, math.inf), None, 0.0, NO_PAPER),
    ],
)
def test_verdict_hand_worked(interval, paper, margin, expected):
    assert verdict(interval, paper, margin) == expected


@given(st.floats(-50, 50), st.floats(0, 20), st.floats(-50, 50), st.floats(0, 10))
def test_verdict_is_symmetric_under_a_sign_flip(low, width, paper, margin):
    """Flipping the orientation (interval and paper effect negated) never changes the verdict."""
    if paper != 0 and margin >= abs(paper):
        margin = abs(paper) / 2
    interval = (low, low + width)
    v = verdict(interval, paper, margin)
    assert v in VERDICTS[:3]
    assert verdict((-interval[1], -interval[0]), -paper, margin) == v


@pytest.mark.parametrize(
    "args, match",
    [
        (((1.0, 0.0), 3.7, 1.0), "interval"),
        (((math.nan, 1.0), 3.7, 1.0), "interval"),
        ((1.0, 3.7, 1.0), "interval"),
        (((0.0, 1.0), 3.7, -0.5), "margin"),
        (((0.0, 1.0), 3.7, math.nan), "margin"),
        (((0.0, 1.0), math.nan, 1.0), "paper_effect"),
        (((0.0, 1.0), 3.7, 3.7), "margin"),  # the paper's own effect would count as none
    ],
)
def test_verdict_errors(args, match):
    with pytest.raises((ValueError, TypeError), match=match):
        verdict(*args)


# ------------------------------------------------------------------------------------------- the effect


def test_paired_effect_hand_worked():
    ours = [[1, 1, 0, 1], [0, 1, 1, 1]]
    base = [[1, 0, 0, 0], [0, 1, 0, 1]]
    per_run, effect = paired_effect(ours, base)
    np.testing.assert_allclose(per_run, [50.0, 25.0])
    assert effect == pytest.approx(37.5)
    # runs of different sizes weigh the same: (2/3 + 0/1) / 2
    per_run, effect = paired_effect([[1, 1, 0], [1]], [[0, 0, 0], [1]], scale=1.0)
    np.testing.assert_allclose(per_run, [2 / 3, 0.0])
    assert effect == pytest.approx(1 / 3)
    # errors: lower is better, so a lower error for ours is a positive effect
    per_run, effect = paired_effect([0.1, 0.2, 0.15], [0.3, 0.35, 0.3], higher_is_better=False, scale=1.0)
    np.testing.assert_allclose(per_run, [0.2, 0.15, 0.15])
    d = paired_differences([[1, 0]], [[0, 1]], higher_is_better=False)
    np.testing.assert_allclose(d[0], [-100.0, 100.0])


# ----------------------------------------------------------------------------------------- the bootstrap

RNG = np.random.default_rng(12345)
TINY = {
    "continuous, runs of 5, 7 and 4 items": [RNG.normal(m, 1.0, n) for m, n in [(0.5, 5), (1.5, 7), (0.0, 4)]],
    "0/1 pairs (multinomial counts), 3 runs": [
        100.0 * RNG.choice([-1, 0, 1], size=n, p=[0.2, 0.5, 0.3]) for n in (60, 80, 70)
    ],
    "one value per run": RNG.normal(2.0, 1.0, 6),
}


@pytest.mark.parametrize("name", list(TINY))
def test_bootstrap_matches_a_loop_and_the_closed_form(name):
    data = TINY[name]
    runs = [np.array([v]) for v in data] if isinstance(data, np.ndarray) else data
    n_boot = 20_000
    bs = hierarchical_bootstrap(data, n_boot=n_boot, seed=1)
    ref = loop_bootstrap(runs, 5000, seed=2)
    mean, var = closed_form(runs)
    sd = math.sqrt(var)
    assert bs.estimate == pytest.approx(mean)
    assert bs.replicates.shape == (n_boot,)
    assert bs.replicates.mean() == pytest.approx(mean, abs=0.05 * sd)  # MC error ~0.01 sd
    assert bs.replicates.var() == pytest.approx(var, rel=0.05)  # MC error ~1 %
    assert ref.var() == pytest.approx(var, rel=0.08)  # the reference agrees too (~2 %)
    q = [0.025, 0.975]
    np.testing.assert_allclose([bs.low, bs.high], np.quantile(ref, q), atol=0.2 * sd)  # MC error ~0.05 sd
    np.testing.assert_allclose([bs.low, bs.high], np.quantile(bs.replicates, q))


def test_bootstrap_single_run_matches_the_normal_approximation():
    ours, base = pairs(1500, 700, 500, 2300)  # 5000 words, effect +4 pp
    d = paired_differences([ours], [base])
    bs = hierarchical_bootstrap(d, n_boot=4000, seed=0, level=0.9)
    mean, sd = d[0].mean(), d[0].std() / math.sqrt(d[0].size)
    half = stats.norm.ppf(0.95) * sd
    assert bs.estimate == pytest.approx(4.0)
    assert bs.low == pytest.approx(mean - half, abs=0.08 * half)
    assert bs.high == pytest.approx(mean + half, abs=0.08 * half)


def test_bootstrap_is_deterministic_for_a_seed():
    data = TINY["continuous, runs of 5, 7 and 4 items"]
    a, b = hierarchical_bootstrap(data, seed=7), hierarchical_bootstrap(data, seed=7)
    np.testing.assert_array_equal(a.replicates, b.replicates)
    assert (a.low, a.high) == (b.low, b.high)
    assert not np.array_equal(a.replicates, hierarchical_bootstrap(data, seed=8).replicates)
    ours, base = runs_of((10, 5, 2, 13), (12, 4, 4, 10))
    assert assess(ours, base, paper_effect=5.0, margin=1.0) == assess(ours, base, paper_effect=5.0, margin=1.0)


def test_bootstrap_is_fast():
    """R = 10 runs x n = 1500 items x 2000 replicates: 0/1 hits (counts) and continuous items (index draws)."""
    rng = np.random.default_rng(0)
    hits = paired_differences(rng.random((10, 1500)) < 0.45, rng.random((10, 1500)) < 0.42)
    for data in (hits, rng.normal(size=(10, 1500))):
        start = time.perf_counter()
        hierarchical_bootstrap(data, n_boot=2000)
        assert time.perf_counter() - start < 5.0  # ~0.02 s and ~0.6 s on a shared 2-core machine


# ----------------------------------------------------------------------------------- one run: exact tests


def test_mcnemar_against_binomtest_by_hand():
    ours, base = pairs(30, 12, 4, 20)  # discordant pairs b = 12, c = 4
    v = assess([ours], [base], paper_effect=5.0, margin=1.0, item_label="words")
    # two-sided exact: 2 * P(X >= 12), X ~ Bin(16, 1/2) = 2 * (1820 + 560 + 120 + 16 + 1) / 2 ** 16
    assert v.p_value == pytest.approx(2 * 2517 / 2**16)
    assert v.p_value == pytest.approx(stats.binomtest(12, 16, 0.5).pvalue)
    assert sign_test(ours.astype(float) - base) == (12, 4, pytest.approx(v.p_value))
    assert "McNemar" in v.rule and "one run" in v.rule
    assert (v.runs, v.items, v.items_per_run) == (1, 66, 66)
    assert v.effect == pytest.approx(100 * 8 / 66)
    assert sign_test([0.0, 0.0]).p_value == 1.0  # no discordant pair


def test_sign_test_hand_worked():
    d = np.array([1.5, 2.0, -0.3, 0.0, 4.0, 0.7])  # 4 positive, 1 negative, the zero dropped
    # 2 * P(X >= 4), X ~ Bin(5, 1/2) = 2 * (5 + 1) / 32
    assert sign_test(d) == (4, 1, pytest.approx(0.375))
    v = assess([d + 1.0], [np.ones(6)], paper_effect=1.0, margin=0.5, scale=1.0)
    assert v.p_value == pytest.approx(0.375)
    assert "exact sign test" in v.rule and v.unit == ""


# ------------------------------------------------------------------------------------- assess, end to end


@pytest.mark.parametrize(
    "tables, paper, margin, expected",
    [
        # 4 runs x 400 words, +10 pp in every run: interval about [+8, +12]
        ([(150, 60, 20, 170)] * 4, 8.0, 1.0, REPRODUCED),
        ([(150, 60, 20, 170)] * 4, 15.0, 1.0, REPRODUCED),  # a smaller, clear effect in the paper's direction
        # 4 runs x 2000 words, no effect: interval about [-0.2, +0.2], inside the margin
        ([(800, 10, 10, 1180)] * 4, 3.7, 1.0, NOT_REPRODUCED),
        ([(800, 10, 10, 1180)] * 4, 0.0, 1.0, REPRODUCED),  # the paper reports no difference
        # 4 runs x 400 words, -10 pp: the wrong side
        ([(150, 20, 60, 170)] * 4, 3.7, 1.0, NOT_REPRODUCED),
        # 2 runs x 30 words, +6.7 pp: interval about [-4, +17] contains 0 and the paper's effect
        ([(10, 4, 2, 14)] * 2, 3.7, 1.0, INCONCLUSIVE),
        ([(10, 4, 2, 14)] * 2, None, 1.0, NO_PAPER),
    ],
)
def test_assess_gives_each_verdict(tables, paper, margin, expected):
    ours, base = runs_of(*tables)
    v = assess(ours, base, paper_effect=paper, margin=margin, item_label="words")
    assert v.verdict == expected
    assert v.verdict == verdict((v.low, v.high), paper, margin)
    b, c, n = tables[0][1], tables[0][2], sum(tables[0])
    assert v.effect == pytest.approx(100 * (b - c) / n)
    assert v.low <= v.effect <= v.high
    assert (v.runs, v.items, v.items_per_run) == (len(tables), len(tables) * n, n)
    assert v.rule == "hierarchical bootstrap over runs and test items, 95 %"
    assert v.p_value is None and v.t_low is None


def test_assess_runs_of_different_sizes():
    ours, base = runs_of((100, 30, 10, 60), (50, 20, 5, 25), (200, 40, 25, 135))
    v = assess(ours, base, paper_effect=5.0, margin=1.0, item_label="words")
    assert (v.runs, v.items, v.items_per_run) == (3, 200 + 100 + 400, None)
    assert v.effect == pytest.approx(100 * np.mean([20 / 200, 15 / 100, 15 / 400]))
    assert "3 runs, 700 words in all" in v.text()


def test_assess_runs_only_bootstrap_and_t_interval():
    ours = np.array([0.62, 0.64, 0.61, 0.65, 0.63])  # per-run accuracies, no item-level results
    base = np.array([0.60, 0.61, 0.60, 0.61, 0.60])
    v = assess(ours, base, paper_effect=2.0, margin=0.5)
    d = 100 * (ours - base)
    assert v.effect == pytest.approx(d.mean())
    assert (v.runs, v.items, v.items_per_run) == (5, None, None)
    assert "bootstrap over runs" in v.rule and "no item-level data" in v.rule
    assert (v.t_low, v.t_high) == pytest.approx(t_interval(d))
    # t_{4, 0.975} = 2.776 from the table
    half = 2.776 * d.std(ddof=1) / math.sqrt(5)
    assert (v.t_low, v.t_high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-3)
    assert v.low >= d.min() and v.high <= d.max()  # the mean of resampled runs stays within their range
    assert "t-interval" in v.text()


def test_t_interval_hand_worked():
    half = 4.303 / math.sqrt(3)  # t_{2, 0.975} = 4.303, sd = 1
    assert t_interval([1.0, 2.0, 3.0]) == pytest.approx((2 - half, 2 + half), abs=1e-3)


def test_assess_one_run_without_items_has_no_interval():
    v = assess([0.30], [0.20], paper_effect=5.0, margin=1.0)
    assert v.effect == pytest.approx(10.0)
    assert (v.low, v.high) == (-math.inf, math.inf)
    assert v.verdict == INCONCLUSIVE and "no interval" in v.rule


def test_assess_errors_lower_is_better():
    ours = np.array([0.10, 0.12, 0.11, 0.09])  # per-run errors of the method
    base = np.array([0.20, 0.25, 0.22, 0.21])
    v = assess(ours, base, paper_effect=0.08, margin=0.01, higher_is_better=False, scale=1.0)
    assert v.effect == pytest.approx(0.115)
    assert v.verdict == REPRODUCED and v.unit == ""


def test_verdict_record_text_and_dict():
    v = Verdict(
        effect=1.3,
        low=0.1,
        high=2.6,
        level=0.95,
        runs=10,
        items=5000,
        items_per_run=500,
        paper=3.7,
        margin=1.0,
        verdict=REPRODUCED,
        rule="hierarchical bootstrap over runs and test items, 95 %",
        item_label="words",
    )
    assert v.text() == "+1.3 pp [+0.1, +2.6] over 10 runs x 500 words; paper +3.7; margin 1.0: reproduced"
    d = v.as_dict()
    assert {"effect", "low", "high", "level", "runs", "items", "paper", "margin", "verdict", "rule", "p_value"} <= set(
        d
    )
    json.dumps(d)
    ours, base = pairs(30, 12, 4, 20)
    one = assess([ours], [base], paper_effect=None, margin=1.0, item_label="words")
    assert one.text().startswith("+12.1 pp [") and "over 1 run x 66 words (p = 0.077); not in the paper" in one.text()
    assert all(isinstance(x, (int, float, str, type(None))) for x in one.as_dict().values())


def test_worked_example_is_deterministic_and_consistent():
    table, v = worked_example()
    table2, v2 = worked_example()
    assert table.equals(table2) and v == v2
    assert len(table) == 3 and v.runs == 3 and v.items_per_run == 40
    assert v.effect == pytest.approx(table["effect (pp)"].mean())
    np.testing.assert_allclose(
        table["effect (pp)"], 100 * (table["only ours right"] - table["only baseline right"]) / table["words"]
    )
    np.testing.assert_allclose(table["effect (pp)"], table["ours P@1 (%)"] - table["baseline P@1 (%)"])
    assert v.verdict == verdict((v.low, v.high), v.paper, v.margin) == REPRODUCED


# ----------------------------------------------------------------------------------------------- errors

GOOD = np.zeros((2, 3))


@pytest.mark.parametrize(
    "ours, base, kwargs, error, match",
    [
        (GOOD, np.zeros((2, 4)), {}, ValueError, "base"),  # items differ
        (GOOD, np.zeros((3, 3)), {}, ValueError, "base"),  # runs differ
        ([np.zeros(3), np.zeros(4)], [np.zeros(3), np.zeros(5)], {}, ValueError, r"base\[1\]"),
        (GOOD, np.zeros(2), {}, ValueError, "base"),  # items vs one value per run
        (np.zeros(3), np.zeros(4), {}, ValueError, "base"),
        (np.array([[0.0, np.nan, 1.0], [0, 0, 0]]), GOOD, {}, ValueError, r"ours\[0\].*NaN"),
        (GOOD, [[0, 0, 0], [0, np.inf, 0]], {}, ValueError, r"base\[1\].*infinite"),
        ([0.1, np.nan], [0.1, 0.2], {}, ValueError, "ours.*NaN"),
        ([], [], {}, ValueError, "ours.*empty"),
        (np.zeros((0, 3)), np.zeros((0, 3)), {}, ValueError, "ours.*empty"),
        ([np.zeros(3), np.zeros(0)], [np.zeros(3), np.zeros(0)], {}, ValueError, r"ours\[1\].*empty"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), {}, ValueError, "ours.*shape"),
        (["a", "b"], [0, 1], {}, TypeError, "ours"),
        (GOOD, GOOD, {"margin": -1.0}, ValueError, "margin"),
        (GOOD, GOOD, {"level": 1.0}, ValueError, "level"),
        (GOOD, GOOD, {"level": 0.0}, ValueError, "level"),
        (GOOD, GOOD, {"n_boot": 0}, ValueError, "n_boot"),
        (GOOD, GOOD, {"scale": 0.0}, ValueError, "scale"),
        (GOOD, GOOD, {"paper_effect": math.nan}, ValueError, "paper_effect"),
    ],
)
def test_assess_errors_name_the_argument(ours, base, kwargs, error, match):
    kw = {"paper_effect": 3.7, "margin": 1.0} | kwargs
    with pytest.raises(error, match=match):
        assess(ours, base, **kw)


def test_bootstrap_errors_name_the_argument():
    with pytest.raises(ValueError, match="level"):
        hierarchical_bootstrap(GOOD, level=1.5)
    with pytest.raises(ValueError, match="diffs.*empty"):
        hierarchical_bootstrap([])
    with pytest.raises(ValueError, match="diffs.*NaN"):
        hierarchical_bootstrap([np.array([1.0, np.nan])])
    with pytest.raises(ValueError, match="diffs"):
        sign_test(GOOD)
    with pytest.raises(ValueError, match="values"):
        t_interval([1.0])


def test_claim_row_carries_the_record():
    from lpa_utils.report.verdicts import claim_row, worked_example

    _, v = worked_example()
    row = claim_row("lpl.table1a", "LPA beats MSE", v, model="LPA", note="n")
    assert row["verdict"] == v.verdict and row["low"] == v.low and row["high"] == v.high
    assert row["runs"] == 3 and row["items"] == 120 and row["paper"] == "+10.0 pp"
    assert "reproduced" not in row["ours"] and row["ours"].startswith("+11.7 pp [")
    none = claim_row("lpl.table1a", "c", v.__class__(**{**v.as_dict(), "paper": None}))
    assert none["paper"] == "not in the paper" and "model" not in none
