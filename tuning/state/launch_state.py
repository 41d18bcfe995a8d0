"""Each launch's own line in the study's storage, and the storage's identity (SPEC §5).

A launch writes `launch:<name>` on its history's Optuna study when it starts (status `running`, where its
launcher and its local Ray run) and sets `complete` when every trial has a final outcome. `resume=true`
continues a launch that is not complete; the next launch of the study cleans up after one whose launcher
is gone (tuning/run/cleanup.py).

The storage's identity is a random id kept on the Optuna study named like the study (its first history),
created with it. The MLflow experiment records the id of the storage that owns it (tag
`catholic2gogh.storage_id`): a launch from another storage (another `study.out_dir`, another database) on
the same experiment is refused, so trial names, `best=true` and the registry never mix two storages.
"""
from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path

from cyclegan.configtools import UserError
from tuning.redact import redact
from tuning.state.history import record_settings
from tuning.state.launches import launch_arguments, launches, record_launch
from tuning.state.storage import existing_trials, stored_study, study_id
from tuning.state.study_lock import pid_namespace, process_start
from tuning.state.trial_storage import compact_launch
from tuning.study.study import Study

PREFIX = "launch:"
STORAGE_ID = "storage_id"
OWNER_TAG = "catholic2gogh.storage_id"
OWNER_STORAGE_TAG = "catholic2gogh.storage"


# -- launches -------------------------------------------------------------------------------------------
def begin(storage, study: Study, launch: str, ray_session: str | None) -> None:
    sid = study_id(storage, study.optuna_name, study.launch.study.mode)
    storage.set_study_system_attr(sid, PREFIX + launch, {
        "status": "running", "history": study.optuna_name, "host": socket.gethostname(), "pid": os.getpid(),
        "process_start": process_start(os.getpid()), "pid_namespace": pid_namespace(), "ray_session": ray_session})


def set_status(storage, history: str, launch: str, status: str) -> None:
    sid = study_id(storage, history, create=False)
    if sid is None:
        return
    line = storage.get_study_system_attrs(sid).get(PREFIX + launch) or {}
    storage.set_study_system_attr(sid, PREFIX + launch, dict(line, status=status))


def launches_in(storage, names: list[str]) -> dict[str, dict]:
    """{launch: its line} over the given histories."""
    found = {}
    for name in names:
        sid = study_id(storage, name, create=False)
        if sid is not None:
            found.update({k[len(PREFIX):]: v for k, v in storage.get_study_system_attrs(sid).items()
                          if k.startswith(PREFIX) and isinstance(v, dict)})
    return found


LAUNCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SESSION_NAME = re.compile(r"^session_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d+_\d+$")
STATUSES = ("running", "complete", "killed", "interrupted", "failed")


def check_line(launch: str, line: dict) -> None:
    """A launch line is data, not an order (issue 30): before a launch acts on one (kills the processes of
    its Ray session, removes its staging) the line must look like one this platform wrote. Exit 2 naming it
    otherwise; nothing is killed or deleted."""
    def bad(what: str):
        raise UserError(f"the study's storage holds a launch record {PREFIX}{launch} with {what}; it was not acted "
                        "on (nothing killed or deleted). A launcher of this platform never writes that: check who "
                        "can write the storage, then remove the record (a study user attribute of the Optuna study)")
    if not LAUNCH_NAME.match(launch):
        bad("a name that is not a launch name")
    if line.get("status") not in STATUSES:
        bad(f"status {line.get('status')!r}")
    pid = line.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        bad(f"pid {pid!r}")
    session = line.get("ray_session")
    if session is not None:
        path = Path(str(session))
        if not (isinstance(session, str) and path.is_absolute() and ".." not in path.parts
                and SESSION_NAME.match(path.name)):
            bad(f"ray_session {str(session)[:200]!r}, which is not a Ray session folder (<ray temp>/session_<date>_<pid>)")


def is_complete(storage, history: str, launch: str) -> bool:
    return launches_in(storage, [history]).get(launch, {}).get("status") == "complete"


# -- the storage's identity --------------------------------------------------------------------------------
def storage_identity(storage, study: Study, create: bool = True) -> str | None:
    sid = study_id(storage, study.name, study.launch.study.mode, create=create)
    if sid is None:
        return None
    found = storage.get_study_system_attrs(sid).get(STORAGE_ID)
    if found or not create:
        return found
    storage.set_study_system_attr(sid, STORAGE_ID, uuid.uuid4().hex)
    return storage.get_study_system_attrs(sid)[STORAGE_ID]


def check_owner(client, study: Study, identity: str | None) -> None:
    """Exit 2 if the study's MLflow experiment belongs to another storage (`identity`: this launch's storage
    id, None for a storage not created yet)."""
    experiment = client.get_experiment_by_name(study.experiment)
    owner = experiment.tags.get(OWNER_TAG) if experiment is not None else None
    if owner is None or owner == identity:
        return
    where = experiment.tags.get(OWNER_STORAGE_TAG, "another storage")
    raise UserError(f"MLflow experiment {study.experiment!r} at {redact(study.tracking_uri)} holds the study of "
                    f"{where}, not of this launch's {redact(study.storage_url)}: two storages would mix their trials "
                    f"in one history; give another experiment (mlflow.experiment=NAME) or that storage "
                    f"(study.storage=..., or its study.out_dir)")


def claim(client, experiment_id: str, study: Study, identity: str) -> None:
    client.set_experiment_tag(experiment_id, OWNER_TAG, identity)
    client.set_experiment_tag(experiment_id, OWNER_STORAGE_TAG, redact(study.storage_url))


def complete_launch(storage, study: Study, launch: str, records, experiments: list[str]) -> None:
    """Every trial of the launch has its final outcome and all of it is in MLflow: the launch is recorded
    complete (nothing left to resume) and its trials' engine state is compacted."""
    set_status(storage, study.optuna_name, launch, "complete")
    compact_launch(study.out_dir, records, experiments)


def continues_history(study: Study, storage, resumed: bool) -> bool:
    """Whether this launch continues a history that has trials already (then it does not queue the reference
    seeds again); a resumed launch is a continuation if the launch it resumes was one."""
    return len(launches(study)) > 1 if resumed else existing_trials(storage, study.optuna_name) > 0


def open_launch(storage, study: Study, name: str, overrides: list[str] | None, ray_session: str | None) -> None:
    """The launch's records: its arguments (a new launch: `overrides`; a resumed one keeps its own, None), its
    line (running, where its launcher and Ray run) and the settings its history was started with."""
    if overrides is not None:
        record_launch(study, name, launch_arguments(study, overrides))
    begin(storage, study, name, ray_session)
    record_settings(study, stored_study(storage, study.optuna_name))  # begin() created it if new
