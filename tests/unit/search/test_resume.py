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
from tests.helpers import assert_user_error, run_cli
from tuning.state.launches import PREFIX, begin, launch_arguments, with_stored_overrides
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


def tamper(storage, launch: str, **changes) -> None:
    """What anyone who can write the study's database can do to a launch's line."""
    sid = storage.get_study_id_from_name("smoke")
    line = storage.get_study_system_attrs(sid)[PREFIX + launch]
    storage.set_study_system_attr(sid, PREFIX + launch, dict(line, **changes))


def test_resume_takes_the_study_settings_from_the_storage_and_nothing_else(tmp_path):
    """The launch's arguments live in its line in the storage (issue 30, item 3), not in a file of the study
    folder: a resume takes the study's own settings from them; where results go and resources come from its
    command; a line naming anything else, or a value that does not load, is exit 2 naming the record."""
    out = tmp_path / "study"
    out.mkdir()
    given = [f"study.out_dir={out}", "study.num_samples=3", "loss.lambda_id=2", "trial.cpus=0.5",
             "mlflow.tracking_uri=http://127.0.0.1:5999"]
    study = load_study("smoke", given)
    storage = optuna_storage(study.storage_url)
    begin(storage, study, study.name, "smoke-1", None, launch_arguments(study, given))
    assert not list(out.glob("*.json"))  # nothing of it in the study folder
    stored = storage.get_study_system_attrs(storage.get_study_id_from_name("smoke"))[PREFIX + "smoke-1"]
    assert stored["arguments"] == ["study.num_samples=3", "loss.lambda_id=2", "mlflow.tracking_uri=http://127.0.0.1:5999"]
    # the launch's settings come back; its destination must be given again, not read from the record
    with pytest.raises(UserError, match=r"mlflow.tracking_uri=http://127.0.0.1:5999 to resume"):
        with_stored_overrides("smoke", [f"study.out_dir={out}", "resume=true"])
    again = [f"study.out_dir={out}", "resume=true", "mlflow.tracking_uri=http://127.0.0.1:5999"]
    resumed = with_stored_overrides("smoke", again)
    assert resumed.launch.study.num_samples == 3 and resumed.engine["loss"]["lambda_id"] == 2
    assert resumed.launch.trial.cpus == 1.0  # a resource: from this command and the study file, not the record
    # someone adds another address or experiment to the line: refused, nothing is sent there
    tamper(storage, "smoke-1", arguments=[*stored["arguments"], "mlflow.tracking_uri=http://127.0.0.1:9"])
    with pytest.raises(UserError, match=r"used mlflow.tracking_uri=http://127.0.0.1:9"):
        with_stored_overrides("smoke", again)
    tamper(storage, "smoke-1", arguments=[*stored["arguments"], "mlflow.experiment=elsewhere"])
    with pytest.raises(UserError, match=r"used mlflow.experiment=elsewhere"):
        with_stored_overrides("smoke", again)
    # ... or resources, or values no launch would have stored: exit 2, one line naming the record
    for bad, fragment in [("trial.cpus=64", "never stores"), ("study.max_concurrent=1000", "never stores"),
                          ("loss.lambda_cyc=abc", "do not load"), ("train.seed=1" + "0" * 30, "do not load"),
                          ("study.num_samples=-5", "do not load"), ("loss.lambda_cyc=1e308", "do not load")]:
        tamper(storage, "smoke-1", arguments=[*stored["arguments"], bad])
        with pytest.raises(UserError, match=f"launch record launch:smoke-1 with .*{fragment}") as err:
            with_stored_overrides("smoke", again)
        assert "\n" not in str(err.value)
    tamper(storage, "smoke-1", arguments="rm -rf /")
    with pytest.raises(UserError, match="not key=value arguments"):
        with_stored_overrides("smoke", again)
    # what the user sees: exit 2, one line naming the record, nothing started
    tamper(storage, "smoke-1", arguments=[*stored["arguments"], "trial.cpus=64"])
    assert_user_error(run_cli("tuning.launch", "study=smoke", *again, timeout=120), "launch:smoke-1", "trial.cpus=64")
    assert not (out / "trials").exists()


def test_a_launch_from_before_the_storage_held_arguments_resumes_from_its_launches_json(tmp_path):
    """A launch interrupted on the layout of stop 36 has a line without arguments and a launches.json: its
    resume takes the study's settings from the file, checked as a line's are."""
    out = tmp_path / "study"
    out.mkdir()
    study = load_study("smoke", [f"study.out_dir={out}"])
    storage = optuna_storage(study.storage_url)
    begin(storage, study, study.name, "smoke-20261201-000000", None, [])
    sid = storage.get_study_id_from_name("smoke")
    line = storage.get_study_system_attrs(sid)[PREFIX + "smoke-20261201-000000"]
    del line["arguments"], line["started"]
    storage.set_study_system_attr(sid, PREFIX + "smoke-20261201-000000", line)
    entries = [{"name": "smoke-20261201-000000", "overrides": ["study.num_samples=3", "model.ngf=12"]}]
    (out / "launches.json").write_text(json.dumps(entries))
    resumed = with_stored_overrides("smoke", [f"study.out_dir={out}", "resume=true"])
    assert resumed.launch.study.num_samples == 3 and resumed.engine["model"]["ngf"] == 12
    entries[0]["overrides"].append("mlflow.experiment=elsewhere")
    (out / "launches.json").write_text(json.dumps(entries))
    with pytest.raises(UserError, match="used mlflow.experiment=elsewhere"):
        with_stored_overrides("smoke", [f"study.out_dir={out}", "resume=true"])


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
