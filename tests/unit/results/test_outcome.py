"""One rule for how a trial ended (tuning/results/outcome.py), read by the trial records and the MLflow writer."""
import pytest

from tuning.results.objective import FINAL, OBJECTIVE
from tuning.results.outcome import STOPPING, outcome_of

LAST_OF_A_FINISHED_TRIAL = {OBJECTIVE: 3.1, "epoch": 4, FINAL: True}
LAST_OF_A_STOPPED_TRIAL = {OBJECTIVE: 3.9, "epoch": 1, FINAL: False}


@pytest.fixture
def stopping():
    STOPPING.set()
    yield
    STOPPING.clear()


def test_without_a_stop_signal_a_trial_is_complete_stopped_or_failed():
    assert outcome_of(LAST_OF_A_FINISHED_TRIAL) == "complete"
    assert outcome_of(LAST_OF_A_STOPPED_TRIAL) == "stopped"  # ASHA ended it before its final evaluation
    assert outcome_of(LAST_OF_A_STOPPED_TRIAL, error=True) == "failed"
    assert outcome_of(None) == "failed"  # it never reported


def test_after_the_stop_signal_only_a_trial_short_of_its_final_evaluation_is_interrupted(stopping):
    assert outcome_of(LAST_OF_A_STOPPED_TRIAL) == "interrupted"  # not ASHA's: resume continues it
    assert outcome_of(None) == "interrupted"  # stopped before its first report
    assert outcome_of(LAST_OF_A_FINISHED_TRIAL) == "complete"  # it reached its end before the stop took hold
    assert outcome_of(LAST_OF_A_STOPPED_TRIAL, error=True) == "failed"  # an error is an error, signal or not


def test_a_result_without_a_finite_objective_is_failed():
    assert outcome_of({OBJECTIVE: float("nan"), "epoch": 4, FINAL: True}) == "failed"
    assert outcome_of({"epoch": 4, FINAL: True}) == "failed"

