"""One noise model per study: the seed-to-seed spread of a run, from every repeated observation it holds.

A configuration run on several seeds (the reference's `baseline_seeds`, a configuration of a study with
`study.seeds > 1`, a confirmation's candidates and reference, earlier launches of the same history) tells
how much a run's objective moves when only the seed changes. The model pools them: the within-configuration
variance

    s^2 = sum_g sum_i (x_gi - mean_g)^2 / sum_g (n_g - 1),   degrees of freedom sum_g (n_g - 1),

so a study whose reference ran 3 seeds and whose confirmation ran 3 configurations on 8 seeds judges with
2 + 3 x 7 = 23 degrees of freedom instead of 2.

Pooling assumes the configurations are about equally noisy, and they need not be (the tuner-check grid: seed
SD from 0.02 to 0.32 FID between cells). So the model checks first (Bartlett's test of equal variances, at
HETEROGENEITY_LEVEL): when the groups' spreads differ beyond chance it refuses to pool and falls back to the
reference's own spread (its own degrees of freedom), and says why. Where a paired comparison exists
(the confirmation race, ablation arms) each comparison uses its own pairs instead (tuning/results/race.py says why).
Nothing here imports Ray, Optuna or MLflow: dashboards use it too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

HETEROGENEITY_LEVEL = 0.05   # Bartlett's p below this: spreads differ, no pooling


@dataclass(frozen=True)
class NoiseModel:
    sigma: float            # seed-to-seed SD of one run's objective (NaN: not measured)
    dof: int                # its degrees of freedom
    groups: int             # repeated configurations it rests on
    pooled: bool            # False: the reference's own spread (one group, or pooling refused)
    note: str = ""          # why it did not pool, if it did not

    @classmethod
    def of(cls, groups: dict, reference_key=None) -> "NoiseModel":
        """`groups`: configuration key -> objectives of its runs on distinct seeds (finite values only count).
        `reference_key`: the reference settings' key, the fallback when pooling is refused."""
        clean = {k: [float(v) for v in vs if v is not None and math.isfinite(float(v))] for k, vs in groups.items()}
        repeated = {k: vs for k, vs in clean.items() if len(vs) >= 2}
        if not repeated:
            return cls(math.nan, 0, 0, False, "no configuration ran on two seeds yet")
        dof = sum(len(vs) - 1 for vs in repeated.values())
        ss = sum(sum((x - sum(vs) / len(vs)) ** 2 for x in vs) for vs in repeated.values())
        pooled = cls(math.sqrt(ss / dof), dof, len(repeated), len(repeated) > 1)
        if len(repeated) == 1 or not all(_spread(vs) > 0 for vs in repeated.values()):
            return pooled
        p = float(stats.bartlett(*repeated.values()).pvalue)
        if p >= HETEROGENEITY_LEVEL:
            return pooled
        note = (f"seed noise differs between configurations (Bartlett p = {p:.2g} over {len(repeated)} "
                "configurations), so it is not pooled")
        own = repeated.get(reference_key)
        if own is None:
            return cls(math.nan, 0, 0, False, note + "; no reference runs on two seeds")
        return cls(_spread(own), len(own) - 1, 1, False, note + "; the reference's own spread is used")

    def describe(self, metric: str) -> str:
        if not math.isfinite(self.sigma):
            return f"seed noise not measured ({self.note})"
        where = (f"pooled over {self.groups} configurations run on several seeds" if self.pooled
                 else "from the reference settings' seeds")
        text = f"seed-to-seed σ of {metric} = {self.sigma:.3g} ({self.dof} degrees of freedom, {where})"
        return text + (f"; {self.note}" if self.note else "")


def _spread(values: list[float]) -> float:
    m = sum(values) / len(values)
    return math.sqrt(sum((x - m) ** 2 for x in values) / (len(values) - 1))
