"""The confirmation stage: the winner is re-run on seeds its selection never saw (SPEC §5), as a race.

Picking the best of N trials and reporting it on the same evaluation is optimistic (the winner's curse):
its number is partly luck. After the search stage, a launch races the top `study.confirm_top`
configurations (by objective, the reference settings left out) against the reference settings on fresh,
shared seeds, in the same launch, as trials tagged `stage=confirm` (search trials are `stage=search`): the
intensification of SMAC (Hutter et al. 2011) with its error controlled (tuning/race.py: looks after
`confirm_seeds`, then every `confirm_step` more seeds, one-sided paired t, Holm over the candidates, the
error spread over the looks; a candidate not ahead of the reference drops out; the race stops when one is
shown better or `confirm_budget` runs would be exceeded).

- Fresh seeds: seed offsets CONFIRM_SEED_BASE + 100 x round + i; search trials use offsets below
  max(study.seeds, study.baseline_seeds) (< 100), so no confirmation seed is ever a search seed, and each
  round (a continuation whose top changed) gets its own.
- The study's answer (`best=true`, the registry's `best` alias, `best_objective`, the report's headline,
  `dashboards.best`) is the candidate the race showed better (the best mean among those shown better at
  the deciding look), or the reference settings when none was, with the smallest gain the race could have
  seen (race.detectable_gain); search-stage verdicts stay, labelled as not confirmed.
- Every confirmation trial carries the race's design (`__race__`, MLflow tag `race`), so the report replays
  the same race from the runs (tuning.race.replay) and cannot disagree with the launcher.
- Decision: confirmation trials are *not* told to Optuna. They are repeat observations of settings the
  searcher already holds; as new trials, TPE would count the same point several times in its density model
  (its estimate of where good settings lie would tilt towards the confirmed ones), and a configuration's
  Optuna value would stop being its search-stage objective, the number every search-stage view shows. They
  live in MLflow (`stage=confirm`, `confirm_round`), and the Optuna study records which configurations
  each round confirmed (user attribute `confirmations`), so a continuation confirms again only when its top
  configurations changed.
"""
from __future__ import annotations

import json
import math

import optuna

from .race import RaceDesign, RaceResult, budget_for, replay
from .seeds import most_typical
from .study import REPEAT_INDEX, Study

STAGE = "__stage__"                 # trial config key: "confirm" for a confirmation trial
ROUND = "__confirm_round__"         # trial config key: which confirmation round
RACE = "__race__"                   # trial config key: the race's design, "candidates/first/step/budget"
BUDGET_SHARE = 0.65                 # study.confirm_budget=0: this share of the search's trials (benchmarks/power.py)
CONFIRM_SEED_BASE = 1000
CONFIRMATIONS = "confirmations"     # Optuna study user attribute: [{"round", "top", "launch"}]


def confirm_offsets(study: Study, round_: int, seeds: int) -> list[int]:
    return [CONFIRM_SEED_BASE + 100 * round_ + i for i in range(seeds)]


def top_configurations(study: Study, optuna_study: optuna.Study) -> list[dict]:
    """The best `confirm_top` distinct configurations among COMPLETE trials of this history, by value
    (the reference settings left out: they run in every round anyway)."""
    done = [t for t in optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value) and not study.is_reference(t.params)]
    done.sort(key=lambda t: t.value, reverse=study.launch.study.mode == "max")
    top, seen = [], set()
    for trial in done:
        key = json.dumps(trial.params, sort_keys=True)
        if key not in seen:
            seen.add(key)
            top.append(dict(trial.params))
        if len(top) == study.launch.study.confirm_top:
            break
    return top


def reference_configuration(study: Study) -> dict | None:
    """The reference settings as a point of the search space (a sampled study's baseline point, or the grid
    cell that is the reference), None if the space does not contain them."""
    point = study.baseline_point()
    if point is not None:
        return point
    from .study import grid_cells
    return next((cell for cell in grid_cells(study) if study.is_reference(cell)), None) if study.is_grid else None


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


def history_noise(study: Study):
    """The noise model of the study's stored history (None: no storage or no complete trial yet). Read-only."""
    from .preflight import not_yet_created
    if not_yet_created(study.storage_url):
        return None
    try:
        from .search import optuna_storage
        from .trial_records import TrialRecords
        storage = optuna_storage(study.storage_url)
        storage.get_study_id_from_name(study.optuna_name)
        records = TrialRecords(storage, study.optuna_name, study.launch.study.mode).all()
    except Exception:  # no such history yet, or unreadable: the dry run states the default
        return None
    return noise_of(study, records)


def noise_of(study: Study, records):
    """The noise model of these trial records: every configuration's complete runs, one group each."""
    from .noise import NoiseModel
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


def plan(study: Study, optuna_study: optuna.Study) -> tuple[int, list[dict], dict | None] | None:
    """(round, top configurations, the reference configuration or None) of the race this launch should run,
    or None: turned off, nothing to confirm, or the same top configurations as the last round (confirmed
    already)."""
    if study.launch.study.confirm_top <= 0:
        return None
    top = top_configurations(study, optuna_study)
    if not top:
        return None
    rounds = optuna_study.user_attrs.get(CONFIRMATIONS, [])
    if rounds and sorted(map(json.dumps, rounds[-1]["top"])) == sorted(json.dumps(t, sort_keys=True) for t in top):
        return None
    return len(rounds), top, reference_configuration(study)


def look_configs(study: Study, round_: int, race: RaceDesign, configurations: list[dict], seeds: int) -> list[dict]:
    """Trial configs of `configurations` (the reference and the surviving candidates) on the round's first
    `seeds` fresh seeds."""
    return [dict(config, **{REPEAT_INDEX: offset, STAGE: "confirm", ROUND: round_, RACE: design_text(race)})
            for offset in confirm_offsets(study, round_, seeds) for config in configurations]


def record_round(optuna_study: optuna.Study, round_: int, top: list[dict], launch: str) -> None:
    """Store in the Optuna study which configurations this round confirmed (after it completed)."""
    rounds = [r for r in optuna_study.user_attrs.get(CONFIRMATIONS, []) if r["round"] != round_]
    optuna_study.set_user_attr(CONFIRMATIONS, rounds + [{"round": round_, "top": top, "launch": launch}])


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
