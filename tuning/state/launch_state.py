"""A launch's steps in the study's storage (opened: its line and its history's settings; complete: nothing
left to resume), and the storage's identity (SPEC §5). The launch's line itself is tuning/state/launches.py.

The storage's identity is a random id kept on the Optuna study named like the study (its first history),
created with it. The MLflow experiment records the id of the storage that owns it (tag
`catholic2gogh.storage_id`): a launch from another storage (another `study.out_dir`, another database) on
the same experiment is refused, so trial names, `best=true` and the registry never mix two storages.
"""
from __future__ import annotations

import uuid

from cyclegan.configtools import UserError
from tuning.redact import redact
from tuning.state.history import record_settings
from tuning.state.launches import begin, launch_arguments, launches_of_history, set_status
from tuning.state.storage import existing_trials, stored_study, study_id
from tuning.state.trial_storage import compact_launch
from tuning.study.study import Study

STORAGE_ID = "storage_id"
OWNER_TAG = "catholic2gogh.storage_id"
OWNER_STORAGE_TAG = "catholic2gogh.storage"


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


def complete_launch(storage, study: Study, history: str, launch: str, records, experiments: list[str]) -> None:
    """Every trial of the launch has its final outcome and all of it is in MLflow: the launch is recorded
    complete (nothing left to resume) and its trials' engine state is compacted."""
    set_status(storage, history, launch, "complete")
    compact_launch(study.out_dir, records, experiments)


def continues_history(storage, history: str, resumed: bool) -> bool:
    """Whether this launch continues a history that has trials already (then it does not queue the reference
    seeds again); a resumed launch is a continuation if the launch it resumes was one."""
    if resumed:
        return launches_of_history(storage, history) > 1
    return existing_trials(storage, history) > 0


def open_launch(storage, study: Study, history: str, name: str, overrides: list[str] | None,
                ray_session: str | None) -> None:
    """The launch's records: its arguments (a new launch: `overrides`; a resumed one keeps its own, None), its
    line (running, where its launcher and Ray run) and the settings its history was started with."""
    begin(storage, study, history, name, ray_session, None if overrides is None else launch_arguments(study, overrides))
    record_settings(study, stored_study(storage, history))  # begin() created it if new
