"""The confirmation stage: the winner is re-run on seeds its selection never saw (SPEC §5).

Picking the best of N trials and reporting it on the same evaluation is optimistic (the winner's curse):
its number is partly luck. After the search stage, a launch runs the top `study.confirm_top` configurations
(by objective, the reference settings left out) and the reference settings again on `study.confirm_seeds`
fresh seeds, in the same launch, as trials tagged `stage=confirm` (search trials are `stage=search`). This
is the intensification of SMAC (Hutter et al. 2011): challengers raced against the incumbent on new seeds.

- Fresh seeds: seed offsets CONFIRM_SEED_BASE + 100 x round + i; search trials use offsets below
  max(study.seeds, study.baseline_seeds) (< 100), so no confirmation seed is ever a search seed, and each
  round (a continuation whose top changed) gets its own.
- Candidates and the reference share each fresh seed, so each candidate gets a paired verdict against the
  reference (tuning.objective.paired_difference), all candidates one family (Holm). The study's answer
  (`best=true`, the registry's `best` alias, `best_objective`, the report's headline, `dashboards.best`) is
  the confirmed candidate with the best mean over the fresh seeds among those confirmed better than the
  reference, or the reference itself when none is; search-stage verdicts stay, labelled as not confirmed.
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
from dataclasses import dataclass

import optuna

from .objective import better, holm, paired_difference
from .seeds import most_typical
from .study import REPEAT_INDEX, Study

STAGE = "__stage__"                 # trial config key: "confirm" for a confirmation trial
ROUND = "__confirm_round__"         # trial config key: which confirmation round
CONFIRM_SEED_BASE = 1000
CONFIRMATIONS = "confirmations"     # Optuna study user attribute: [{"round", "top", "launch"}]


def confirm_offsets(study: Study, round_: int) -> list[int]:
    return [CONFIRM_SEED_BASE + 100 * round_ + i for i in range(study.launch.study.confirm_seeds)]


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


def plan(study: Study, optuna_study: optuna.Study) -> tuple[int, list[dict], list[dict]] | None:
    """(round, top configurations, trial configs) of the confirmation this launch should run, or None:
    turned off, nothing to confirm, or the same top configurations as the last round (confirmed already)."""
    if study.launch.study.confirm_top <= 0:
        return None
    top = top_configurations(study, optuna_study)
    if not top:
        return None
    rounds = optuna_study.user_attrs.get(CONFIRMATIONS, [])
    if rounds and sorted(map(json.dumps, rounds[-1]["top"])) == sorted(json.dumps(t, sort_keys=True) for t in top):
        return None
    round_ = len(rounds)
    reference = reference_configuration(study)
    configs = [dict(config, **{REPEAT_INDEX: offset, STAGE: "confirm", ROUND: round_})
               for offset in confirm_offsets(study, round_)
               for config in ([reference] if reference else []) + top]
    return round_, top, configs


def record_round(optuna_study: optuna.Study, round_: int, top: list[dict], launch: str) -> None:
    """Store in the Optuna study which configurations this round confirmed (after it completed)."""
    rounds = [r for r in optuna_study.user_attrs.get(CONFIRMATIONS, []) if r["round"] != round_]
    optuna_study.set_user_attr(CONFIRMATIONS, rounds + [{"round": round_, "top": top, "launch": launch}])


@dataclass
class Candidate:
    key: tuple                  # the configuration's searched values
    values: dict                # seed -> objective on the fresh seeds
    comparison: object          # paired against the reference, Holm-corrected over the candidates (None: reference)
    run: object = None          # the run whose generators stand for it (its most typical seed)

    @property
    def mean(self) -> float:
        return sum(self.values.values()) / len(self.values) if self.values else math.nan


def verdicts(rows: list[tuple], mode: str) -> tuple[Candidate | None, list[Candidate]]:
    """(reference, candidates) of one confirmation round. `rows`: (configuration key, seed, objective, run,
    is_reference) of its complete runs. Each candidate is paired with the reference by seed (a seed only
    one of them finished is left out), the candidates corrected together."""
    groups: dict[tuple, dict] = {}
    runs: dict[tuple, list] = {}
    reference_key = None
    for key, seed, value, run, is_reference in rows:
        groups.setdefault(key, {})[seed] = value
        runs.setdefault(key, []).append((value, run))
        reference_key = key if is_reference else reference_key
    reference = Candidate(reference_key, groups[reference_key], None) if reference_key is not None else None
    keys = [k for k in groups if k != reference_key]
    single = [paired_difference([groups[k][s] - reference.values[s] for s in groups[k] if s in reference.values], mode)
              if reference else None for k in keys]
    corrected = holm(single, mode) if reference else [None] * len(keys)
    candidates = [Candidate(k, groups[k], c) for k, c in zip(keys, corrected)]
    for c in [*candidates, *([reference] if reference else [])]:
        c.run = most_typical(runs[c.key])
    candidates.sort(key=lambda c: c.mean, reverse=mode == "max")
    return reference, candidates


def winner(reference: Candidate | None, candidates: list[Candidate], mode: str) -> Candidate | None:
    """The confirmed answer: the best mean among candidates confirmed better than the reference; else the
    reference; with no reference run, the best mean (nothing to confirm against)."""
    if reference is None:
        return candidates[0] if candidates else None
    confirmed = [c for c in candidates if c.comparison is not None and c.comparison.verdict == "better"
                 and better(c.mean, reference.mean, mode)]
    return confirmed[0] if confirmed else reference
