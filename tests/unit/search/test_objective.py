"""The noise rule (tuning/results/objective.py) against hand computation, and the searcher's Optuna states."""
import math

import optuna
import pytest
from scipy import stats

from tuning.results.objective import NoiseFloor, compare, paired_difference
from tuning.search.optuna_search import StudySearch, SearchSpace, make_sampler
from tuning.state.storage import optuna_storage
from tuning.study.trial_keys import REPEAT_INDEX
from tuning.study.loading import load_study


def test_a_difference_inside_the_seed_noise_is_not_a_win():
    floor = NoiseFloor.of([10.0, 10.5, 9.5], eval_ses=[0.1, 0.1, 0.1])   # sigma 0.5 over 3 seeds
    half = stats.t.ppf(0.975, 2) * math.hypot(0.5, 0.5 / math.sqrt(3))   # = 2.48
    inside = compare(8.0, 0.1, floor, "min")
    assert inside.half_width == pytest.approx(half) and inside.difference == pytest.approx(-2.0)
    assert inside.verdict == "indistinguishable" and not inside.is_finding
    assert compare(7.0, 0.1, floor, "min").verdict == "better"
    assert compare(13.0, 0.1, floor, "min").verdict == "worse"
    assert compare(13.0, 0.1, floor, "max").verdict == "better"


def test_evaluation_noise_counts_where_it_exceeds_the_seed_spread():
    floor = NoiseFloor.of([10.0, 10.0, 10.0], eval_ses=[0.0])             # seeds agree exactly
    c = compare(9.0, 0.6, floor, "min")                                      # but this evaluation is noisy
    assert c.half_width == pytest.approx(stats.t.ppf(0.975, 2) * 0.6) and c.verdict == "indistinguishable"


def test_one_reference_seed_never_gives_a_verdict_beyond_the_evaluation_noise():
    floor = NoiseFloor.of([10.0], eval_ses=[0.05])
    assert compare(10.05, 0.05, floor, "min").verdict == "indistinguishable"
    far = compare(5.0, 0.05, floor, "min")  # far beyond evaluation noise, but seed noise is unknown
    assert far.verdict == "seed noise unknown" and not far.is_finding
    assert "not measured" in floor.describe("fid")
    assert compare(5.0, 0.05, NoiseFloor.of([]), "min").verdict == "unknown"


def test_a_consistent_paired_shift_is_found_where_an_unpaired_test_sees_nothing():
    """Arms sharing a seed share initial weights and data order: the seed effect cancels in the pairs."""
    full, arm = [10.0, 20.0, 30.0], [12.0, 22.2, 32.1]
    paired = paired_difference([a - f for a, f in zip(arm, full)], "min")
    assert paired.difference == pytest.approx(2.1)
    assert paired.half_width == pytest.approx(stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3))
    assert paired.verdict == "worse"
    welch = stats.ttest_ind(arm, full, equal_var=False)
    assert welch.pvalue > 0.5  # judged unpaired, the same numbers show nothing
    assert paired_difference([2.0, 2.2], "min").verdict == "not enough seeds"
    assert paired_difference([0.5, -0.4, 0.1], "min").verdict == "indistinguishable"


def test_the_searcher_stores_stopped_trials_pruned_and_seeds_the_reference(tmp_path):
    """Real Optuna storage; the calls are the ones Ray Tune makes (no Ray cluster needed)."""
    study = load_study("smoke", ["study.baseline_seeds=3"])
    storage = optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    searcher = StudySearch(space=SearchSpace(study), metric="objective", mode="min", sampler=make_sampler(study),
                           study_name="smoke", storage=storage, baseline_points=[study.baseline_point()] * 3)
    configs = {tid: searcher.suggest(tid) for tid in ("r0", "r1", "r2", "x")}
    assert [configs[t].get(REPEAT_INDEX, 0) for t in ("r0", "r1", "r2")] == [0, 1, 2]  # three reference seeds
    assert all(configs[t]["loss.lambda_cyc"] == 10.0 for t in ("r0", "r1", "r2")) and REPEAT_INDEX not in configs["x"]
    for epoch, value in ((1, 5.0), (2, 4.0)):
        searcher.on_trial_result("x", {"objective": value, "epoch": epoch, "training_iteration": 7})
    searcher.on_trial_complete("x", {"objective": 3.5, "epoch": 3, "final": False})      # ASHA stopped it:
    # Ray hands the result that stops a trial to on_trial_complete alone; it is the value at the stop
    searcher.on_trial_result("r0", {"objective": 3.0, "epoch": 4})
    searcher.on_trial_complete("r0", {"objective": 3.0, "epoch": 4, "final": True})      # ran to the end
    searcher.on_trial_complete("r1", None, error=True)
    searcher.on_trial_complete("r2", {"objective": 2.5, "final": True})  # what SeedRepeater sends: the mean over seeds
    numbers = {tid: config["__optuna_number__"] for tid, config in configs.items()}  # each config names its trial
    trials = {tid: optuna.load_study(study_name="smoke", storage=storage).trials[n] for tid, n in numbers.items()}
    assert trials["x"].state == optuna.trial.TrialState.PRUNED
    assert trials["x"].value == 3.5 and trials["x"].intermediate_values == {1: 5.0, 2: 4.0, 3: 3.5}  # step = epoch
    assert trials["r0"].state == optuna.trial.TrialState.COMPLETE and trials["r0"].value == 3.0
    assert trials["r1"].state == optuna.trial.TrialState.FAIL
    assert trials["r2"].state == optuna.trial.TrialState.COMPLETE and trials["r2"].value == 2.5
    searcher.on_trial_complete("x", {"objective": 9.0, "final": True})  # a replay after a restart: ignored
    assert optuna.load_study(study_name="smoke", storage=storage).trials[3].value == 3.5


def test_a_configuration_on_two_seeds_is_one_optuna_trial_with_the_mean_per_epoch(tmp_path):
    """study.seeds=2 through the searcher the launcher builds (ConcurrencyLimiter > SeedRepeater > StudySearch),
    with the calls Ray Tune makes: the Optuna trial's intermediate values are the per-epoch means once both
    seeds reached the epoch, and its value the mean of the final values."""
    from tuning.search.optuna_search import make_searcher
    study = load_study("smoke", ["study.seeds=2", "study.num_samples=2"])
    storage = optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    searcher = make_searcher(study, storage, launch="L")
    searcher.set_search_properties("objective", "min", {})
    configs = {tid: searcher.suggest(tid) for tid in ("a0", "a1")}
    assert [configs[t][REPEAT_INDEX] for t in ("a0", "a1")] == [0, 1]
    assert configs["a0"]["loss.lambda_cyc"] == configs["a1"]["loss.lambda_cyc"]  # one configuration, two seeds
    searcher.on_trial_result("a0", {"objective": 6.0, "epoch": 1})
    searcher.on_trial_result("a0", {"objective": 4.0, "epoch": 2, "final": True})
    searcher.on_trial_complete("a0", {"objective": 4.0, "epoch": 2, "final": True})
    trial = optuna.load_study(study_name="smoke", storage=storage).trials[0]
    assert trial.intermediate_values == {} and trial.state == optuna.trial.TrialState.RUNNING  # seed 1 not there yet
    searcher.on_trial_result("a1", {"objective": 8.0, "epoch": 1})
    searcher.on_trial_complete("a1", {"objective": 5.0, "epoch": 2, "final": True})  # its last result: here only
    trial = optuna.load_study(study_name="smoke", storage=storage).trials[0]
    assert trial.intermediate_values == {1: 7.0, 2: 4.5}
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == 4.5
