"""The brute-force grid as a tabular benchmark (the practice of HPOBench and NAS-Bench-201): searchers run
on stored results instead of training, so each can be repeated many times and compared with ground truth.

The table: every grid cell (lambda_cyc x lambda_id of studies/tuner_check.yaml) x its seeds, each run's
final objective (tiny-backbone fid) and ground truth (gt, the L1 distance to the true images). A searcher
proposes points in the study's own continuous space (`tuning.search.optuna_search.SearchSpace`, the sampler built by
`tuning.search.optuna_search.make_sampler`, i.e. exactly the settings studies use); a proposal is evaluated as the
nearest grid cell (lambda_cyc on a log scale, as the space is loguniform; lambda_id linearly) and returns
the objective of one of that cell's seeds drawn at random: the searcher sees one noisy run per trial, as in
a study. As in a study, the reference settings are evaluated first, `baseline_seeds` times (enqueued, they
count in the budget), and the pick is the trial with the best observed objective (what `best=true` marks
with study.seeds = 1). Its regret is the ground truth of the cell it picked (mean over all seeds) minus that
of the best cell, and it is "within noise of the best cell" unless the noise rule (tuning/results/objective.py)
calls one run of it worse than the best cell's seeds (the pick is one run, as the study's best trial is).
Regret in the objective (the picked cell's mean objective minus the best objective cell's) is reported too:
it separates how well the searcher optimises what it is given from how well that agrees with the truth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import optuna

REFERENCE = (10.0, 5.0)


@dataclass
class Table:
    """Final objective and ground truth of every stored run, by cell."""
    cells: list[tuple[float, float]]
    objective: dict[tuple[float, float], list[float]]
    truth: dict[tuple[float, float], list[float]]

    @classmethod
    def of(cls, runs: list[dict]) -> "Table":
        objective, truth = {}, {}
        for run in runs:
            cell = (float(run["lambda_cyc"]), float(run["lambda_id"]))
            objective.setdefault(cell, []).append(run["epochs"][-1]["fid"])
            truth.setdefault(cell, []).append(run["epochs"][-1]["gt"])
        return cls(sorted(objective), objective, truth)

    def truth_mean(self, cell) -> float:
        return float(np.mean(self.truth[cell]))

    def objective_mean(self, cell) -> float:
        return float(np.mean(self.objective[cell]))

    @property
    def best_cell(self) -> tuple[float, float]:
        return min(self.cells, key=self.truth_mean)

    @property
    def best_objective_cell(self) -> tuple[float, float]:
        return min(self.cells, key=self.objective_mean)

    def nearest(self, lambda_cyc: float, lambda_id: float) -> tuple[float, float]:
        cycs = sorted({c for c, _ in self.cells})
        ids = sorted({i for _, i in self.cells})
        cyc = min(cycs, key=lambda c: abs(math.log(c) - math.log(lambda_cyc)))
        lid = min(ids, key=lambda i: abs(i - lambda_id))
        return cyc, lid


def run_search(table: Table, sampler: optuna.samplers.BaseSampler, space, budget: int, reference_seeds: int,
               rng: np.random.Generator) -> tuple[float, float]:
    """One search of `budget` evaluations; (objective, cell) of the trial it ranks best."""
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for _ in range(min(reference_seeds, budget)):
        study.enqueue_trial({"loss.lambda_cyc": REFERENCE[0], "loss.lambda_id": REFERENCE[1]})
    picks = []
    for _ in range(budget):
        trial = study.ask()
        space(trial)
        cell = table.nearest(trial.params["loss.lambda_cyc"], trial.params["loss.lambda_id"])
        value = float(rng.choice(table.objective[cell]))
        study.tell(trial, value)
        picks.append((value, cell))
    return min(picks)


def compare_searchers(table: Table, samplers: dict, space, budgets: list[int], repetitions: int,
                      reference_seeds: int) -> dict:
    """{searcher: {budget: summary}}: mean regret in ground truth ± its SE over repetitions, and P(within the
    noise of the best cell). `samplers`: name -> function(repetition) -> a fresh sampler."""
    from tuning.results.objective import NoiseFloor, compare
    best = table.best_cell
    floor = NoiseFloor.of(table.truth[best])
    out = {}
    for name, make in samplers.items():
        out[name] = {}
        for budget in budgets:
            regrets, objective_regrets, within, cells = [], [], [], []
            for rep in range(repetitions):
                rng = np.random.default_rng(10_000 * budget + rep)  # the same noise draws for every searcher
                _, cell = run_search(table, make(rep), space, budget, reference_seeds, rng)
                regrets.append(table.truth_mean(cell) - table.truth_mean(best))
                objective_regrets.append(table.objective_mean(cell) - table.objective_mean(table.best_objective_cell))
                verdict = compare(table.truth_mean(cell), None, floor, "min")
                within.append(cell == best or verdict.verdict != "worse")
                cells.append(cell)
            out[name][budget] = {"mean_regret": float(np.mean(regrets)),
                                 "regret_se": float(np.std(regrets, ddof=1) / math.sqrt(repetitions)),
                                 "p_within_noise": float(np.mean(within)),
                                 "p_within_noise_se": float(math.sqrt(np.mean(within) * (1 - np.mean(within))
                                                                      / repetitions)),
                                 "p_best_cell": float(np.mean([c == best for c in cells])),
                                 "mean_objective_regret": float(np.mean(objective_regrets)),
                                 "objective_regret_se": float(np.std(objective_regrets, ddof=1) / math.sqrt(repetitions))}
    return out
