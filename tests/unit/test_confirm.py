"""The confirmation stage's plan and verdicts (tuning/confirm.py) on a real Optuna storage."""
import optuna
import pytest

from tuning.confirm import CONFIRMATIONS, ROUND, STAGE, plan, record_round, verdicts, winner
from tuning.search import optuna_storage
from tuning.study import REPEAT_INDEX, load_study, planned_trials


def finished(optuna_study, params: dict, value: float) -> None:
    dists = {k: optuna.distributions.FloatDistribution(0, 100) for k in params}
    optuna_study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value))


def test_confirmation_runs_the_top_and_the_reference_on_seeds_no_search_trial_used(tmp_path):
    study = load_study("lambda_sweep", ["study.confirm_top=2", "study.confirm_seeds=3", "study.seeds=1"])
    storage = optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    ot = optuna.create_study(study_name="lambda_sweep", storage=storage)
    finished(ot, {"loss.lambda_cyc": 10.0, "loss.lambda_id": 5.0}, 1.0)   # the reference: best, but not a candidate
    for value, lcyc in ((3.0, 2.0), (2.0, 4.0), (2.5, 6.0), (2.0, 4.0)):   # (4, x) twice: one configuration
        finished(ot, {"loss.lambda_cyc": lcyc, "loss.lambda_id": 1.0}, value)
    round_, top, configs = plan(study, ot)
    assert round_ == 0 and [t["loss.lambda_cyc"] for t in top] == [4.0, 6.0]
    assert len(configs) == 3 * 3 and all(c[STAGE] == "confirm" and c[ROUND] == 0 for c in configs)
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
    assert not {study.seed_of(c) for c in again[2]} & fresh  # a new round, new seeds
    assert optuna.load_study(study_name="lambda_sweep", storage=storage).user_attrs[CONFIRMATIONS][0]["launch"] == "launch-1"


def test_off_or_nothing_to_confirm(tmp_path):
    ot = optuna.create_study()
    assert plan(load_study("lambda_sweep", ["study.confirm_top=0"]), ot) is None
    assert plan(load_study("lambda_sweep"), ot) is None  # no complete trial yet


def test_the_answer_is_a_candidate_confirmed_better_else_the_reference():
    ref, good, lucky = ("ref",), ("good",), ("lucky",)
    rows = [(ref, s, 10.0 + d, f"r{s}", True) for s, d in enumerate((0.0, 0.4, -0.3, 0.2))]
    rows += [(good, s, 8.0 + d + 0.01 * s, f"g{s}", False) for s, d in enumerate((0.0, 0.4, -0.3, 0.2))]
    rows += [(lucky, s, 9.9 + d, f"l{s}", False) for s, d in enumerate((0.5, -0.3, 0.1, 0.0))]
    reference, candidates = verdicts(rows, "min")
    assert [c.key for c in candidates] == [good, lucky] and reference.key == ref
    assert candidates[0].comparison.verdict == "better" and candidates[0].comparison.family == 2
    assert candidates[1].comparison.verdict == "indistinguishable"
    assert winner(reference, candidates, "min") is candidates[0]
    assert candidates[0].run in {"g0", "g1", "g2", "g3"} and candidates[0].mean == pytest.approx(8.09)
    only_lucky = [r for r in rows if r[0] != good]
    reference, candidates = verdicts(only_lucky, "min")
    assert winner(reference, candidates, "min") is reference  # nothing confirmed: the reference stays
