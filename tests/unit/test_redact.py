"""No password in anything the launcher prints, logs or stores (issue 14, item 8, first part)."""
import pytest

from tests.helpers import assert_user_error, run_cli
from tuning.redact import redact


@pytest.mark.parametrize("text, expected", [
    ("postgresql://u:pw@db:5432/optuna", "postgresql://u@db:5432/optuna"),
    ("http://alice:s3cret@mlflow.example.com:5000", "http://alice@mlflow.example.com:5000"),
    ("postgresql+psycopg2://u:p%40ss@db.example.org/db and http://a:b@example.com/",
     "postgresql+psycopg2://u@db.example.org/db and http://a@example.com/"),
    ("sqlite:////tmp/x/optuna.db", "sqlite:////tmp/x/optuna.db"),
    ("http://alice@example.com/", "http://alice@example.com/"),
    # a password with an unencoded '@': the host starts after the last one (as urllib reads it)
    ("mysql://u:p@ss@db.example.org/optuna", "mysql://u@db.example.org/optuna"),
    ("http://alice:a@b@c@127.0.0.1:5000/x and postgresql://u:pw@127.0.0.1/x",
     "http://alice@127.0.0.1:5000/x and postgresql://u@127.0.0.1/x"),
])
def test_redact_drops_passwords_and_keeps_where_to_reconnect(text, expected):
    assert redact(text) == expected


def test_a_password_in_the_tracking_uri_is_never_printed(tmp_path):
    result = run_cli("tuning.launch", "study=smoke", "mlflow.tracking_uri=http://alice:s3cret@127.0.0.1:9",
                     f"study.out_dir={tmp_path / 'o'}", env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert_user_error(result, "mlflow.tracking_uri=http://127.0.0.1:9 ", "is not reachable")
    assert "s3cret" not in result.stdout + result.stderr


def test_credentials_move_out_of_the_uris_into_the_clients_environment():
    from cyclegan.configtools import UserError
    from tuning.redact import take_credentials
    environ = {}
    clean = take_credentials({"mlflow.tracking_uri": "https://alice:p%40ss@mlflow.example.com:5000/",
                              "study.storage": "postgresql+psycopg2://optuna:pw@db.example.org/optuna"}, environ)
    assert clean == {"mlflow.tracking_uri": "https://mlflow.example.com:5000/",
                     "study.storage": "postgresql+psycopg2://optuna@db.example.org/optuna"}
    assert environ == {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "p@ss", "PGPASSWORD": "pw"}
    assert take_credentials({"study.storage": "sqlite:////tmp/a@b/optuna.db", "mlflow.tracking_uri": None}, {}) == \
        {"study.storage": "sqlite:////tmp/a@b/optuna.db", "mlflow.tracking_uri": None}
    with pytest.raises(UserError, match="mysql://u@db.example.org/x carries a password"):
        take_credentials({"study.storage": "mysql://u:pw@db.example.org/x"}, {})
    with pytest.raises(UserError, match="different PGPASSWORD"):
        take_credentials({"mlflow.tracking_uri": "postgresql://a:one@db.example.org/m",
                          "study.storage": "postgresql://a:two@db.example.org/o"}, {})


@pytest.mark.parametrize("key", ["data.url", "eval.inception_url"])
def test_engine_urls_with_a_password_are_refused(key, tmp_path):
    """They would be stored with every run (config.yaml, MLflow params): one line, the password not in it."""
    line = assert_user_error(run_cli("cyclegan.train", f"{key}=https://bob:hunter2@files.example.org/x",
                                     f"train.out_dir={tmp_path / 'o'}", cwd=tmp_path), f"{key} carries a password")
    assert "hunter2" not in line and not (tmp_path / "o").exists()


def test_submit_never_sends_a_password_to_the_cluster(tmp_path):
    """Refused before anything reaches a cluster (none listens at the address), naming the secret's way."""
    for uri_key, uri in (("mlflow.tracking_uri", "http://alice:s3cret@127.0.0.1:5000/"),
                         ("study.storage", "postgresql://u:s3cret@127.0.0.1:5432/optuna"),
                         ("mlflow.tracking_uri", "http://alice:s3@cret@127.0.0.1:5000/")):
        line = assert_user_error(run_cli("tuning.submit", "study=smoke", f"{uri_key}={uri}", f"study.out_dir={tmp_path}",
                                         "--address", "http://127.0.0.1:9"), "carries a password")
        assert "s3cret" not in line and "cret" not in line.split("carries")[0] and "Kubernetes secret" in line
