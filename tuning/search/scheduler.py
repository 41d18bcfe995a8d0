"""The trial scheduler: ASHA (Li et al. 2020) keyed by the platform's trial keys, its rungs rebuilt on resume.

Ray's ASHA keeps its rungs (the objective each trial had at each milestone) in memory. A resumed launch
starts a new Tune experiment (tuning/search/resume.py), so those rungs are rebuilt from the values the trials'
records hold in the study's storage (tuning/state/trial_records.py), and the scheduler knows trials by their key,
not by Tune's id (which a resumed trial does not keep): a resumed trial that had passed a milestone is not
judged there again, and a new trial is judged against every value recorded before the interruption, as it
would have been without one. `tests/unit/search/test_scheduler.py` measures that on simulated studies.
"""
from __future__ import annotations

from dataclasses import dataclass

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from tuning.state.trial_records import TrialRecord
from tuning.study.study import Study
from tuning.study.trial_keys import TRIAL_KEY


@dataclass
class Keyed:
    """What ASHA needs of a trial: its id (here the platform's key) and its config."""
    trial_id: str
    config: dict


def keyed(trial) -> Keyed:
    return Keyed(trial.config.get(TRIAL_KEY, trial.trial_id), trial.config)


class StudyASHA(ASHAScheduler):
    """ASHA that never stops a run of the reference settings. Their seeds are the study's noise floor
    (tuning/results/objective.py), which must be measured on the objective itself, at the final evaluation; their
    results still count at every rung, so other trials are judged against them."""

    def __init__(self, study: Study, stored: list[TrialRecord] = (), **kwargs):
        super().__init__(**kwargs)
        self._study = study
        self._stored = list(stored)  # the interrupted launch's records, replayed into the rungs once

    def _rebuild(self) -> None:
        if not self._stored:
            return
        (bracket,) = self._brackets  # ASHAScheduler: one bracket
        for record in self._stored:
            trial = Keyed(record.key, record.config)
            for epoch, value in record.epochs():  # as the live run recorded them, decisions discarded
                bracket.on_result(trial, epoch, self._metric_op * value)
        self._stored = []

    def on_trial_add(self, tune_controller, trial) -> None:
        self._rebuild()
        super().on_trial_add(tune_controller, keyed(trial))

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, keyed(trial), result)
        if decision == self.STOP and result.get("epoch", 0) < self._max_t and self._study.is_reference(trial.config):
            return self.CONTINUE
        return decision

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        super().on_trial_complete(tune_controller, keyed(trial), result)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._trial_info.pop(keyed(trial).trial_id, None)


def make_scheduler(study: Study, stored: list[TrialRecord] = ()):
    """ASHA (`study.scheduler=asha`) or none; `stored`: the records of the launch being resumed."""
    s = study.launch.study
    if s.scheduler == "none":
        return FIFOScheduler()
    max_t = study.base_config().total_epochs
    # metric and mode come from TuneConfig (metric="objective"): Ray refuses them in both places
    return StudyASHA(study, stored, time_attr="epoch", max_t=max_t, grace_period=min(s.grace_period, max_t),
                     reduction_factor=s.reduction_factor)
