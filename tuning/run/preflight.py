"""Checks a launch makes before Ray or any trial starts: each failure is one line and exit 2 (SPEC §6)."""
from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from mlflow.tracking import MlflowClient

from cyclegan.backbones import load_inception
from cyclegan.configtools import UserError, check_writable_dir
from cyclegan.data import load_data
from tuning.redact import redact
from tuning.state.storage import not_yet_created, optuna_storage
from tuning.study.study import Study


def check_out_dir(study: Study) -> None:
    check_writable_dir(study.out_dir, "study.out_dir")


def check_tracking(study: Study) -> None:
    """Reach the tracking store before Ray starts. Only this check fails fast (one try, 10 s): during the
    study MLflow's own retry policy (minutes of backoff) rides out a server restart."""
    uri = study.tracking_uri
    if not_yet_created(uri):
        return
    fast = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    saved = {name: os.environ.get(name) for name in fast}
    try:
        if uri.startswith(("http://", "https://")):
            os.environ.update({k: v for k, v in fast.items() if saved[k] is None})
        MlflowClient(uri).search_experiments(max_results=1)
    except Exception as exc:  # any failure here means trials could not be recorded
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if getattr(exc, "error_code", None) in ("UNAUTHENTICATED", "PERMISSION_DENIED"):  # 401 / 403: it answered
            raise UserError(redact(f"mlflow.tracking_uri={uri} refused the credentials ({reason[:120]}); give the "
                                   "user and password in the URI (http://USER:PASSWORD@HOST:PORT) or in "
                                   "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, one with write access")
                            ) from None
        if uri.startswith(("http://", "https://")):
            raise UserError(redact(f"mlflow.tracking_uri={uri} is not reachable ({reason}); start the server or fix "
                                   "mlflow.tracking_uri")) from None
        raise UserError(redact(f"mlflow.tracking_uri={uri} cannot be opened ({reason}); restore the store from a "
                               "backup, or fix mlflow.tracking_uri")) from None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """ray.init waits minutes on an address nobody answers: try the TCP port first."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if not parsed.hostname or not parsed.port:
        raise UserError(f"ray.address={address} must look like host:port, ray://host:port or auto")
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"cannot reach ray.address={address} ({exc.strerror or exc}); start the cluster or fix "
                        "ray.address") from None


def check_cluster_storage(study: Study, alive_nodes: int) -> None:
    """On more than one node, trials run elsewhere: checkpoints, the Optuna storage and MLflow must be
    reachable from every node (Ray >= 2.7 no longer syncs trial folders to the head)."""
    if alive_nodes <= 1:
        return
    missing = []
    if not study.launch.study.shared_out_dir:
        missing.append("study.out_dir=<a path every node mounts, e.g. NFS> with study.shared_out_dir=true")
    if study.storage_url.startswith("sqlite"):
        missing.append("study.storage=postgresql://... (an Optuna database every node reaches)")
    if not study.tracking_uri.startswith(("http://", "https://")):
        missing.append("mlflow.tracking_uri=http://<mlflow server>:5000")
    if missing:
        raise UserError(f"this Ray cluster has {alive_nodes} nodes but the study keeps its state on one machine; "
                        f"set {'; '.join(missing)}")


def prepare_inputs(study: Study) -> None:
    """Before any trial: read every dataset the study can use (downloading it once, so concurrent trials
    never race to fetch it) and resolve the FID weights, so bad data or missing weights stop the launch
    with one line instead of failing every trial."""
    configs = [study.base_config()]
    names = study.search.get("data.name")
    if names is not None:
        configs = [study.engine_config({"data.name": n}) for n in names.choices]
    for cfg in configs:
        load_data(cfg)
    base = study.base_config()
    if base.eval.backbone == "inception":
        load_inception(base.eval)


def create_stores_whole(study: Study):
    """Create the study's SQLite stores (Optuna, MLflow) whole or not at all: each is built under a temporary
    name and linked into place only once its tables exist, so a Ctrl+C (or kill) while a first launch creates
    them never leaves a half-made database that the next launch cannot open. `os.link` fails if another
    launcher linked its store first: then that one is used. Returns the Optuna storage."""
    makers = {study.storage_url: lambda url: optuna_storage(url).get_all_studies(),
              study.tracking_uri: lambda url: MlflowClient(url).search_experiments(max_results=1)}
    for url, make in makers.items():
        if not not_yet_created(url):
            continue
        final = Path(url.removeprefix("sqlite:///"))
        partial = final.with_name(f".{final.name}.{os.getpid()}.partial")
        partial.unlink(missing_ok=True)
        try:
            make(f"sqlite:///{partial}")
            try:
                os.link(partial, final)
            except FileExistsError:
                pass  # another first launch of the study made it a moment ago
        finally:  # made or not (a Ctrl+C while it was being made), the temporary store goes
            partial.unlink(missing_ok=True)
    return optuna_storage(study.storage_url)
