"""The study's parent run in a real SQLite MLflow store."""
from mlflow.tracking import MlflowClient

from tuning.parent_run import open_parent_run
from tuning.study import load_study


def test_an_explicit_sqlite_store_keeps_the_artifacts_in_the_study_folder(tmp_path, monkeypatch):
    """Not in ./mlruns of whatever folder the launcher was started from (issue 14, item 7)."""
    elsewhere = tmp_path / "started-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "study"
    uri = f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}"
    (tmp_path / "shared").mkdir()
    study = load_study("smoke", [f"study.out_dir={out}", f"mlflow.tracking_uri={uri}"])
    client = MlflowClient(uri)
    experiment_id, run_id = open_parent_run(client, study, resume=False)
    assert client.get_experiment(experiment_id).artifact_location == (out / "mlartifacts").as_uri()
    assert client.get_run(run_id).info.artifact_uri.startswith((out / "mlartifacts").as_uri())
    assert not (elsewhere / "mlruns").exists()
