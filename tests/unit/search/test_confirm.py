"""The confirmation stage's plan (tuning/search/confirm.py) on a real Optuna storage, and its race (tuning/results/race.py)."""
import random

import optuna
import pytest

from tuning.search.confirm import CONFIRMATIONS, look_configs, plan, record_round
from tuning.results.race_design import budget, design, race_of
from tuning.study.trial_keys import RACE, ROUND, STAGE
from tuning.results.race import RaceDesign, detectable_gain, power, replay, runs_spent
from tuning.state.storage import optuna_storage
from tuning.study.study import planned_trials
from tuning.study.trial_keys import REPEAT_INDEX
from tuning.study.loading import load_study


def finished(optuna_study, params: dict, value: float) -> None:
    dists = {k: optuna.distributions.FloatDistribution(0, 100) for k in params}
    optuna_study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value))


def test_confirmation_races_the_top_and_the_reference_on_seeds_no_search_trial_used(tmp_path):
    study = load_study("lambda_sweep", ["study.confirm_top=2", "study.confirm_seeds=3", "study.seeds=1"])
    storage = optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    ot = optuna.create_study(study_name="lambda_sweep", storage=storage)
    finished(ot, {"loss.lambda_cyc": 10.0, "loss.lambda_id": 5.0}, 1.0)   # the reference: best, but not a candidate
    for value, lcyc in ((3.0, 2.0), (2.0, 4.0), (2.5, 6.0), (2.0, 4.0)):   # (4, x) twice: one configuration
        finished(ot, {"loss.lambda_cyc": lcyc, "loss.lambda_id": 1.0}, value)
    round_, top, reference = plan(study, ot)
    assert round_ == 0 and [t["loss.lambda_cyc"] for t in top] == [4.0, 6.0] and study.is_reference(reference)
    race = design(study, len(top))
    assert race.budget == budget(study) == round(0.65 * study.num_trials)  # confirm_budget=0: sized from the search
    configs = look_configs(study, round_, race, [reference, *top], race.looks[0])
    assert len(configs) == 3 * 3 and all(c[STAGE] == "confirm" and c[ROUND] == 0 and c[RACE] for c in configs)
    base, s = study.base_config().train.seed, study.launch.study
    search_seeds = {t["seed"] for t in planned_trials(study)} | {base + o for o in range(max(s.seeds, s.baseline_seeds))}
    fresh = {study.seed_of(c) for c in configs}
    assert len(fresh) == 3 and not fresh & search_seeds
    for offset in {c[REPEAT_INDEX] for c in configs}:  # each fresh seed: the reference and both candidates
        same = [c for c in configs if c[REPEAT_INDEX] == offset]
        assert sum(study.is_reference(c) for c in same) == 1 and len(same) == 3
    record_round(ot, round_, top, "launch-1")
    assert plan(study, ot) is None  # a continuation whose top did not change confirms nothing again
    finished(ot, {"loss.lambda_cyc": 8.0, "loss.lambda_id": 1.0}, 1.5)
    again = plan(study, ot)
    assert again[0] == 1 and [t["loss.lambda_cyc"] for t in again[1]] == [8.0, 4.0]
    later = look_configs(study, again[0], race, [reference, *again[1]], race.looks[-1])
    assert not {study.seed_of(c) for c in later} & fresh  # a new round, new seeds
    assert optuna.load_study(study_name="lambda_sweep", storage=storage).user_attrs[CONFIRMATIONS][0]["launch"] == "launch-1"


def test_off_or_nothing_to_confirm(tmp_path):
    ot = optuna.create_study()
    assert plan(load_study("lambda_sweep", ["study.confirm_top=0"]), ot) is None
    assert plan(load_study("lambda_sweep"), ot) is None  # no complete trial yet


def test_the_race_stops_when_it_knows_and_drops_what_is_not_ahead():
    race = RaceDesign(candidates=2, first=3, step=3, budget=24)
    assert race.looks == [3, 6, 8] and sum(race.level(k) for k in range(3)) == pytest.approx(0.05)
    rng = random.Random(3)
    ref = {s: 10 + rng.gauss(0, 0.1) for s in range(8)}
    good = {s: ref[s] - 1.0 + rng.gauss(0, 0.05) for s in range(8)}     # clearly better on every seed
    worse = {s: ref[s] + 0.5 + rng.gauss(0, 0.05) for s in range(8)}
    result = replay(ref, {("good",): good, ("worse",): worse}, race, "min")
    assert result.status == "confirmed" and result.winner.key == ("good",) and result.looks_done == 1
    assert [c.status for c in result.candidates] == ["better", "not shown"]
    assert runs_spent(result) == 9  # stopped at the first look: 3 configurations x 3 seeds
    # nothing better: the worse candidate drops at the first look, and the race ends there
    result = replay(ref, {("worse",): worse}, RaceDesign(1, 3, 3, 16), "min")
    assert result.status == "not shown" and result.winner.key == ("reference",)
    assert result.candidates[0].status == "dropped" and result.seeds == [0, 1, 2]
    # a look is judged only once its seeds have run: the launcher asks for the next look's seeds
    running = replay(ref, {("good",): good}, RaceDesign(1, 3, 3, 16), "min", seeds=[0, 1])
    assert running.status == "running" and running.next_seeds == 3


def test_a_dropped_candidate_costs_only_the_seeds_it_ran():
    """The launcher runs only the survivors after a look, so the runs a race spent (the power benchmark's
    'mean confirmation runs') count a dropped candidate's seeds up to its drop, even when the data hold more
    (the benchmark draws every seed up front)."""
    rng = random.Random(5)
    ref = {s: 10 + rng.gauss(0, 1.0) for s in range(9)}
    slightly = {s: ref[s] - 0.3 + rng.gauss(0, 1.0) for s in range(9)}   # ahead, not shown better at once
    behind = {s: ref[s] + 2.0 + rng.gauss(0, 0.1) for s in range(9)}     # drops at the first look
    result = replay(ref, {("slightly",): slightly, ("behind",): behind}, RaceDesign(2, 3, 3, 27), "min")
    dropped = next(c for c in result.candidates if c.key == ("behind",))
    assert dropped.status == "dropped" and dropped.look == 0 and result.looks_done >= 2
    n = len(result.seeds)
    assert runs_spent(result) == 2 * n + 3  # reference and survivor on every judged seed, the dropped one on 3


def test_the_race_replayed_from_runs_names_the_most_typical_run():
    ref, good = ("ref",), ("good",)
    rows = [(ref, s, 10.0 + d, f"r{s}", True) for s, d in enumerate((0.0, 0.4, -0.3, 0.2))]
    rows += [(good, s, 8.0 + d + 0.01 * s, f"g{s}", False) for s, d in enumerate((0.0, 0.4, -0.3, 0.2))]
    result = race_of(rows, "min", RaceDesign(1, 3, 1, 8))
    assert result.status == "confirmed" and result.winner.key == good and result.winner.run in {"g0", "g1", "g2"}
    assert result.reference.key == ref and result.winner.mean == pytest.approx(8.0 + (0.0 + 0.41 - 0.28) / 3)


def test_a_race_under_the_null_calls_better_no_more_often_than_its_level():
    """Simulated: 3 candidates no better than the reference (unequal seed noise, as on the tuner-check grid);
    the race calls one of them better at most ALPHA of the time (union bound over looks, Holm within)."""
    rng, race, false = random.Random(7), RaceDesign(3, 3, 2, 36), 0
    studies = 1500
    for _ in range(studies):
        ref = {s: rng.gauss(0, 1) for s in range(race.max_seeds)}
        cands = {(i,): {s: rng.gauss(0, sd) for s in range(race.max_seeds)} for i, sd in enumerate((0.3, 1.0, 2.3))}
        false += replay(ref, cands, race, "min").status == "confirmed"
    assert false / studies <= 0.05 + 2 * (0.05 * 0.95 / studies) ** 0.5


def test_the_smallest_detectable_gain_is_what_the_power_says():
    race = RaceDesign(1, 3, 2, 20)
    gain = detectable_gain(0.2, race)
    assert power(gain, 0.2, race) == pytest.approx(0.8, abs=1e-3)
    assert detectable_gain(0.2, RaceDesign(1, 3, 2, 40)) < gain  # more budget, smaller gains seen
    assert detectable_gain(0.4, race) == pytest.approx(2 * gain, rel=1e-3)  # in the units of the noise


def test_target_effect_sizes_the_budget_so_the_race_detects_it():
    """study.target_effect: the smallest budget whose race detects that gain with 80 % power at the study's
    measured seed noise; a larger target needs fewer runs; until the noise is measured, the default share."""
    plain = load_study("lambda_sweep")
    study = load_study("lambda_sweep", ["study.target_effect=0.5"])
    assert budget(study) == budget(plain)  # sigma not measured yet
    sized = budget(study, sigma=0.2)
    assert detectable_gain(0.2, design(study, sigma=0.2)) <= 0.5
    smaller = RaceDesign(2, 3, 3, sized - 3)  # one seed fewer for each arm: no longer enough
    assert detectable_gain(0.2, smaller) > 0.5
    assert budget(load_study("lambda_sweep", ["study.target_effect=1.0"]), sigma=0.2) < sized
    tiny = budget(load_study("lambda_sweep", ["study.target_effect=0.001"]), sigma=0.2)
    assert tiny == 3 * study.num_trials  # capped at 3 x the search's trials (confirm.TARGET_CAP)


def test_a_resumed_race_keeps_the_design_it_started_with(tmp_path):
    """The noise model learns from every run, so a design recomputed on resume could differ from the one the
    round's trials were started with; the round's stored design wins."""
    from tuning.results.race_design import design_text, stored_design
    from tuning.state.trial_records import TrialRecord
    started = RaceDesign(2, 3, 3, 30)
    record = TrialRecord("t0050", "lambda_sweep", "confirm", {"loss.lambda_cyc": 4.0, ROUND: 1, RACE: design_text(started),
                                                              REPEAT_INDEX: 1100, STAGE: "confirm"})
    assert stored_design([record], 1) == started
    assert stored_design([record], 0) is None


def test_a_candidate_barely_ahead_drops_out_and_one_half_a_standard_error_ahead_stays():
    """The race's drop rule (tuning/results/race.DROP_T): after a look without a confirmation a candidate must
    be ahead of the reference by half of its own paired standard errors to keep racing; merely ahead drops."""
    from tuning.results.race import DROP_T, ahead
    ref = {s: 10.0 for s in range(6)}
    barely = {0: 9.9, 1: 10.1, 2: 9.95}        # gain 0.0167, paired SE 0.06: 0.28 SE ahead
    clearly = {0: 9.8, 1: 10.05, 2: 9.85}      # gain 0.1, paired SE 0.076: 1.3 SE ahead, not shown better
    diffs = [barely[s] - ref[s] for s in range(3)]
    assert not ahead(diffs, "min") and ahead([-d for d in diffs], "max") is False
    assert ahead([clearly[s] - ref[s] for s in range(3)], "min")
    result = replay(ref, {("barely",): barely, ("clearly",): clearly}, RaceDesign(2, 3, 3, 18), "min",
                    seeds=[0, 1, 2])
    status = {c.key: c.status for c in result.candidates}
    assert status[("barely",)] == "dropped" and status[("clearly",)] == "racing" and DROP_T == 0.5
    assert result.status == "running" and result.next_seeds == 6
