"""The tuner check's tabular benchmark (benchmarks/tabular_search.py) and its published figures."""
import json
import sys

import numpy as np
import optuna
import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from tabular_search import REFERENCE, Table, compare_searchers, run_search  # noqa: E402
from tuner_check import markdown  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "tuner_check.json"


def toy_table() -> Table:
    """A 3 x 4 grid where the truth is lowest at (1, 40) and the objective agrees, 3 seeds per cell."""
    runs = []
    for c in (1.0, 10.0, 30.0):
        for i in (0.0, 5.0, 20.0, 40.0):
            for seed, noise in enumerate((0.0, 0.01, -0.01)):
                gt = 0.2 - i / 400 + c / 1000 + noise / 10
                runs.append({"lambda_cyc": c, "lambda_id": i, "seed": seed, "epochs": [{"fid": gt * 10 + noise, "gt": gt}]})
    return Table.of(runs)


def test_proposals_are_answered_by_the_nearest_cell_and_the_reference_runs_first():
    table = toy_table()
    assert table.nearest(3.1, 12.0) == (1.0, 5.0)      # log scale: the middle of 1 and 10 is 3.16
    assert table.nearest(3.3, 13.0) == (10.0, 20.0)
    assert table.best_cell == (1.0, 40.0) == table.best_objective_cell
    study_values = []
    sampler = optuna.samplers.RandomSampler(seed=0)

    def space(trial):
        trial.suggest_float("loss.lambda_cyc", 1, 30, log=True)
        trial.suggest_float("loss.lambda_id", 0, 40)
        study_values.append((trial.params["loss.lambda_cyc"], trial.params["loss.lambda_id"]))
    value, cell = run_search(table, sampler, space, 6, 3, np.random.default_rng(0))
    assert len(study_values) == 6 and study_values[:3] == [REFERENCE] * 3  # 3 reference seeds, in the budget
    assert value in table.objective[cell]  # one stored run of the cell it picked


def test_searchers_are_scored_by_regret_in_truth():
    table = toy_table()
    always_reference = {"fixed": lambda rep: optuna.samplers.PartialFixedSampler(
        {"loss.lambda_cyc": 10.0, "loss.lambda_id": 5.0}, optuna.samplers.RandomSampler(seed=rep))}

    def space(trial):
        trial.suggest_float("loss.lambda_cyc", 1, 30, log=True)
        trial.suggest_float("loss.lambda_id", 0, 40)
    result = compare_searchers(table, always_reference, space, [4], 3, 1)["fixed"][4]
    expected = table.truth_mean(REFERENCE) - table.truth_mean(table.best_cell)
    assert result["mean_regret"] == pytest.approx(expected) and result["p_best_cell"] == 0.0


@pytest.mark.skipif(not RESULTS.is_file(), reason="benchmarks/results/tuner_check.json not present")
def test_the_published_figures_are_the_ones_the_results_file_gives():
    result = json.loads(RESULTS.read_text())
    assert result["searchers"]["repetitions"]["tpe"] >= 50 and result["searchers"]["repetitions"]["random"] >= 50
    assert len(result["grid"]["commit"]) == 40 and len(result["analysis"]["commit"]) == 40
    assert len(result["landscape"]["seeds"]) >= 5 and set(result["searchers"]["budgets"]) >= {"8", "16", "32"}
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    assert markdown(result) in readme, "benchmarks/README.md is out of date: python benchmarks/tuner_check.py --markdown"
