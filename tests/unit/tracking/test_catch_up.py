"""Catch-up logs a launch's trials from Tune's plain files through the tracker's own methods, which take a
trial's key, config and results (no Tune trial, real or faked): a real SQLite MLflow store, real files."""
import json

from mlflow.tracking import MlflowClient

from tuning.results.objective import FINAL, OBJECTIVE
from tuning.results.run_layout import GENERATORS, TAG_STUDY, TAG_TRIAL
from tuning.state.trial_records import TrialRecord
from tuning.study.loading import load_study
from tuning.study.trial_keys import TRIAL_KEY
from tuning.tracking.catch_up import catch_up
from tuning.tracking.mlflow_writer import BEHIND, MlflowTracker
from tuning.tracking.parent_run import open_parent_run


def write_trial_files(folder, results):
    folder.mkdir(parents=True)
    (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in results))
    for r in results:
        checkpoint = folder / f"checkpoint_{r['epoch']:06d}"
        checkpoint.mkdir()
        (checkpoint / "metrics.json").write_text(json.dumps({"epoch": r["epoch"], FINAL: r[FINAL]}))
        if r[FINAL]:
            (checkpoint / "generators.pt").write_bytes(b"weights: uploaded as a file, never loaded")


def test_catch_up_logs_each_epoch_once_and_ends_runs_as_their_records_say(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = load_study("smoke", [f"study.out_dir={tmp_path}", f"mlflow.tracking_uri={uri}"])
    client = MlflowClient(uri)
    experiment_id, parent = open_parent_run(client, study, resume=False)
    launch = "smoke-20261205-1"
    done = {OBJECTIVE: 4.0, "epoch": 2, FINAL: True}
    write_trial_files(tmp_path / f"{launch}" / "t0001_0", [{OBJECTIVE: 5.0, "epoch": 1, FINAL: False}, done])
    write_trial_files(tmp_path / f"{launch}" / "t0002_0", [{OBJECTIVE: 6.0, "epoch": 1, FINAL: False}])
    (tmp_path / BEHIND).write_text('["t0001"]')
    records = [TrialRecord("t0001", launch, "search", {TRIAL_KEY: "t0001", "loss.lambda_cyc": 7.0}, 0, "complete"),
               TrialRecord("t0002", launch, "search", {TRIAL_KEY: "t0002", "loss.lambda_cyc": 3.0}, 1, "failed")]
    tracker = MlflowTracker(study, study.name, uri, experiment_id, parent)
    catch_up(study, tracker, launch, records)
    catch_up(study, MlflowTracker(study, study.name, uri, experiment_id, parent), launch, records)  # again: nothing twice
    runs = {r.data.tags[TAG_TRIAL]: r for r in client.search_runs([experiment_id], f"tags.{TAG_STUDY} = 'smoke'")
            if TAG_TRIAL in r.data.tags}
    assert set(runs) == {"t0001", "t0002"}
    first, second = runs["t0001"], runs["t0002"]
    assert [m.value for m in client.get_metric_history(first.info.run_id, OBJECTIVE)] == [5.0, 4.0]
    assert first.info.status == "FINISHED" and first.data.tags["outcome"] == "complete"
    assert first.data.params["loss.lambda_cyc"] == "7.0" and first.data.tags["mlflow.parentRunId"] == parent
    assert [a.path for a in client.list_artifacts(first.info.run_id, GENERATORS)] == [f"{GENERATORS}/generators.pt"]
    assert second.info.status == "FAILED" and second.data.tags["outcome"] == "failed"
    assert not (tmp_path / BEHIND).exists()  # everything MLflow lacked is in
