"""The study's state in its storage (issue 21, items 1, 3, 5), on a real Optuna storage and MLflow store.

- a resumed launch hands out the interrupted launch's unfinished trials with their stored configs and keys,
  and the seeds a repeated configuration had not started, and reports to their own Optuna trials;
- where results go is never taken from study.out_dir on resume;
- an MLflow experiment belongs to one storage."""
import json

import optuna
import pytest
from mlflow.tracking import MlflowClient

from cyclegan.configtools import UserError
from tuning.state.launches import launch_arguments, record_launch, with_stored_overrides
from tuning.search.resume import KeyedTrials, ResumedTrials
from tuning.search.optuna_search import make_searcher
from tuning.state.storage import optuna_storage
from tuning.study.trial_keys import REPEAT_INDEX
from tuning.study.loading import load_study
from tuning.state.trial_records import TrialRecords
from tuning.study.trial_keys import OPTUNA_NUMBER, TRIAL_KEY


def test_records_name_each_trial_and_a_resume_continues_the_unfinished_with_their_optuna_trials(tmp_path):
    study = load_study("smoke", [f"study.out_dir={tmp_path}"])
    storage = optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    records = TrialRecords(storage, "smoke")
    first = KeyedTrials(make_searcher(study, storage, launch="L1"), records, "L1", first_number=1)
    first.set_search_properties("objective", "min", {})
    configs = {tid: first.suggest(tid) for tid in ("a", "b", "c")}
    assert [configs[t][TRIAL_KEY] for t in "abc"] == ["t0001", "t0002", "t0003"]
    first.on_trial_result("a", {"objective": 5.0, "epoch": 1})
    first.on_trial_complete("a", {"objective": 4.0, "epoch": 2, "final": True})
    first.on_trial_result("b", {"objective": 6.0, "epoch": 1})  # then the launcher is stopped: b, c unfinished
    stored = {r.key: r for r in records.of_launch("L1")}
    assert stored["t0001"].status == "complete" and stored["t0001"].values == {"1": 5.0, "2": 4.0}
    assert stored["t0002"].status == stored["t0003"].status == "running" and stored["t0002"].values == {"1": 6.0}
    ot = optuna.load_study(study_name="smoke", storage=storage)
    assert [t.user_attrs["trial_key"] for t in ot.trials] == ["t0001", "t0002", "t0003"]

    # resume=true: a new searcher built from the records alone
    resumed = ResumedTrials(None, records.of_launch("L1"), seeds=1, ot_study=ot)
    again = KeyedTrials(resumed, records, "L1", first_number=4)
    again.set_search_properties("objective", "min", {})
    handed = [again.suggest(tid) for tid in ("x", "y")]
    assert [c[TRIAL_KEY] for c in handed] == ["t0002", "t0003"]  # same keys, same settings
    assert [c["loss.lambda_cyc"] for c in handed] == [configs["b"]["loss.lambda_cyc"], configs["c"]["loss.lambda_cyc"]]
    assert again.suggest("z") == again.FINISHED
    again.on_trial_result("x", {"objective": 6.0, "epoch": 1})  # its checkpoint's epoch, again: once in Optuna
    again.on_trial_complete("x", {"objective": 4.5, "epoch": 2, "final": True})
    again.on_trial_complete("y", {"objective": 5.5, "epoch": 1, "final": False})  # stopped by ASHA
    trials = optuna.load_study(study_name="smoke", storage=storage).trials
    assert len(trials) == 3  # no new Optuna trial for a resumed one
    assert trials[1].state == optuna.trial.TrialState.COMPLETE and trials[1].value == 4.5
    assert trials[1].intermediate_values == {1: 6.0, 2: 4.5}
    assert trials[2].state == optuna.trial.TrialState.PRUNED
    assert {r.key: r.status for r in records.all()} == {"t0001": "complete", "t0002": "complete", "t0003": "stopped"}


def test_a_resumed_repeated_configuration_runs_its_missing_seeds_and_is_told_the_mean(tmp_path):
    study = load_study("smoke", ["study.seeds=3", "study.num_samples=1", "study.scheduler=none"])
    storage = optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    records = TrialRecords(storage, "smoke")
    first = KeyedTrials(make_searcher(study, storage, launch="L"), records, "L", first_number=1)
    first.set_search_properties("objective", "min", {})
    a0, a1 = first.suggest("a0"), first.suggest("a1")  # seed 2 not started when the launcher stopped
    first.on_trial_complete("a0", {"objective": 3.0, "epoch": 2, "final": True})
    ot = optuna.load_study(study_name="smoke", storage=storage)
    resumed = ResumedTrials(None, records.of_launch("L"), seeds=3, ot_study=ot)
    queue = [(c.get(TRIAL_KEY), c[REPEAT_INDEX]) for c in resumed.queue]
    assert queue == [(a1[TRIAL_KEY], 1), (None, 2)]  # seed 1 goes on, seed 2 starts
    again = KeyedTrials(resumed, records, "L", first_number=3)
    x, y = again.suggest("x"), again.suggest("y")
    assert x[TRIAL_KEY] == a1[TRIAL_KEY] and y[TRIAL_KEY] == "t0003" and y[OPTUNA_NUMBER] == a0[OPTUNA_NUMBER]
    again.on_trial_complete("x", {"objective": 4.0, "epoch": 2, "final": True})
    assert optuna.load_study(study_name="smoke", storage=storage).trials[0].state == optuna.trial.TrialState.RUNNING
    again.on_trial_complete("y", {"objective": 5.0, "epoch": 2, "final": True})
    trial = optuna.load_study(study_name="smoke", storage=storage).trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == pytest.approx(4.0)


def test_resume_takes_destinations_from_the_command_line_and_refuses_stored_ones(tmp_path):
    out = tmp_path / "study"
    out.mkdir()
    given = [f"study.out_dir={out}", "study.num_samples=3", "mlflow.tracking_uri=http://127.0.0.1:5999"]
    study = load_study("smoke", given)
    record_launch(study, "smoke-1", launch_arguments(study, given))
    # the launch's other arguments come back; its destination must be given again, not read from the file
    with pytest.raises(UserError, match=r"mlflow.tracking_uri=http://127.0.0.1:5999 to resume"):
        with_stored_overrides("smoke", [f"study.out_dir={out}", "resume=true"])
    resumed = with_stored_overrides("smoke", [f"study.out_dir={out}", "resume=true", "mlflow.tracking_uri=http://127.0.0.1:5999"])
    assert resumed.launch.study.num_samples == 3
    # someone appends another address to launches.json: the resume is refused, nothing is sent there
    path = out / "launches.json"
    launches = json.loads(path.read_text())
    launches[-1]["overrides"].append("mlflow.tracking_uri=http://127.0.0.1:9")
    path.write_text(json.dumps(launches))
    with pytest.raises(UserError, match=r"used mlflow.tracking_uri=http://127.0.0.1:9"):
        with_stored_overrides("smoke", [f"study.out_dir={out}", "resume=true", "mlflow.tracking_uri=http://127.0.0.1:5999"])


def test_an_mlflow_experiment_belongs_to_one_storage(tmp_path):
    from tuning.state.launch_state import check_owner, claim, storage_identity
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    a = load_study("smoke", [f"study.out_dir={tmp_path / 'a'}", f"mlflow.tracking_uri={uri}"])
    b = load_study("smoke", [f"study.out_dir={tmp_path / 'b'}", f"mlflow.tracking_uri={uri}"])
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    client = MlflowClient(uri)
    storage_a = optuna_storage(a.storage_url)
    identity_a = storage_identity(storage_a, a)
    assert storage_identity(optuna_storage(a.storage_url), a) == identity_a  # stable: kept in the storage
    check_owner(client, a, identity_a)  # no experiment yet
    claim(client, client.create_experiment("smoke"), a, identity_a)
    check_owner(client, a, identity_a)
    with pytest.raises(UserError, match=r"holds the study of sqlite:///.*/a/optuna.db.*mlflow.experiment=NAME"):
        check_owner(client, b, None)  # b's storage does not exist yet
    with pytest.raises(UserError, match="two storages would mix"):
        check_owner(client, b, storage_identity(optuna_storage(b.storage_url), b))
    elsewhere = load_study("smoke", [f"study.out_dir={tmp_path / 'b'}", f"mlflow.tracking_uri={uri}",
                                     "mlflow.experiment=smoke-b"])
    check_owner(client, elsewhere, storage_identity(optuna_storage(b.storage_url), b))
