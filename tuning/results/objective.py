"""The study's objective and the noise rule: one definition for search, tracking and reports.

**Objective.** A trial's objective is the study metric (`study.metric`) at the trial's *final*
evaluation: the standard CycleGAN practice, with the learning rate decayed to zero. The trainable reports
it to Tune as `objective` at every evaluation, with `final` true at the last one. From there:
- Optuna gets every evaluation as an intermediate value (`trial.report(value, epoch)`) and the trial ends
  COMPLETE with the final value, or PRUNED if ASHA stopped it (its value is then the one at the stop);
- ASHA ranks trials by `objective` at its rungs;
- MLflow logs `objective` per evaluation (step = epoch): the run's latest value is the trial's objective,
  and the tag `outcome` says whether it is final (`complete`), a stop (`stopped`) or missing (`failed`);
- the leaderboard, `best=true`, the registry, `dashboards.best`, importance and the Pareto front rank
  complete trials by it.
The best value over epochs is *not* an objective: picking the best epoch on the test split and reporting
it on the same split is optimistic. Reports may show it, labelled so, and never rank by it.

**Noise rule.** A difference between a trial and the reference settings counts only if it is larger than
the noise. Two sources are measured: the evaluation's standard error over the test images (`*_se`
metrics) and the seed-to-seed spread sigma of the reference settings (`study.baseline_seeds` runs; the
spread includes evaluation noise, since each seed is evaluated on its own fakes). When the study holds
more repeated observations than the reference's seeds, sigma is the study's pooled noise model
(tuning/results/noise.py) with its degrees of freedom d; else d = k - 1. For a trial with value v and evaluation
SE e against the reference mean m over k seeds:
    s_trial = max(sigma / sqrt(n), e)   s_ref = max(sigma, e_ref) / sqrt(k)   (n: the trial's seeds, study.seeds)
    half    = q * sqrt(s_trial^2 + s_ref^2),   q = t_{0.975, d} (sigma measured) or 1.96 (k = 1: sigma unknown)
and v - m is a win or a loss only outside +-half. With k = 1 the seed-to-seed spread is unknown, and it is
usually far larger than the evaluation noise: a difference beyond the evaluation noise is then reported as
"seed noise unknown", never as better or worse (set study.baseline_seeds >= 2 to measure it). Ablations use the paired rule (`paired_difference`): arms that
share a seed share initial weights, data order and pool randomness, so their per-seed differences are
compared with a t interval on n - 1 degrees of freedom, and fewer than 3 seeds give no verdict.

**Many comparisons.** One page judges many differences at once (every trial against the reference, every
ablation arm, every training-set size): at 95 % each, 50 trials with no real effect would show a "better"
one time in five. Every family of verdicts on a page is therefore corrected with `holm` (Holm-Bonferroni:
the family-wise error rate stays at 5 % whatever the dependence between the comparisons, and it never calls
fewer differences than Bonferroni). Chosen over Benjamini-Hochberg because a report's reader acts on the
single winner it names, so one false "better" is the error that matters, not the share of false ones. Each
corrected comparison's half-width is the interval at the level Holm tested it at, so "outside ± half" and
the verdict always agree, and the page says "corrected for N comparisons (Holm)".
Nothing here imports Ray, Optuna or MLflow: dashboards use it too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from scipy import stats

OBJECTIVE = "objective"     # result and MLflow metric name
FINAL = "final"             # result key: true at the trial's final evaluation
OUTCOME = "outcome"         # MLflow tag: complete | stopped | failed
MIN_PAIRED_SEEDS = 3
SEED_NOISE_UNKNOWN = "seed noise unknown"
ALPHA = 0.05                # family-wise error rate of every family of verdicts on a page
JUDGED = ("better", "worse", "indistinguishable")  # verdicts a family is corrected over


def objective_fields(metrics: dict, metric: str, final: bool) -> dict:
    """What a trainable adds to an evaluation's result: the objective and whether it is the final one."""
    if metric not in metrics:
        raise KeyError(f"study.metric={metric} was not measured at this evaluation (measured: {sorted(metrics)})")
    return {OBJECTIVE: float(metrics[metric]), FINAL: bool(final)}


def better(a: float, b: float, mode: str) -> bool:
    return a < b if mode == "min" else a > b


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


@dataclass(frozen=True)
class NoiseFloor:
    """The reference settings' objectives over seeds and their evaluation standard errors."""
    values: tuple[float, ...]
    eval_ses: tuple[float, ...] = ()
    model: object = None    # the study's noise model (tuning/results/noise.py): its pooled sigma replaces the reference's

    @classmethod
    def of(cls, values, eval_ses=(), model=None) -> "NoiseFloor":
        return cls(tuple(_finite(values)), tuple(_finite(eval_ses)), model)

    @property
    def uses_model(self) -> bool:
        """True when the study's noise model knows more than the reference's own seeds (more degrees of
        freedom): then its sigma and degrees of freedom judge every comparison."""
        m = self.model
        return m is not None and math.isfinite(m.sigma) and m.dof > max(self.seeds - 1, 0)

    @property
    def dof(self) -> float:
        """Degrees of freedom of sigma (inf: sigma unknown, the normal reference)."""
        if self.uses_model:
            return self.model.dof
        return self.seeds - 1 if self.seeds >= 2 else math.inf

    @property
    def seeds(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.seeds if self.seeds else math.nan

    @property
    def sigma(self) -> float:
        """Seed-to-seed std of one run: the study's noise model when it knows more, else the reference's
        sample std (NaN below 2 seeds)."""
        if self.uses_model:
            return self.model.sigma
        if self.seeds < 2:
            return math.nan
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.seeds - 1))

    @property
    def eval_se(self) -> float:
        return sum(self.eval_ses) / len(self.eval_ses) if self.eval_ses else math.nan

    def describe(self, metric: str) -> str:
        if not self.seeds:
            return "no run of the reference settings, so no noise floor: no difference is called a win"
        parts = []
        if self.uses_model:
            parts.append(self.model.describe(metric))
        elif self.seeds >= 2:
            parts.append(f"σ = {self.sigma:.3g} over {self.seeds} seeds of the reference settings")
        else:
            parts.append("1 seed of the reference settings, so the seed-to-seed spread was not measured "
                         "(study.baseline_seeds ≥ 2 measures it) and only evaluation noise is counted")
        if not math.isnan(self.eval_se):
            parts.append(f"evaluation standard error ≈ {self.eval_se:.3g}")
        return f"{metric} reference {self.mean:.4g}; " + "; ".join(parts)


@dataclass(frozen=True)
class Comparison:
    difference: float           # value - reference (in the metric's units)
    half_width: float           # the noise half-width: a difference inside +-half_width is noise
    verdict: str                # better | worse | indistinguishable | seed noise unknown | unknown | not enough seeds
    se: float = math.nan        # standard error of the difference (half_width = quantile * se)
    dof: float = math.inf       # degrees of freedom of the t reference (inf: normal)
    family: int = 1             # comparisons this verdict is corrected for (holm); 1 = on its own

    @property
    def is_finding(self) -> bool:
        return self.verdict in ("better", "worse")

    @property
    def p_value(self) -> float:
        """Two-sided p of the difference under the comparison's t (or normal) reference; NaN if not judged."""
        if not (math.isfinite(self.difference) and math.isfinite(self.se)):
            return math.nan
        if self.se == 0:
            return 0.0 if self.difference != 0 else 1.0
        return float(2 * stats.t.sf(abs(self.difference) / self.se, self.dof))

    def text(self) -> str:
        if self.verdict == "unknown":
            return f"{self.difference:+.3g} (noise not measured)"
        return f"{self.difference:+.3g} ± {self.half_width:.2g}"


def _quantile(level: float, dof: float) -> float:
    """Two-sided quantile: the half-width multiplier of a (1 - level) interval."""
    return float(stats.t.ppf(1 - level / 2, dof) if math.isfinite(dof) else stats.norm.ppf(1 - level / 2))


def holm(comparisons: list[Comparison], mode: str, alpha: float = ALPHA) -> list[Comparison]:
    """The family corrected by Holm's step-down (same order as given). Only judged comparisons (better,
    worse, indistinguishable) form the family; the others are returned as they are.

    Sorted by p, the k-th smallest (k from 0) is tested at alpha / (m - k) until the first that fails; that
    one and every later one are tested at the failing level. Each half-width is the interval at its level,
    so the verdict is "outside the interval" exactly as for a single comparison."""
    family = [i for i, c in enumerate(comparisons) if c.verdict in JUDGED and math.isfinite(c.se)]
    out, m, stop = list(comparisons), len(family), None
    for k, i in enumerate(sorted(family, key=lambda i: comparisons[i].p_value)):
        c, level = comparisons[i], alpha / (m - k)
        if stop is None and c.p_value > level:
            stop = level
        level = stop if stop is not None else level
        if c.se == 0:  # an exact shift (identical paired differences): no interval to widen
            out[i] = replace(c, family=m)
            continue
        half = _quantile(level, c.dof) * c.se
        out[i] = replace(c, half_width=half, verdict=_verdict(c.difference, half, mode), family=m)
    return out


def family_text(comparisons: list[Comparison]) -> str:
    """'corrected for 12 comparisons (Holm)', or what a single comparison is."""
    m = max((c.family for c in comparisons if c.verdict in JUDGED), default=0)
    if m > 1:
        return f"corrected for {m} comparisons (Holm)"
    return "a single comparison, no correction needed" if m == 1 else "no comparison judged"


def _verdict(difference: float, half: float, mode: str) -> str:
    if not math.isfinite(half) or half <= 0 or not math.isfinite(difference):
        return "unknown"
    if abs(difference) <= half:
        return "indistinguishable"
    return "better" if better(difference, 0.0, mode) else "worse"


def compare(value: float, value_se: float | None, floor: NoiseFloor, mode: str, seeds: int = 1) -> Comparison:
    """One trial against the reference settings, by the noise rule in the module docstring. `seeds` > 1: the
    value is a configuration's mean over that many seeds (tuning/results/seeds.py), whose own spread is
    max(sigma, e) / sqrt(seeds) (e: the standard error of that mean, if known)."""
    if not floor.seeds or value is None or not math.isfinite(value):
        return Comparison(math.nan, math.nan, "unknown")
    known = math.isfinite(floor.dof)
    sigma = floor.sigma if known else 0.0
    e = value_se if value_se is not None and math.isfinite(value_se) else 0.0
    e_ref = floor.eval_se if math.isfinite(floor.eval_se) else 0.0
    s_trial, s_ref = max(sigma / math.sqrt(max(seeds, 1)), e), max(sigma, e_ref) / math.sqrt(floor.seeds)
    q = stats.t.ppf(0.975, floor.dof) if known else 1.96
    se = math.hypot(s_trial, s_ref)
    half = q * se
    diff = value - floor.mean
    verdict = _verdict(diff, half, mode)
    if not known and verdict in ("better", "worse"):
        verdict = SEED_NOISE_UNKNOWN  # beyond evaluation noise, but GAN seeds vary more: no claim
    return Comparison(diff, half, verdict, se, floor.dof)


def paired_difference(differences, mode: str) -> Comparison:
    """Per-seed differences (arm - reference, same seed): mean ± t_{0.975, n-1} * sd / sqrt(n).
    Below MIN_PAIRED_SEEDS pairs the verdict is `not enough seeds`."""
    d = _finite(differences)
    n = len(d)
    mean = sum(d) / n if n else math.nan
    if n < MIN_PAIRED_SEEDS:
        return Comparison(mean, math.nan, "not enough seeds")
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    se = sd / math.sqrt(n)
    half = stats.t.ppf(0.975, n - 1) * se
    if half == 0:  # identical differences on every seed: the shift is exact, not noise
        return Comparison(mean, 0.0, "indistinguishable" if mean == 0 else
                          ("better" if better(mean, 0.0, mode) else "worse"), 0.0, n - 1)
    return Comparison(mean, half, _verdict(mean, half, mode), se, n - 1)
