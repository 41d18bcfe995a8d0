"""Statistics for the report: per-arm summaries over seeds, verdicts against the full model, Pareto front."""
from __future__ import annotations

import math

import pandas as pd
from scipy import stats


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


def verdict(arm: dict, reference: dict, mode: str, metric: str, label: str) -> str:
    """'no identity: FID +7.1 ± 2.3, worse, 3 seeds' — difference of means with a Welch 95 % interval."""
    diff = arm["mean"] - reference["mean"]
    n1, n2 = int(arm["n"]), int(reference["n"])
    if n1 < 2 or n2 < 2:
        return f"{label}: {metric} {diff:+.3g}, too few seeds for a verdict ({n1} vs {n2})"
    v1, v2 = arm["std"] ** 2 / n1, reference["std"] ** 2 / n2
    se = math.sqrt(v1 + v2)
    dof = (v1 + v2) ** 2 / ((v1 ** 2 / (n1 - 1) if v1 else 0) + (v2 ** 2 / (n2 - 1) if v2 else 0)) if se else n1 + n2 - 2
    half = stats.t.ppf(0.975, dof) * se
    if abs(diff) <= half:
        word = "no clear difference"
    else:
        word = "worse" if (diff > 0) == (mode == "min") else "better"
    return f"{label}: {metric} {diff:+.3g} ± {half:.2g}, {word}, {min(n1, n2)} seeds"


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
