"""The second phase: the storage, the study's lock, clean-up after dead launches, a private Ray (or the
cluster's), and the MLflow parent run. Created only now: every check has passed."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mlflow.tracking import MlflowClient

from tuning.run.cleanup import clean_up_dead_launches
from tuning.run.launch_context import Launch
from tuning.run.launch_text import announce
from tuning.run.local_ray import bring_up
from tuning.run.preflight import create_stores_whole
from tuning.state.launch_state import claim, continues_history, open_launch, storage_identity
from tuning.state.study_lock import launch_of, lock_study
from tuning.tracking.parent_run import history_so_far, open_parent_run

if TYPE_CHECKING:  # annotations only
    from tuning.study.study import Study


def acquire(study: Study, previous: str | None, history: str, overrides: list[str], verbose: bool) -> Launch:
    study.out_dir.mkdir(parents=True, exist_ok=True)
    name = previous or f"{study.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    storage = create_stores_whole(study)  # created only now: every check has passed
    lock, killed_holder = lock_study(study, name, storage)
    launch = Launch(name, previous is not None, history, storage, MlflowClient(study.tracking_uri), {name}, lock)
    if killed_holder:  # its launcher was killed: the trials it left RUNNING are this launch's to close
        launch.own_launches.add(launch_of(killed_holder) or name)
        print(f"study {study.name}: took over the lock of {killed_holder}, which ended without releasing it; "
              "its unfinished trials run again in this launch", flush=True)
    identity = storage_identity(storage, study)
    own_session, launch.reaper = bring_up(study, verbose)
    clean_up_dead_launches(study, storage, own_session)
    launch.continuing = continues_history(storage, history, launch.resumed)
    launch.experiment_id, launch.parent_run_id = open_parent_run(launch.client, study, launch.resumed, history)
    claim(launch.client, launch.experiment_id, study, identity)
    open_launch(storage, study, history, name, None if launch.resumed else overrides, own_session)
    so_far = history_so_far(launch.client, launch.experiment_id, study, history) if launch.continuing else (0, None)
    announce(study, launch, so_far)
    return launch
