"""The confirmation race's design and its replay from records (tuning/search/confirm.py runs it): how many runs it
may spend, which fresh seeds it uses, the design each confirmation trial carries, and the race of a round as
its runs say it went. Nothing here imports Ray, Optuna or MLflow: the dashboards replay the same race.
"""
from __future__ import annotations

import math

from tuning.results.noise import NoiseModel
from tuning.results.race import RaceDesign, RaceResult, budget_for, replay
from tuning.results.seeds import most_typical
from tuning.study.study import Study
from tuning.study.trial_keys import RACE, ROUND

BUDGET_SHARE = 0.65                 # study.confirm_budget=0: this share of the search's trials (benchmarks/power.py)

CONFIRM_SEED_BASE = 1000


def confirm_offsets(study: Study, round_: int, seeds: int) -> list[int]:
    return [CONFIRM_SEED_BASE + 100 * round_ + i for i in range(seeds)]

TARGET_CAP = 3                      # study.target_effect: the budget it sizes is capped at 3 x the search's trials


def budget(study: Study, sigma: float = math.nan) -> int:
    """Runs the race may spend, the reference's included: `study.confirm_budget`; else, with
    `study.target_effect` and the seed noise `sigma` measured, the smallest budget whose race detects that
    gain with 80 % power (capped at TARGET_CAP x the search's trials); else BUDGET_SHARE of the search's
    trials. Never below the first look's runs."""
    s = study.launch.study
    first_look = (s.confirm_top + 1) * s.confirm_seeds
    if s.confirm_budget > 0:
        return s.confirm_budget
    if s.target_effect > 0 and math.isfinite(sigma) and sigma > 0:
        cap = max(first_look, TARGET_CAP * study.num_trials)
        return max(first_look, budget_for(s.target_effect, sigma, max(s.confirm_top, 1), s.confirm_seeds,
                                          s.confirm_step, limit=cap))
    return max(first_look, round(BUDGET_SHARE * study.num_trials))


def budget_source(study: Study, sigma: float, resolved: int) -> str:
    """Where `budget` (`resolved`, what it returned at `sigma`) came from, for the dry run."""
    s = study.launch.study
    if s.confirm_budget > 0:
        return "study.confirm_budget"
    if s.target_effect > 0:
        if not (math.isfinite(sigma) and sigma > 0):
            return (f"study.target_effect={s.target_effect:g} sizes it once the reference's seeds have measured the "
                    f"seed noise; until then {BUDGET_SHARE:g} x the search trials")
        capped = f", capped at {TARGET_CAP} x the search trials" if resolved >= TARGET_CAP * study.num_trials else ""
        return f"sized by study.target_effect={s.target_effect:g} at σ = {sigma:.3g}{capped}"
    return f"study.confirm_budget = 0: {BUDGET_SHARE:g} x the search trials"


def design(study: Study, candidates: int | None = None, sigma: float = math.nan) -> RaceDesign:
    s = study.launch.study
    return RaceDesign(s.confirm_top if candidates is None else candidates, s.confirm_seeds, s.confirm_step,
                      budget(study, sigma))


def noise_of(study: Study, records):
    """The noise model of these trial records: every configuration's complete runs, one group each."""
    groups: dict[tuple, list] = {}
    reference = None
    for r in records:
        if r.status == "complete" and r.values:
            key = tuple(str(r.config.get(k)) for k in study.search)
            groups.setdefault(key, []).append(r.epochs()[-1][1])
            reference = key if study.is_reference(r.config) else reference
    return NoiseModel.of(groups, reference) if groups else None


def stored_design(records, round_: int) -> RaceDesign | None:
    """The design a round's confirmation trials were started with (a resumed race keeps it, whatever the
    noise model has learnt since)."""
    for r in records:
        if r.stage == "confirm" and r.config.get(ROUND) == round_ and r.config.get(RACE):
            found = design_of(r.config[RACE])
            if found is not None:
                return found
    return None


def design_text(d: RaceDesign) -> str:
    return f"{d.candidates}/{d.first}/{d.step}/{d.budget}"


def design_of(text: str) -> RaceDesign | None:
    try:
        candidates, first, step, budget_ = (int(x) for x in str(text).split("/"))
    except ValueError:
        return None
    return RaceDesign(candidates, first, step, budget_)


def race_of(rows: list[tuple], mode: str, race: RaceDesign, seeds: list | None = None) -> RaceResult:
    """The race of one confirmation round as its runs say it went. `rows`: (configuration key, seed,
    objective, run, is_reference) of its complete runs; each configuration is represented by its most
    typical run over the seeds the race judged."""
    values: dict[tuple, dict] = {}
    runs: dict[tuple, list] = {}
    reference_key = None
    for key, seed, value, run, is_reference in rows:
        values.setdefault(key, {})[seed] = value
        runs.setdefault(key, []).append((seed, value, run))
        reference_key = key if is_reference else reference_key
    candidates = {k: v for k, v in values.items() if k != reference_key}
    result = replay(values.get(reference_key), candidates, race, mode, seeds,
                    reference_key=reference_key if reference_key is not None else ("reference",))
    for entry in [result.reference, *result.candidates]:
        if entry is None:
            continue
        judged = [(v, r) for s, v, r in runs.get(entry.key, []) if s in entry.values] or \
            [(v, r) for _, v, r in runs.get(entry.key, [])]
        entry.run = most_typical(judged) if judged else None
    return result
