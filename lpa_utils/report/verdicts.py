"""Verdicts on the papers' claims: a paired effect, an interval for it, and a three-way rule.

A claim says that a method ("ours") beats a baseline. Both are scored on the same test items in each run (seed,
split or draw), so the comparison is paired: the effect is ``ours - base`` per run and per item, oriented so that
positive means the method is better (``higher_is_better=False`` flips it for errors) and scaled (``scale=100``:
0/1 hits or accuracies in [0, 1] become percentage points). :func:`assess` is the one entry point:

>>> v = assess(ours_hits, base_hits, paper_effect=3.7, margin=1.0, item_label="words")   # doctest: +SKIP
>>> v.text()                                                                               # doctest: +SKIP
'+2.1 pp [+0.9, +3.3] over 10 runs x 1500 words; paper +3.7; margin 1.0: reproduced'

What it is given decides the interval (``level`` = 95 % by default):

- items per run, ``(R, n)`` or a list of R 1-D arrays (a run may have its own test set): a hierarchical
  bootstrap over runs and test items (:func:`hierarchical_bootstrap`);
- one run of items, ``(1, n)`` or ``[items]``: the same bootstrap (over items only), and the p-value of the exact
  sign test on the paired differences (:func:`sign_test`), which for 0/1 items is McNemar's exact test;
- one value per run, ``(R,)`` (e.g. accuracies when item-level results are not kept): a bootstrap over runs, and a
  t-interval for comparison; one such run gives no interval ((-inf, +inf)).

The effect is the mean over runs of each run's mean difference (every run weighs the same, whatever its number
of items), the statistic the bootstrap resamples. With few runs (R < 5 or so) a percentile bootstrap over runs
is narrower than a t-interval (it treats the R runs seen as the whole population); the record keeps both.

The rule (:func:`verdict`), for an interval ``[low, high]`` of the effect, the paper's effect ``p`` (same units
and orientation) and an equivalence margin ``m >= 0`` (the largest effect that counts as "no effect", stated per
claim; for ``p != 0`` it must be smaller than ``|p|``), endpoints included in the interval:

- **reproduced**: the interval excludes 0 on the paper's side (``low > 0`` for ``p > 0``, ``high < 0`` for
  ``p < 0``) and does not lie inside ``[-m, m]``; a significant effect smaller or larger than the paper's still
  reproduces the claim's direction (the record shows both numbers);
- **not reproduced**: otherwise when the interval excludes ``p`` (on the wrong side of 0, or around 0 but short
  of ``p``), or lies inside the margin around 0 (``-m <= low`` and ``high <= m``: a real but negligible effect);
- **inconclusive**: the interval contains both 0 and ``p``.
- ``p == 0`` (the paper reports no difference): reproduced when the interval lies inside ``[-m, m]``
  (equivalence; with ``m == 0`` only ``[0, 0]``), not reproduced when it excludes 0, else inconclusive.
- ``p is None`` (the paper gives no figure): "no paper figure", no claim against the paper.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from lpa_utils.checks import positive_int

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
NO_PAPER = "no paper figure"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NO_PAPER)

_BLOCK = 1 << 22  # item-index draws per block of the item bootstrap (32 MiB of int64)
_FEW_VALUES = 16  # a run with n items and <= n / _FEW_VALUES distinct values is resampled by counts


class PairedEffect(NamedTuple):
    """``per_run`` (R,): each run's mean difference; ``effect``: their mean (the pooled effect)."""

    per_run: np.ndarray
    effect: float


class BootstrapInterval(NamedTuple):
    """Percentile interval ``[low, high]`` at ``level`` around ``estimate``; ``replicates`` (n_boot,)."""

    estimate: float
    low: float
    high: float
    level: float
    replicates: np.ndarray


class SignTest(NamedTuple):
    """Exact two-sided sign test: ``positive`` / ``negative`` differences (zeros dropped) and ``p_value``."""

    positive: int
    negative: int
    p_value: float


@dataclass(frozen=True)
class Verdict:
    """The record of one claim (effects in the effect's units, positive = the method better).

    ``effect`` and the interval ``[low, high]`` at ``level``; ``runs``; ``items``: paired test items over all runs
    (None without item-level data) and ``items_per_run`` when every run has the same number; ``paper``: the
    paper's effect (None: not in the paper); ``margin``; ``verdict`` (one of :data:`VERDICTS`); ``rule``: how
    the interval was obtained; ``p_value``: the exact sign / McNemar test of a single run; ``t_low``, ``t_high``:
    the t-interval over runs when only per-run values were given; ``unit`` and ``item_label`` for :meth:`text`.
    """

    effect: float
    low: float
    high: float
    level: float
    runs: int
    items: int | None
    items_per_run: int | None
    paper: float | None
    margin: float
    verdict: str
    rule: str
    p_value: float | None = None
    t_low: float | None = None
    t_high: float | None = None
    unit: str = "pp"
    item_label: str = "items"

    def as_dict(self) -> dict:
        """The fields as plain Python values (for a results record)."""
        return asdict(self)

    def text(self, digits: int = 1) -> str:
        """One line for the book: ``+1.3 pp [+0.1, +2.6] over 10 runs x 500 words; paper +3.7; margin 1.0:
        reproduced``."""
        f = lambda v: f"{v:+.{digits}f}"
        over = f"{self.runs} run{'' if self.runs == 1 else 's'}"
        if self.items_per_run is not None:
            over += f" x {self.items_per_run} {self.item_label}"
        elif self.items is not None:
            over += f", {self.items} {self.item_label} in all"
        if self.p_value is not None:
            over += f" (p = {self.p_value:.2g})"
        if self.t_low is not None:
            over += f" (t-interval [{f(self.t_low)}, {f(self.t_high)}])"
        paper = "not in the paper" if self.paper is None else f"paper {f(self.paper)}"
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"{f(self.effect)}{unit} [{f(self.low)}, {f(self.high)}] over {over}; {paper}; "
            f"margin {self.margin:.{digits}f}: {self.verdict}"
        )


# ---------------------------------------------------------------------------------------------------- checks


def _numeric(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x)
    except ValueError as e:  # ragged nesting numpy cannot stack
        raise ValueError(f"{name}: expected an (R, n) array, a list of R 1-D arrays or an (R,) array ({e})") from e
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name}: expected numbers, got dtype {a.dtype}")
    return a.astype(np.float64)


def _check_finite(a: np.ndarray, name: str) -> None:
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(
            f"{name} has {bad.size} NaN or infinite value(s) (first at position {bad[0]}); "
            "drop those items from both arrays"
        )


def _as_runs(x, name: str):
    """(R, n) array or list of R 1-D arrays -> list of R 1-D float64 arrays; (R,) array -> itself (float64)."""
    if isinstance(x, (list, tuple)) and len(x) and all(np.ndim(e) == 1 for e in x):
        runs = [_numeric(e, f"{name}[{r}]") for r, e in enumerate(x)]
    else:
        a = _numeric(x, name)
        if a.ndim == 1:
            _check_finite(a, name)
            return a
        if a.ndim != 2:
            raise ValueError(
                f"{name}: expected (R, n) items per run, a list of R 1-D arrays or (R,) values per "
                f"run, got shape {a.shape}"
            )
        if a.shape[0] == 0:
            raise ValueError(f"{name} is empty (shape {a.shape})")
        runs = list(a)
    for r, a in enumerate(runs):
        _check_finite(a, f"{name}[{r}]")
    return runs


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _margin(margin) -> float:
    m = _number(margin, "margin")
    if m < 0:
        raise ValueError(f"margin must be >= 0 (in the effect's units), got {m}")
    return m


def _level(level) -> float:
    lv = _number(level, "level")
    if not 0 < lv < 1:
        raise ValueError(f"level must lie in (0, 1), e.g. 0.95, got {lv}")
    return lv


def _pct(level: float) -> str:
    return f"{100 * level:g} %"


def _paired(ours, base, higher_is_better: bool, scale: float):
    """(the differences :func:`paired_differences` returns, whether every value of ``ours`` and ``base`` is 0/1)."""
    scale = _number(scale, "scale")
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    o, b = _as_runs(ours, "ours"), _as_runs(base, "base")
    sign = scale if higher_is_better else -scale
    if isinstance(o, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(o, np.ndarray) and isinstance(b, np.ndarray)) or o.shape != b.shape:
            shape = lambda v: v.shape if isinstance(v, np.ndarray) else f"{len(v)} runs of items"
            raise ValueError(f"base must match ours (paired): ours is {shape(o)}, base is {shape(b)}")
        binary = bool(np.isin(o, (0, 1)).all() and np.isin(b, (0, 1)).all())
        return sign * (o - b), binary
    if len(o) != len(b):
        raise ValueError(f"base must have as many runs as ours (paired): {len(o)} runs in ours, {len(b)} in base")
    for r, (x, y) in enumerate(zip(o, b)):
        if x.shape != y.shape:
            raise ValueError(
                f"base[{r}] must pair with ours[{r}] item by item: {x.size} items in ours, {y.size} in base"
            )
    binary = all(np.isin(x, (0, 1)).all() and np.isin(y, (0, 1)).all() for x, y in zip(o, b))
    return [sign * (x - y) for x, y in zip(o, b)], binary


def _run_means(diffs) -> np.ndarray:
    return diffs if isinstance(diffs, np.ndarray) else np.array([d.mean() for d in diffs])


# ---------------------------------------------------------------------------------------------- statistics


def paired_differences(ours, base, *, higher_is_better: bool = True, scale: float = 100.0):
    """``scale * (ours - base)`` per run and item (negated when ``higher_is_better`` is False).

    ``ours``, ``base``: ``(R, n)``, a list of R 1-D arrays (run ``r`` with its own ``n_r`` items, paired between
    the two), or ``(R,)`` values per run. Returns a list of R arrays ``(n_r,)``, or an array ``(R,)``: the input
    of :func:`hierarchical_bootstrap`.
    """
    return _paired(ours, base, higher_is_better, scale)[0]


def paired_effect(ours, base, *, higher_is_better: bool = True, scale: float = 100.0) -> PairedEffect:
    """Per-run effects ``(R,)`` (each run's mean paired difference) and the pooled effect (their mean).

    Inputs as in :func:`paired_differences`; positive = ``ours`` better; ``scale=100`` gives percentage points
    for 0/1 items or accuracies in [0, 1].
    """
    per_run = _run_means(paired_differences(ours, base, higher_is_better=higher_is_better, scale=scale))
    return PairedEffect(per_run, float(per_run.mean()))


def _item_means(d: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` bootstrap means of the items ``d`` (n,), each of n draws with replacement -> (count,)."""
    n = d.size
    values, counts = np.unique(d, return_counts=True)
    if _FEW_VALUES * values.size <= n:  # e.g. 0/1 hits (differences in {-1, 0, 1}): multinomial counts
        return rng.multinomial(n, counts / n, size=count) @ values / n
    out = np.empty(count)
    step = max(1, _BLOCK // n)
    for start in range(0, count, step):  # one block per run unless count * n > _BLOCK
        m = min(step, count - start)
        out[start : start + m] = d[rng.integers(0, n, size=(m, n))].mean(axis=1)
    return out


def hierarchical_bootstrap(diffs, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> BootstrapInterval:
    """Percentile interval for the mean over runs of each run's mean paired difference.

    ``diffs``: a list of R 1-D arrays ``(n_r,)`` or an ``(R, n)`` array (items per run, e.g. from
    :func:`paired_differences`), or an ``(R,)`` array of one value per run. Each replicate draws R runs with
    replacement, then, for every run drawn, its ``n_r`` items with replacement (an independent draw each time a
    run recurs), and takes the mean over the drawn runs of their item means. With ``(R,)`` values only runs are
    drawn (R = 1 gives the point itself); with one run only items. ``seed`` seeds a ``np.random.Generator``: the
    result is deterministic.

    Vectorised: one draw of the ``(n_boot, R)`` run choices, then per run all its item means at once, from
    multinomial counts over its distinct values when it has few (0/1 items), else from index draws.
    """
    level = _level(level)
    n_boot = positive_int(n_boot, "n_boot")
    d = _as_runs(diffs, "diffs")
    rng = np.random.default_rng(positive_int(seed, "seed", minimum=0))
    R = len(d)
    pick = rng.integers(0, R, size=(n_boot, R))
    if isinstance(d, np.ndarray):
        replicates = d[pick].mean(axis=1)
    else:
        means = np.empty(pick.shape)
        for r, dr in enumerate(d):
            where = pick == r
            means[where] = _item_means(dr, int(where.sum()), rng)
        replicates = means.mean(axis=1)
    low, high = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return BootstrapInterval(float(_run_means(d).mean()), float(low), float(high), level, replicates)


def sign_test(diffs) -> SignTest:
    """Exact two-sided sign test of paired differences ``(n,)`` of one run: zeros dropped, the positives
    ~ Binomial(positives + negatives, 1/2) under no effect (``scipy.stats.binomtest``; p = 1 with no non-zero
    difference). For 0/1 items the non-zero differences are the discordant pairs: McNemar's exact test."""
    d = _numeric(diffs, "diffs")
    if d.ndim != 1:
        raise ValueError(f"diffs: expected the (n,) differences of one run, got shape {d.shape}")
    _check_finite(d, "diffs")
    pos, neg = int((d > 0).sum()), int((d < 0).sum())
    p = 1.0 if pos + neg == 0 else float(stats.binomtest(pos, pos + neg, 0.5).pvalue)
    return SignTest(pos, neg, p)


def t_interval(values, *, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval for the mean of ``values`` (R,), R >= 2: mean -/+ t_{R-1} * sd / sqrt(R)."""
    level = _level(level)
    v = _numeric(values, "values")
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values: a t-interval needs an (R,) array with R >= 2, got shape {v.shape}")
    _check_finite(v, "values")
    half = stats.t.ppf((1 + level) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return float(v.mean() - half), float(v.mean() + half)


# ------------------------------------------------------------------------------------------------- verdict


def verdict(interval, paper_effect: float | None, margin: float) -> str:
    """The three-way verdict of the module's rule: "reproduced", "not reproduced" or "inconclusive" for the
    interval ``(low, high)`` of the effect, the paper's effect and the margin (both in the effect's units and
    orientation); "no paper figure" when ``paper_effect`` is None. Infinite endpoints are allowed (no interval).
    ``ValueError`` for ``low > high``, a NaN, ``margin < 0``, or ``margin >= |paper_effect| > 0``."""
    try:
        low, high = (float(v) for v in interval)
    except (TypeError, ValueError) as e:
        raise ValueError(f"interval must be a pair (low, high) of numbers, got {interval!r}") from e
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"interval must be (low, high) with low <= high and no NaN, got ({low}, {high})")
    m = _margin(margin)
    if paper_effect is None:
        return NO_PAPER
    p = _number(paper_effect, "paper_effect")
    inside = -m <= low and high <= m
    has_zero = low <= 0 <= high
    if p == 0:
        return REPRODUCED if inside else INCONCLUSIVE if has_zero else NOT_REPRODUCED
    if m >= abs(p):
        raise ValueError(
            f"margin ({m}) must be smaller than |paper_effect| ({abs(p)}): the paper's own effect "
            "would count as no effect"
        )
    if has_zero and low <= p <= high:
        return INCONCLUSIVE
    paper_side = low > 0 if p > 0 else high < 0
    return REPRODUCED if paper_side and not inside else NOT_REPRODUCED


def assess(
    ours,
    base,
    *,
    paper_effect: float | None,
    margin: float,
    higher_is_better: bool = True,
    scale: float = 100.0,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    unit: str | None = None,
    item_label: str = "items",
) -> Verdict:
    """The verdict record of one claim, "ours beats base", against the paper's effect.

    ``ours``, ``base``: paired results, ``(R, n)`` or a list of R 1-D arrays (items per run; 0/1 hits or
    per-item scores) or ``(R,)`` (one value per run); the interval follows from the shapes (module docstring).
    ``paper_effect``: the paper's effect in the same units and orientation (positive = the method better), None
    when the paper gives none; ``margin`` (>= 0, same units): the largest effect that counts as none.
    ``higher_is_better=False`` for errors; ``scale`` multiplies the differences (100: percentage points);
    ``unit`` defaults to "pp" for ``scale == 100`` and "" otherwise.
    """
    level = _level(level)
    margin = _margin(margin)
    diffs, binary = _paired(ours, base, higher_is_better, scale)
    runs = len(diffs)
    effect = float(_run_means(diffs).mean())
    items = items_per_run = p_value = t_low = t_high = None
    if isinstance(diffs, np.ndarray) and runs == 1:
        low, high, rule = -math.inf, math.inf, "one run without item-level data: no interval"
    else:
        bs = hierarchical_bootstrap(diffs, n_boot=n_boot, seed=seed, level=level)
        low, high = bs.low, bs.high
        if isinstance(diffs, np.ndarray):
            rule = f"bootstrap over runs (no item-level data), {_pct(level)}; t-interval for comparison"
            t_low, t_high = t_interval(diffs, level=level)
        else:
            sizes = {d.size for d in diffs}
            items, items_per_run = sum(d.size for d in diffs), (sizes.pop() if len(sizes) == 1 else None)
            if runs > 1:
                rule = f"hierarchical bootstrap over runs and test items, {_pct(level)}"
            else:
                test = "McNemar exact test" if binary else "exact sign test"
                rule = f"bootstrap over test items (one run), {_pct(level)}; {test}"
                p_value = sign_test(diffs[0]).p_value
    decided = verdict((low, high), paper_effect, margin)
    return Verdict(
        effect=effect,
        low=low,
        high=high,
        level=level,
        runs=runs,
        items=items,
        items_per_run=items_per_run,
        paper=None if paper_effect is None else float(paper_effect),
        margin=margin,
        verdict=decided,
        rule=rule,
        p_value=p_value,
        t_low=t_low,
        t_high=t_high,
        unit=("pp" if scale == 100 else "") if unit is None else unit,
        item_label=item_label,
    )


def worked_example() -> tuple[pd.DataFrame, Verdict]:
    """The rule on a small case, for the report page: three runs of 40 test words, P@1 hits (0/1) of a method and
    a baseline on the same words. Returns the per-run table (hits, the discordant words that decide the paired
    difference, the effect in percentage points) and the :class:`Verdict` against a paper effect of +10 pp with
    a 2 pp margin. Deterministic."""
    # per run: words both get right, only ours, only the baseline, neither
    counts = [(14, 7, 2, 17), (15, 6, 3, 16), (13, 8, 2, 17)]
    ours = [np.repeat([1, 1, 0, 0], c) for c in counts]
    base = [np.repeat([1, 0, 1, 0], c) for c in counts]
    v = assess(ours, base, paper_effect=10.0, margin=2.0, item_label="words")
    table = pd.DataFrame(
        {
            "run": [1, 2, 3],
            "words": [sum(c) for c in counts],
            "ours P@1 (%)": [100 * o.mean() for o in ours],
            "baseline P@1 (%)": [100 * b.mean() for b in base],
            "only ours right": [c[1] for c in counts],
            "only baseline right": [c[2] for c in counts],
            "effect (pp)": paired_effect(ours, base).per_run,
        }
    )
    return table, v


def claim_row(artefact: str, claim: str, v: Verdict, *, model: str | None = None, note: str | None = None) -> dict:
    """One row of a chapter's ``claims`` table (:mod:`lpa_utils.report.claims`) from a :class:`Verdict`.

    ``artefact``: a key of :data:`lpa_utils.report.papers.ARTEFACTS` (``"lpl.table1a"``); ``claim``: what the paper
    says, in words. The row carries the paper's effect, ours as one line (:meth:`Verdict.text` without the
    verdict), the verdict, and the record's fields (effect, interval, level, runs, items, margin, rule) so that the
    report and a second build can compare them. Every chapter builds its claims rows with this function."""
    fmt = lambda x: "not in the paper" if x is None else f"{x:+.1f} {v.unit}".strip()  # noqa: E731
    row = {
        "artefact": artefact,
        "claim": claim,
        "paper": fmt(v.paper),
        "ours": v.text().rsplit(":", 1)[0],
        "verdict": v.verdict,
        **{k: getattr(v, k) for k in ("effect", "low", "high", "level", "runs", "items", "margin", "rule")},
    }
    if model is not None:
        row["model"] = model
    if note is not None:
        row["note"] = note
    return row
