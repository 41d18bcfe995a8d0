"""Confirmation as a race: fresh, shared seeds in looks until the best candidate is shown better or the
budget is spent (the intensification of SMAC, Hutter et al. 2011, with the error controlled).

The search's top `study.confirm_top` configurations (the candidates) and the reference settings run on the
same fresh seeds. The race looks at the results after `study.confirm_seeds` seeds, then every
`study.confirm_step` more, until `study.confirm_budget` runs would be exceeded. The seed counts of the looks
are fixed before the race starts (`RaceDesign.looks`): a look never waits for a lucky seed.

At look k each surviving candidate c gets a one-sided paired t test of "c is better than the reference" over
the look's seeds (arms that share a seed share initial weights, data order and pool randomness, so the
per-seed differences are what is noisy). The candidates are one family (Holm, at the look's level alpha_k; a
dropped candidate counts as not rejected), and the looks' levels add up to the study's ALPHA: alpha_k = ALPHA
* n_k / sum(n_j), more where there are more seeds. By the union bound the chance that any candidate no better
than the reference is ever called better is at most ALPHA, whatever the dependence between looks
(benchmarks/power.py simulates it: well below ALPHA).

After a look without a confirmation a candidate whose mean gain is less than DROP_T = 0.5 of its own paired
standard errors on the better side is dropped (it only gives up a chance to reject: the error guarantee holds).
Half a standard error rather than zero: benchmarks/power.py measured on lambda_sweep (2 candidates, looks
after 3, 6, 9 seeds) 14.5 runs under the null instead of 17.7 and 18.9 at a 2 σ gain instead of 19.7, with
P(confirm) at 2 σ 0.83 against 0.84 (800 studies each); 1.0 cut the runs further but the power to 0.80. The
rule is scale-free (a t statistic), so it needs no noise model. The race ends:
- "confirmed": at the first look where a candidate is shown better; the answer is the best mean among those;
- "not shown": no candidate survives, or the last look passed without a confirmation; the answer is the
  reference settings, and the page says what gain the race could have seen (`detectable_gain`).

Noise model (docs/platform.md): each candidate's verdict uses its own paired differences. Seed noise differs
between configurations (the stored tuner-check grid: seed SD 0.02 to 0.32 FID); a pooled estimate would call
a noisier candidate better too often, and the search selects noisier candidates (a lucky draw looks good).
The race buys degrees of freedom with seeds instead; the search stage's verdicts, which have no such pairs,
use the study's pooled noise model (tuning/results/noise.py). No Ray, Optuna or MLflow: dashboards replay it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from scipy import stats

from tuning.results.objective import ALPHA, Comparison, better

POWER = 0.8            # the power `detectable_gain` is stated at
MIN_SEEDS = 3          # the first look: a paired t on fewer pairs has too few degrees of freedom to call
DROP_T = 0.5           # after a look, a candidate whose gain is under half a standard error drops out


@dataclass(frozen=True)
class RaceDesign:
    candidates: int         # study.confirm_top
    first: int              # seeds at the first look (study.confirm_seeds)
    step: int               # seeds added at each later look (study.confirm_step)
    budget: int             # runs at most, the reference's included (study.confirm_budget, resolved)
    alpha: float = ALPHA

    @property
    def max_seeds(self) -> int:
        """Seeds every configuration gets if none drops out."""
        return self.budget // (self.candidates + 1)

    @property
    def looks(self) -> list[int]:
        """The seed count at each look, fixed in advance; [] if the budget does not reach the first look."""
        if self.candidates < 1 or self.max_seeds < self.first:
            return []
        looks = list(range(self.first, self.max_seeds + 1, max(1, self.step)))
        return looks + ([self.max_seeds] if looks[-1] != self.max_seeds else [])

    def level(self, look: int) -> float:
        """The error spent at look `look` (0-based): ALPHA in proportion to the look's seeds."""
        looks = self.looks
        return self.alpha * looks[look] / sum(looks)


@dataclass
class Entry:
    """A configuration in the race: its objective per fresh seed and what the race made of it."""
    key: tuple
    values: dict                          # seed -> objective
    comparison: Comparison | None = None  # at its last look (None: the reference)
    status: str = "racing"                # racing | better | dropped | not shown | reference
    look: int = -1                        # its last look (0-based)
    run: object = None                    # the run that stands for it (filled in by the caller)

    @property
    def mean(self) -> float:
        return sum(self.values.values()) / len(self.values) if self.values else math.nan


@dataclass
class RaceResult:
    status: str                           # confirmed | not shown | running
    looks_done: int
    seeds: list                           # the seeds the finished looks used, in order
    reference: Entry | None
    candidates: list[Entry] = field(default_factory=list)
    winner: Entry | None = None
    next_seeds: int | None = None         # running: seeds each survivor needs for the next look
    design: RaceDesign | None = None

    @property
    def survivors(self) -> list[Entry]:
        return [c for c in self.candidates if c.status == "racing"]


def paired_one_sided(differences: list[float], level: float, mode: str) -> Comparison:
    """One-sided paired t of 'better than the reference' at `level`. The half-width is the one-sided bound's
    distance from the mean, so 'better' means the whole interval [d - h, d + h] lies on the better side."""
    n = len(differences)
    mean = sum(differences) / n if n else math.nan
    if n < 2:
        return Comparison(mean, math.nan, "not enough seeds")
    sd = math.sqrt(sum((x - mean) ** 2 for x in differences) / (n - 1))
    se = sd / math.sqrt(n)
    gain = -mean if mode == "min" else mean
    if se == 0:
        verdict = "better" if gain > 0 else "not shown better"
        return Comparison(mean, 0.0, verdict, 0.0, n - 1)
    half = float(stats.t.ppf(1 - level, n - 1)) * se
    return Comparison(mean, half, "better" if gain > half else "not shown better", se, n - 1)


def one_sided_p(differences: list[float], mode: str) -> float:
    n = len(differences)
    if n < 2:
        return 1.0
    mean = sum(differences) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in differences) / (n - 1))
    gain = -mean if mode == "min" else mean
    if sd == 0:
        return 0.0 if gain > 0 else 1.0
    return float(stats.t.sf(gain / (sd / math.sqrt(n)), n - 1))


def ahead(differences: list[float], mode: str) -> bool:
    """Whether a candidate stays in the race: its mean gain is at least DROP_T of its paired standard errors
    on the better side (with one pair, or pairs that agree exactly, simply on the better side)."""
    n = len(differences)
    if n == 0:
        return False
    mean = sum(differences) / n
    gain = -mean if mode == "min" else mean
    sd = math.sqrt(sum((x - mean) ** 2 for x in differences) / (n - 1)) if n > 1 else 0.0
    if sd == 0:
        return better(mean, 0.0, mode)
    return gain >= DROP_T * sd / math.sqrt(n)


def replay(reference: dict | None, candidates: dict[tuple, dict], design: RaceDesign, mode: str,
           seeds: list | None = None, reference_key: tuple = ("reference",)) -> RaceResult:
    result = _replay(reference, candidates, design, mode, seeds, reference_key)
    result.design = design
    return result


def _replay(reference, candidates, design, mode, seeds, reference_key) -> RaceResult:
    """The race as the data say it went. `reference`: seed -> objective of the reference settings;
    `candidates`: key -> (seed -> objective); `seeds`: the fresh seeds run so far in order (default: every
    seed in the data, sorted). A look is judged once `seeds` reaches its seed count; a run that failed is a
    missing pair. Deterministic: the launcher (what to run next) and the report (what happened) agree."""
    entries = [Entry(k, dict(v)) for k, v in candidates.items()]
    ref = Entry(reference_key, dict(reference or {}), status="reference")
    if seeds is None:
        seeds = sorted({s for v in [ref.values, *candidates.values()] for s in v})
    looks = design.looks
    if reference is None or not looks or not entries:  # nothing to race against: best mean, no verdict
        entries.sort(key=lambda e: e.mean if math.isfinite(e.mean) else math.inf * (1 if mode == "min" else -1),
                     reverse=mode == "max")
        return RaceResult("not shown", 0, list(seeds), None if reference is None else ref, entries,
                          entries[0] if entries and reference is None else (ref if reference is not None else None))
    done = 0
    for k, n in enumerate(looks):
        if len(seeds) < n:
            return _finish(RaceResult("running", done, list(seeds[:looks[done - 1]] if done else []), ref, entries,
                                      next_seeds=n), mode)
        window = seeds[:n]
        racing = [e for e in entries if e.status == "racing"]
        diffs = {id(e): [e.values[s] - ref.values[s] for s in window if s in e.values and s in ref.values]
                 for e in racing}
        p = {id(e): one_sided_p(diffs[id(e)], mode) for e in racing}
        # Holm over every candidate of the race (a dropped one is never rejected), at this look's level
        order, m, shown = sorted(racing, key=lambda e: p[id(e)]), len(entries), []
        tested_at = {}
        for i, e in enumerate(order):
            level = design.level(k) / (m - i)
            tested_at[id(e)] = level
            if p[id(e)] > level:
                for rest in order[i + 1:]:
                    tested_at[id(rest)] = level
                break
            shown.append(e)
        for e in racing:
            e.look = k
            e.comparison = _family(paired_one_sided(diffs[id(e)], tested_at[id(e)], mode), m)
        done = k + 1
        if shown:
            for e in entries:
                e.status = "better" if e in shown else ("not shown" if e.status == "racing" else e.status)
            result = RaceResult("confirmed", done, list(window), ref, entries)
            result.winner = min(shown, key=lambda e: _window_mean(e, window) * (1 if mode == "min" else -1))
            return _finish(result, mode)
        for e in racing:
            if not ahead(diffs[id(e)], mode):
                e.status = "dropped"
        if not any(e.status == "racing" for e in entries) or k == len(looks) - 1:
            for e in entries:
                e.status = "not shown" if e.status == "racing" else e.status
            result = RaceResult("not shown", done, list(window), ref, entries)
            result.winner = ref
            return _finish(result, mode)
    raise AssertionError("unreachable: the last look always ends the race")


def _window_mean(entry: Entry, window: list) -> float:
    values = [entry.values[s] for s in window if s in entry.values]
    return sum(values) / len(values) if values else math.nan


def _family(comparison: Comparison, m: int) -> Comparison:
    return replace(comparison, family=m)


def _finish(result: RaceResult, mode: str) -> RaceResult:
    window = set(result.seeds)  # what the finished looks saw; a running look's first runs are not judged yet
    for e in [result.reference, *result.candidates]:
        if e is not None:
            e.values = {s: v for s, v in e.values.items() if s in window}
    result.candidates.sort(key=lambda e: (e.status != "better", e.mean if mode == "min" else -e.mean))
    return result


def runs_spent(result: RaceResult) -> int:
    """Runs the race used: the reference's on the seeds of the finished looks, each candidate's on the seeds
    up to its own last look (a dropped candidate gets no later seeds: tuning/search/confirm.look_configs
    runs only the survivors)."""
    window, looks = result.seeds, result.design.looks if result.design is not None else []
    spent = len(set(result.reference.values) & set(window)) if result.reference is not None else 0
    for e in result.candidates:
        ran = window[:looks[e.look]] if 0 <= e.look < len(looks) else window
        spent += len(set(e.values) & set(ran))
    return spent


# -- what a race can see ---------------------------------------------------------------------------------
def power(gain: float, sigma: float, design: RaceDesign) -> float:
    """P(shown better) at the last look alone, for one candidate `gain` better than the reference, seed noise
    `sigma` per run (independent between the two arms: shared seeds only help). A lower bound on the race's
    power when only one candidate is truly better (earlier looks add chances; the simulation measures all)."""
    looks = design.looks
    if not looks or sigma <= 0:
        return math.nan
    n = looks[-1]
    level = design.level(len(looks) - 1) / design.candidates  # Holm's first step, the strictest
    critical = stats.t.ppf(1 - level, n - 1)
    return float(stats.nct.sf(critical, n - 1, gain / (math.sqrt(2) * sigma) * math.sqrt(n)))


def detectable_gain(sigma: float, design: RaceDesign, target: float = POWER) -> float:
    """The smallest true gain (in the units of `sigma`) the race shows better with probability `target`
    (by `power`); inf when the budget does not reach a look."""
    if not design.looks or not math.isfinite(sigma) or sigma <= 0:
        return math.inf
    low, high = 0.0, sigma
    while power(high, sigma, design) < target:
        high *= 2
        if high > 1e6 * sigma:
            return math.inf
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if power(mid, sigma, design) < target else (low, mid)
    return high


def budget_for(gain: float, sigma: float, candidates: int, first: int, step: int, alpha: float = ALPHA,
               limit: int = 10_000) -> int:
    """The smallest budget (runs) whose race detects `gain` with POWER (`detectable_gain` <= gain)."""
    per_seed = candidates + 1
    for seeds in range(first, limit // per_seed + 1):
        design = RaceDesign(candidates, first, step, seeds * per_seed, alpha)
        if detectable_gain(sigma, design) <= gain:
            return design.budget
    return limit
