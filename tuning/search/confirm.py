"""The confirmation stage: the winner is re-run on seeds its selection never saw (SPEC §5), as a race.

Picking the best of N trials and reporting it on the same evaluation is optimistic (the winner's curse):
its number is partly luck. After the search stage, a launch races the top `study.confirm_top`
configurations (by objective, the reference settings left out) against the reference settings on fresh,
shared seeds, in the same launch, as trials tagged `stage=confirm` (search trials are `stage=search`): the
intensification of SMAC (Hutter et al. 2011) with its error controlled (tuning/results/race.py: looks after
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
  the same race from the runs (tuning.results.race.replay) and cannot disagree with the launcher.
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

from tuning.results.race import RaceDesign
from tuning.results.race_design import confirm_offsets, design_text, noise_of
from tuning.state.history import choose_history
from tuning.state.storage import not_yet_created, optuna_storage, study_id
from tuning.state.trial_records import TrialRecords
from tuning.study.study import Study, grid_cells
from tuning.study.trial_keys import RACE, REPEAT_INDEX, ROUND, STAGE

CONFIRMATIONS = "confirmations"     # Optuna study user attribute: [{"round", "top", "launch"}]


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
    return next((cell for cell in grid_cells(study) if study.is_reference(cell)), None) if study.is_grid else None


def history_noise(study: Study, history: str | None = None):
    """The noise model of the study's stored `history` (by default the one a launch now would continue:
    tuning.state.history.choose_history; None: no storage or no complete trial yet). Read-only."""
    if not_yet_created(study.storage_url):
        return None
    try:
        storage = optuna_storage(study.storage_url)
        history = history or choose_history(study, storage)
        if study_id(storage, history, create=False) is None:
            return None
        records = TrialRecords(storage, history, study.launch.study.mode).all()
    except Exception:  # no such history yet, or unreadable: the dry run states the default
        return None
    return noise_of(study, records)


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


