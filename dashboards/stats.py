"""Statistics for the report: per-arm summaries over seeds, paired ablation verdicts, the Pareto front.

What counts as a real difference is decided in one place, `tuning.results.objective` (the noise rule): this
module only arranges the numbers it needs.
"""
from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from tuning.results.equivalence import NO_MARGIN, Margin, verdict_words
from tuning.results.objective import Comparison, compare, holm, paired_difference


def summarize(values) -> dict:
    """n, mean, sample std and the 95 % t-interval half-width of a list of numbers."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    n = len(values)
    mean = sum(values) / n if n else math.nan
    std = pd.Series(values).std(ddof=1) if n > 1 else math.nan
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    return {"n": n, "mean": mean, "std": std, "ci95": half}


def arm_table(table: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """One row per configuration (the searched factors), summarising the objective over its seeds."""
    rows = []
    for key, group in table.groupby(factors, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(factors, key)), **summarize(group["objective"].tolist())})
    return pd.DataFrame(rows)


def against_reference(done: pd.DataFrame, floor, mode: str) -> list:
    """Each complete trial against the reference settings (runs of the reference itself included, unjudged
    by the page), the trials other than the reference corrected as one family (tuning.results.objective.holm)."""
    # a configuration's mean over n seeds (dashboards.runs.by_configuration) is compared as such
    seeds = [int(r["seeds"]) if "seeds" in r and r["seeds"] == r["seeds"] else 1 for _, r in done.iterrows()]
    single = [compare(r["objective"], r["objective_se"] if n == 1 else None, floor, mode, n)
              for (_, r), n in zip(done.iterrows(), seeds)]
    others = [i for i, (_, r) in enumerate(done.iterrows()) if not r["baseline"]]
    corrected = holm([single[i] for i in others], mode)
    for i, c in zip(others, corrected):
        single[i] = c
    return single


def paired_verdict(arm: pd.DataFrame, reference: pd.DataFrame, mode: str) -> tuple[Comparison, int]:
    """Arm against its reference arm, seed by seed: (the paired comparison, the number of shared seeds)."""
    a = arm.groupby("seed")["objective"].mean()
    r = reference.groupby("seed")["objective"].mean()
    shared = a.index.intersection(r.index)
    return paired_difference((a[shared] - r[shared]).tolist(), mode), len(shared)


def verdict_text(label: str, metric: str, comparison: Comparison, seeds: int, dropped: int = 0,
                 margin: Margin = NO_MARGIN) -> str:
    """'no identity: FID +2.1, 95 % interval [1.2, 3.0], worse (paired over 3 seeds)'; a comparison corrected
    for a family of m says so: 'per-comparison interval (Holm level, 15 comparisons) [..]'; a difference not
    called is 'equivalent' only by TOST against `margin`, else 'not shown different' with what it could have
    detected (tuning/results/equivalence.py); seeds that finished in only one of the two arms are named as left out."""
    gone = f"; {dropped} seed(s) left out: finished in only one of the two arms" if dropped else ""
    if comparison.verdict == "not enough seeds":
        return (f"{label}: {metric} {comparison.difference:+.3g}, not enough seeds for a verdict "
                f"({seeds} shared, at least 3 needed{gone})")
    low, high = comparison.difference - comparison.half_width, comparison.difference + comparison.half_width
    word = verdict_words(comparison, margin, metric)
    level = ("95 % interval" if comparison.family <= 1
             else f"per-comparison interval (Holm level, {comparison.family} comparisons)")
    return (f"{label}: {metric} {comparison.difference:+.3g}, {level} [{low:.3g}, {high:.3g}], {word} "
            f"(paired over {seeds} seeds{gone})")


def pareto_front(table: pd.DataFrame, quality: str, cost: str, mode: str = "min") -> pd.DataFrame:
    """Rows not dominated in (quality, cost): no other trial is at least as good in both and better in one."""
    data = table.dropna(subset=[quality, cost])
    sign = 1 if mode == "min" else -1
    keep = []
    for i, row in data.iterrows():
        dominated = ((sign * data[quality] <= sign * row[quality]) & (data[cost] <= row[cost])
                     & ((sign * data[quality] < sign * row[quality]) | (data[cost] < row[cost]))).any()
        if not dominated:
            keep.append(i)
    return data.loc[keep].sort_values(cost)
