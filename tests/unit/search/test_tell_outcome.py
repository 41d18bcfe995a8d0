"""What the searchers tell Optuna when a trial ends: the state the one outcome rule gives (tuning/results/outcome.py)."""
import optuna
import pytest

from tuning.results.objective import FINAL, OBJECTIVE
from tuning.results.outcome import STOPPING
from tuning.search.optuna_search import tell_outcome

LAST_OF_A_FINISHED_TRIAL = {OBJECTIVE: 3.1, "epoch": 4, FINAL: True}
LAST_OF_A_STOPPED_TRIAL = {OBJECTIVE: 3.9, "epoch": 1, FINAL: False}


@pytest.mark.parametrize("signal", [False, True])
def test_optuna_is_told_the_state_the_rule_gives(signal):
    """The searchers tell Optuna through `tell_outcome`, which reads the rule: an interrupted trial stays
    RUNNING (resume=true continues it), a stopped one is PRUNED at its last value."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    cases = {"finished": (LAST_OF_A_FINISHED_TRIAL, False), "stopped": (LAST_OF_A_STOPPED_TRIAL, False),
             "error": (LAST_OF_A_STOPPED_TRIAL, True), "nan": ({OBJECTIVE: float("nan"), FINAL: True}, False)}
    trials = {name: study.ask() for name in cases}
    if signal:
        STOPPING.set()
    try:
        for name, (result, error) in cases.items():
            tell_outcome(study, trials[name], result, error)
    finally:
        STOPPING.clear()
    state = {name: study.trials[t.number].state.name for name, t in trials.items()}
    stopped = "RUNNING" if signal else "PRUNED"
    assert state == {"finished": "COMPLETE", "stopped": stopped, "error": "FAIL", "nan": "FAIL"}
    assert study.trials[trials["finished"].number].value == 3.1
