"""One redaction for every URI the platform prints, logs or stores: no password leaves the process.

`redact("postgresql://u:secret@db/optuna")` -> `postgresql://u@db/optuna`. The user name stays, so a stored
URL still says where to reconnect; the password comes back from the environment (PGPASSWORD or
~/.pgpass for PostgreSQL, MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD for an MLflow server),
never from a config value. Works on any text, so error messages that quote a URI are covered too.
"""
from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]*)@")


def redact(text: str) -> str:
    """Drop the password of every `scheme://user:password@host` in `text`."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}@", str(text))
