"""Trials named and recorded in the study's storage, and a launch resumed from those records alone.

`KeyedTrials` wraps a launch's searcher: every trial it hands to Tune gets the next key (`t0007`), and its
record (tuning/state/trial_records.py) is written before Tune starts it, updated at each evaluation and at its
end. Tune's experiment folder is a cache the tracker reads; it is never restored.

`ResumedTrials` is the searcher of a resumed launch (`resume=true`, tuning/run/phases.py): it first
hands out the interrupted launch's unfinished trials with their stored configs and keys (each continues
from its own engine checkpoint, tuning/run/trainable.py), and the seeds a repeated configuration had not
started yet; then the study's searcher proposes the rest of the launch's trials. Results of a resumed
trial go to its own Optuna trial (by the number its record keeps), so Optuna's history reads as if nothing
had happened; a repeated configuration is told the mean over its seeds once all of them have ended.
"""
from __future__ import annotations

import math

import optuna
from ray.tune.search import Searcher

from tuning.results.objective import FINAL, OBJECTIVE
from tuning.results.outcome import outcome_of
from tuning.results.seeds import configuration_value
from tuning.search.optuna_search import report_value, tell_outcome
from tuning.state.trial_records import TrialRecord, TrialRecords
from tuning.study.trial_keys import OPTUNA_NUMBER, REPEAT_INDEX, STAGE, TRIAL_KEY


class Wrapper(Searcher):
    """A searcher around another (as Ray's ConcurrencyLimiter is): properties and unknown trials go inside.
    The inner one is `inner`, not `searcher`: Tune walks `.searcher` chains to pickle the innermost searcher's
    state into the experiment folder, and this launch keeps its state in the storage instead (`save`)."""

    def __init__(self, searcher: Searcher | None):
        super().__init__(metric=getattr(searcher, "metric", None), mode=getattr(searcher, "mode", None))
        self.inner = searcher

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        if self.inner is not None:
            self.inner.set_search_properties(metric, mode, config, **spec)
        self._metric, self._mode = metric or self._metric, mode or self._mode
        return True

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the launch's state is in the study's storage (tuning/state/trial_records.py)."""

    def restore(self, checkpoint_path: str) -> None:
        raise NotImplementedError("a launch resumes from the study's storage, never from Tune's files")


class KeyedTrials(Wrapper):
    """Names each trial (`t` + its number in the study) and keeps its record in the storage."""

    def __init__(self, searcher: Searcher, records: TrialRecords, launch: str, first_number: int):
        super().__init__(searcher)
        self.records, self.launch = records, launch
        self.next_number = max(first_number, records.highest_number() + 1)
        self.keys: dict[str, str] = {}  # Tune trial id -> key

    def suggest(self, trial_id: str):
        config = self.inner.suggest(trial_id)
        if not isinstance(config, dict):
            return config
        if TRIAL_KEY not in config:  # a new trial (a resumed one has its key)
            config = dict(config, **{TRIAL_KEY: f"t{self.next_number:04d}"})
            self.next_number += 1
            record = TrialRecord(config[TRIAL_KEY], self.launch, config.get(STAGE, "search"), config,
                                 number=config.get(OPTUNA_NUMBER))
            self.records.put(record)
            if record.number is not None:
                self.name_optuna_trial(record)
        self.keys[trial_id] = config[TRIAL_KEY]
        return config

    def name_optuna_trial(self, record: TrialRecord) -> None:
        """The Optuna trial names its trial (with `study.seeds > 1`, the first of its seeds handed out)."""
        storage = self.records.storage
        trial_id = storage.get_trial_id_from_study_id_trial_number(self.records.study_id, record.number)
        if "trial_key" not in storage.get_trial_user_attrs(trial_id):
            storage.set_trial_user_attr(trial_id, "trial_key", record.key)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.inner.on_trial_result(trial_id, result)
        record = self.records.get(self.keys.get(trial_id, ""))
        if record is not None and OBJECTIVE in result and "epoch" in result:
            record.values[str(int(result["epoch"]))] = float(result[OBJECTIVE])
            self.records.put(record)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.inner.on_trial_complete(trial_id, result=result, error=error)
        record = self.records.get(self.keys.get(trial_id, ""))
        outcome = outcome_of(result, error)
        if record is None or outcome == "interrupted":
            return  # stays `running`: resume=true continues it
        if result and OBJECTIVE in result and "epoch" in result and math.isfinite(float(result[OBJECTIVE])):
            record.values[str(int(result["epoch"]))] = float(result[OBJECTIVE])
        record.status = outcome
        self.records.put(record)


class ResumedTrials(Wrapper):
    """The interrupted launch's unfinished trials first, then `searcher` (None: nothing more to propose)."""

    def __init__(self, searcher: Searcher | None, launch_records: list[TrialRecord], seeds: int,
                 ot_study: optuna.Study | None):
        super().__init__(searcher)
        self.ot_study, self.seeds = ot_study, seeds
        self.queue = [dict(r.config) for r in launch_records if not r.ended] + missing_seeds(launch_records, seeds)
        self.mine: dict[str, dict] = {}  # Tune trial id -> config
        # a repeated configuration (seeds > 1): Optuna number -> seed index -> final objective (None: failed)
        self.finals: dict[int, dict[int, float | None]] = {}
        for r in launch_records:
            if r.ended and r.number is not None:
                final = r.epochs()[-1][1] if r.status == "complete" and r.values else None
                self.finals.setdefault(r.number, {})[int(r.config.get(REPEAT_INDEX, 0))] = final

    def suggest(self, trial_id: str):
        if self.queue:
            self.mine[trial_id] = self.queue.pop(0)
            return dict(self.mine[trial_id])
        return self.inner.suggest(trial_id) if self.inner is not None else Searcher.FINISHED

    def ot_trial(self, config: dict):
        number = config.get(OPTUNA_NUMBER)
        if number is None or self.ot_study is None:
            return None
        trial_id = self.ot_study._storage.get_trial_id_from_study_id_trial_number(self.ot_study._study_id, number)
        return optuna.trial.Trial(self.ot_study, trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self.mine:
            return self.inner.on_trial_result(trial_id, result) if self.inner is not None else None
        ot_trial = self.ot_trial(self.mine[trial_id])
        if ot_trial is not None and self.seeds == 1 and OBJECTIVE in result:
            report_value(ot_trial, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.mine:
            if self.inner is not None:
                self.inner.on_trial_complete(trial_id, result=result, error=error)
            return
        config = self.mine.pop(trial_id)
        ot_trial = self.ot_trial(config)
        outcome = outcome_of(result, error)
        if ot_trial is None or outcome == "interrupted":
            return
        if self.seeds == 1:
            return tell_outcome(self.ot_study, ot_trial, result, error)
        group = self.finals.setdefault(config[OPTUNA_NUMBER], {})
        group[int(config.get(REPEAT_INDEX, 0))] = float(result[OBJECTIVE]) if outcome == "complete" else None
        if len(group) == self.seeds:  # every seed has ended: the configuration's one objective (tuning/results/seeds.py)
            mean = configuration_value(list(group.values()))
            tell_outcome(self.ot_study, ot_trial, {OBJECTIVE: mean, FINAL: True} if mean is not None else None,
                         error=mean is None)


def missing_seeds(launch_records: list[TrialRecord], seeds: int) -> list[dict]:
    """Configs of the seeds of a repeated configuration that the interrupted launch had not started yet."""
    if seeds <= 1:
        return []
    by_number: dict[int, list[TrialRecord]] = {}
    for r in launch_records:
        if r.number is not None and r.stage == "search":
            by_number.setdefault(r.number, []).append(r)
    missing = []
    for number, group in sorted(by_number.items()):
        present = {int(r.config.get(REPEAT_INDEX, 0)) for r in group}
        template = {k: v for k, v in group[0].config.items() if k != TRIAL_KEY}
        missing += [dict(template, **{REPEAT_INDEX: i}) for i in range(seeds) if i not in present]
    return missing


def first_number(trials_before: int, records: TrialRecords) -> int:
    """The number of the next new trial: after every trial MLflow and the storage know of."""
    return max(trials_before, records.highest_number()) + 1

