"""The first phase of a launch: every input checked, nothing created (a launch refused for bad input leaves the
file tree as it was; exit 2, one line)."""
from __future__ import annotations

from mlflow.tracking import MlflowClient

from cyclegan.configtools import UserError
from tuning.redact import take_credentials
from tuning.run.history_check import check_history, check_storage
from tuning.run.preflight import check_out_dir, check_reachable, check_tracking, prepare_inputs
from tuning.state.launch_state import check_owner, storage_identity
from tuning.state.launches import last_launch
from tuning.state.storage import not_yet_created, optuna_storage
from tuning.study.study import Study


def without_credentials(study: Study) -> None:
    """Move passwords out of the study's URIs into the environment (tuning.redact.take_credentials)."""
    clean = take_credentials({"mlflow.tracking_uri": study.launch.mlflow.tracking_uri,
                              "study.storage": study.launch.study.storage})
    study.launch.mlflow.tracking_uri, study.launch.study.storage = clean["mlflow.tracking_uri"], clean["study.storage"]


def check(study: Study) -> tuple[str | None, str]:
    """Validate everything before anything is created. (the launch to resume, or None; the history this launch
    searches in: the resumed launch's, the newest matching one, or the study's name for its first).

    The study itself is not changed past its credentials: which history a launch uses is the launch's."""
    without_credentials(study)
    check_out_dir(study)
    check_storage(study)
    existing = None if not_yet_created(study.storage_url) else optuna_storage(study.storage_url)
    previous, history = None, ""
    if study.launch.resume:
        newest = last_launch(existing, study) if existing is not None else None
        if newest is None or newest[1].get("status") == "complete":
            raise UserError(f"resume=true but {study.out_dir} holds no interrupted launch of {study.name}; "
                            "drop resume=true to start the study")
        previous, history = newest[0], newest[1].get("history") or study.name
    address = study.launch.ray.address
    if address and address != "auto":
        check_reachable(address)
    check_tracking(study)
    if existing is not None:
        history = check_history(study, existing, history)
    if not not_yet_created(study.tracking_uri):
        check_owner(MlflowClient(study.tracking_uri), study,
                    storage_identity(existing, study, create=False) if existing is not None else None)
    prepare_inputs(study)
    return previous, history or study.name
