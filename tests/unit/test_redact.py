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
])
def test_redact_drops_passwords_and_keeps_where_to_reconnect(text, expected):
    assert redact(text) == expected


def test_a_password_in_the_tracking_uri_is_never_printed(tmp_path):
    result = run_cli("tuning.launch", "study=smoke", "mlflow.tracking_uri=http://alice:s3cret@127.0.0.1:9",
                     f"study.out_dir={tmp_path / 'o'}", env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert_user_error(result, "http://alice@127.0.0.1:9", "is not reachable")
    assert "s3cret" not in result.stdout + result.stderr
