"""No password leaves the process: one redaction for printed text, and credentials moved out of URIs.

`redact("postgresql://u:secret@db/optuna")` -> `postgresql://u@db/optuna`. The user name stays, so a stored
URL still says where to reconnect. Works on any text, so error messages that quote a URI are covered too.

`take_credentials` goes further for the URIs a launch keeps: the password (and, for an MLflow server, the
user) moves into the environment variable the client library reads itself — MLFLOW_TRACKING_USERNAME /
MLFLOW_TRACKING_PASSWORD for an http(s) MLflow server, PGPASSWORD for PostgreSQL — and the launch keeps only
the credential-free URI. Everything that is pickled (Ray's tuner.pkl and searcher state hold the tracker
callback and the Optuna storage), logged as a param or printed by MLflow itself ("View run … at …") then
has nothing to leak.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit, urlunsplit

from cyclegan.configtools import UserError

# The password runs to the last '@' before the host (urllib splits user info from host the same way), so a
# password with an unencoded '@' ("u:p@ss@db") is dropped whole, not cut at its first '@'.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^/\s]*)@")


def has_password(uri: str | None) -> bool:
    """True if `uri` carries `user:password@` (any scheme)."""
    return bool(uri) and _USERINFO.search(str(uri)) is not None


def redact(text: str) -> str:
    """Drop the password of every `scheme://user:password@host` in `text`."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}@", str(text))


def split_credentials(uri: str | None, key: str) -> tuple[str | None, dict[str, str]]:
    """(`uri` without its password, {environment variable: value}) for the client library (module doc).

    A password in a URI of another scheme cannot be moved and is refused (exit 2) rather than stored."""
    if not uri or "@" not in uri:
        return uri, {}
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if parts.scheme in ("http", "https"):
        found = {"MLFLOW_TRACKING_USERNAME": parts.username, "MLFLOW_TRACKING_PASSWORD": parts.password}
        return urlunsplit(parts._replace(netloc=netloc)), {k: unquote(v) for k, v in found.items() if v is not None}
    if parts.password is None:
        return uri, {}
    if parts.scheme.startswith("postgresql"):
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit(parts._replace(netloc=user + netloc)), {"PGPASSWORD": unquote(parts.password)}
    raise UserError(f"{key}={redact(uri)} carries a password, which would be stored with the study; use "
                    "postgresql:// (password from PGPASSWORD) or sqlite, or an http MLflow server "
                    "(MLFLOW_TRACKING_PASSWORD)")


def take_credentials(uris: dict[str, str | None], environ: MutableMapping[str, str] = os.environ) -> dict:
    """{key: credential-free uri} for {key: uri}; the passwords go into `environ` (conflicts refused)."""
    clean, moved = {}, {}
    for key, uri in uris.items():
        clean[key], found = split_credentials(uri, key)
        for name, value in found.items():
            if moved.get(name, value) != value:
                raise UserError(f"{' and '.join(uris)} carry different {name} values; put the passwords in "
                                "~/.pgpass (PostgreSQL) or the environment instead of the URIs")
            moved[name] = value
    environ.update(moved)
    return clean


CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "PGPASSWORD")


@contextmanager
def credentials_withheld(environ: MutableMapping[str, str] = os.environ) -> Iterator[None]:
    """While processes that need no credentials start, the credentials are out of the environment they
    inherit: a local Ray's GCS, raylet and agents (and the workers the raylet starts later, from its own
    environment), and the reaper. Only the launcher talks to MLflow and the storage; a trial never does."""
    saved = {name: environ.pop(name) for name in CREDENTIAL_VARIABLES if name in environ}
    try:
        yield
    finally:
        environ.update(saved)

