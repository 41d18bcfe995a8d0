"""No absence from silence: when a page may say "no difference", and what it says otherwise.

A difference whose interval includes zero was *not shown*; that is not evidence that there is none. With 3
seeds a real gain of 2 seed-σ is missed more often than it is seen, so "stops helping", "never helped",
"indistinguishable" and "no better" read from such an interval are wrong most of the time exactly where they
matter (issue 29: 44-56 % "stops helping" with DiffAugment truly helping at every size).

So a page says "no difference" only after an equivalence test against a stated margin: TOST (Schuirmann
1987), two one-sided tests that the true difference is above -margin and below +margin, each at the level
ALPHA / m for a family of m comparisons (Bonferroni: the equivalence claims of a page hold jointly at 95 %).
Equivalently, the one-sided (1 - ALPHA/m) bounds of the difference both lie inside ±margin. A claim about
several comparisons at once ("from 64 images on", "at every size") needs each of them to pass
(intersection-union: no further correction).

Otherwise the page says "not shown different at this size" and how large a difference it could have seen:
`detectable`, the true difference the comparison calls with 80 % power, ≈ (q + t_{0.80, d}) x SE, where q x SE
is the comparison's half-width at its tested level (normal-approximation power of the two-sided test).

The margin is `study.margin` in the objective's units; 0 (the default) means one seed-to-seed σ of a run
(the study's noise model, tuning/results/noise.py): a difference smaller than what re-running the same settings on
another seed typically changes is no difference a user can act on. Every page states the margin it used.
Nothing here imports Ray, Optuna or MLflow: dashboards use it too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from tuning.results.noise import NoiseModel
from tuning.results.objective import ALPHA, Comparison

POWER = 0.8


@dataclass(frozen=True)
class Margin:
    value: float            # in the objective's units; NaN: none could be set
    source: str             # what it is, for the page: "study.margin" or "one seed σ (...)"

    def text(self, metric: str) -> str:
        if not math.isfinite(self.value):
            return f"no equivalence margin ({self.source})"
        return f"equivalence margin ±{self.value:.3g} {metric} ({self.source})"


NO_MARGIN = Margin(math.nan, "no margin stated")


def margin_of(configured: float | None, sigma: float) -> Margin:
    """`study.margin` when set (> 0), else one seed σ of the study's noise model."""
    if configured is not None and math.isfinite(configured) and configured > 0:
        return Margin(float(configured), "study.margin")
    if math.isfinite(sigma) and sigma > 0:
        return Margin(float(sigma), "one seed-to-seed σ of a run; study.margin sets another")
    return Margin(math.nan, "seed noise not measured and study.margin not set")


def pooled_margin(configured: float | None, groups: dict, reference=None) -> Margin:
    """`study.margin` when set, else one seed σ pooled over a page's arms (`groups`: arm -> its objectives
    over seeds; tuning/results/noise.py, which falls back to `reference`'s own spread when the spreads differ)."""
    return margin_of(configured, NoiseModel.of(groups, reference).sigma if groups else math.nan)


def equivalent(c: Comparison, margin: Margin, alpha: float = ALPHA) -> bool:
    """TOST at alpha / family: both one-sided bounds of the difference inside ±margin."""
    if not (math.isfinite(margin.value) and math.isfinite(c.difference) and math.isfinite(c.se)):
        return False
    level = alpha / max(c.family, 1)
    q = float(stats.t.ppf(1 - level, c.dof)) if math.isfinite(c.dof) else float(stats.norm.ppf(1 - level))
    return abs(c.difference) + q * c.se < margin.value


def detectable(c: Comparison, power: float = POWER) -> float:
    """The true difference (either direction) this comparison calls with `power`, at its tested level."""
    if not (math.isfinite(c.se) and math.isfinite(c.half_width)) or c.se <= 0:
        return math.nan
    z = float(stats.t.ppf(power, c.dof)) if math.isfinite(c.dof) else float(stats.norm.ppf(power))
    return c.half_width + z * c.se


def no_difference_words(c: Comparison, margin: Margin, metric: str) -> str:
    """What a page says of a comparison not called better or worse."""
    if equivalent(c, margin):
        return f"equivalent: within ±{margin.value:.3g} {metric} (TOST)"
    could = detectable(c)
    seen = f"; could detect a difference of {could:.3g} or more" if math.isfinite(could) else ""
    return f"not shown different at this size{seen}"


def verdict_words(c: Comparison, margin: Margin, metric: str) -> str:
    """'better' / 'worse' / the equivalence or not-shown words; other verdicts (not enough seeds) as they are."""
    if c.verdict == "indistinguishable":
        return no_difference_words(c, margin, metric)
    return c.verdict


PER_COMPARISON = ("each interval is per comparison, at the level Holm tested it at (≥ 95 % on its own); they are "
                  "not simultaneous: together they cover all true differences less often than 95 % "
                  "(benchmarks/power.py measures it)")
