"""A repeated configuration (study.seeds > 1) gets one Optuna outcome, whatever order its seeds end in."""
import itertools

import pytest
from ray.tune.search import Searcher

from tuning.results.objective import FINAL, OBJECTIVE
from tuning.search.optuna_search import SeedRepeater
from tuning.results.seeds import configuration_value


class Recorder(Searcher):
    """The searcher behind the repeater (stands for StudySearch, which tells Optuna): records what it is told."""

    def __init__(self):
        super().__init__(metric=OBJECTIVE, mode="min")
        self.told = []

    def suggest(self, trial_id):
        return {"loss.lambda_cyc": 3.0}

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.told.append((trial_id, None if result is None else result.get(OBJECTIVE), error))


def outcome(order: list[int], ends: dict) -> list:
    inner = Recorder()
    repeater = SeedRepeater(inner, repeat=3, set_index=True)
    for i in range(3):
        repeater.suggest(f"seed{i}")
    for i in order:
        result, error = ends[i]
        repeater.on_trial_complete(f"seed{i}", result=result, error=error)
    return inner.told


@pytest.mark.parametrize("failed", [0, 1, 2])
def test_a_failed_seed_gives_the_same_state_whichever_seed_ends_last(failed):
    ends = {i: ({OBJECTIVE: 2.0 + i, FINAL: True, "epoch": 4}, False) for i in range(3)}
    ends[failed] = ({OBJECTIVE: 9.0, FINAL: False, "epoch": 1}, True)  # crashed after its first evaluation
    told = {tuple(outcome(list(order), ends)) for order in itertools.permutations(range(3))}
    assert len(told) == 1  # one outcome for all six orders
    [(primary, value, error)] = told.pop()
    others = [2.0 + i for i in range(3) if i != failed]
    assert primary == "seed0" and not error and value == pytest.approx(sum(others) / 2)  # the failed seed's 9.0 ignored


def test_every_seed_failed_is_a_failure_in_any_order():
    ends = {i: (None, True) for i in range(3)}
    for order in itertools.permutations(range(3)):
        assert outcome(list(order), ends) == [("seed0", None, True)]
    assert configuration_value([None, None]) is None and configuration_value([1.0, None, 3.0]) == 2.0
