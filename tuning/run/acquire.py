"""The second phase: the storage, the study's lock, clean-up after dead launches, a private Ray (or the
cluster's), and the MLflow parent run. Created only now: every check has passed."""
from __future__ import annotations

import time

import ray
from mlflow.tracking import MlflowClient

from cyclegan.configtools import UserError
from tuning.redact import redact
from tuning.run.cleanup import clean_up_dead_launches
from tuning.run.interrupts import listen
from tuning.run.launch_context import Launch
from tuning.run.local_ray import session_dir, start_ray, start_reaper
from tuning.run.preflight import check_cluster_storage, create_stores_whole
from tuning.state.history import history_names, record_settings
from tuning.state.launch_state import begin, claim, storage_identity
from tuning.state.launches import launch_arguments, launches, record_launch
from tuning.state.storage import existing_trials, optuna_storage, stored_study
from tuning.state.study_lock import launch_of, lock_study
from tuning.study.study import Study
from tuning.tracking.parent_run import open_parent_run


def acquire(study: Study, previous: str | None, overrides: list[str], verbose: bool) -> Launch:
    study.out_dir.mkdir(parents=True, exist_ok=True)
    name = previous or f"{study.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    create_stores_whole(study)  # created only now: every check has passed
    storage = optuna_storage(study.storage_url)
    lock, killed_holder = lock_study(study, name, storage)
    launch = Launch(name, previous is not None, storage, MlflowClient(study.tracking_uri), {name}, lock)
    if killed_holder:  # its launcher was killed: the trials it left RUNNING are this launch's to close
        launch.own_launches.add(launch_of(killed_holder) or name)
        print(f"study {study.name}: took over the lock of {killed_holder}, which ended without releasing it; "
              "its unfinished trials run again in this launch", flush=True)
    identity = storage_identity(storage, study)
    start_ray(study, verbose)
    listen()  # again: ray.init took SIGTERM
    try:
        check_cluster_storage(study, sum(1 for node in ray.nodes() if node.get("Alive")))
    except UserError:
        ray.shutdown()
        raise
    own_session = None if study.launch.ray.address else session_dir()
    if own_session:  # this Ray ends with this launcher, even one killed outright (tuning/run/reaper.py)
        launch.reaper = start_reaper(own_session)
    clean_up_dead_launches(study, storage, history_names(storage, study.name), own_session)
    # A continuation does not queue the reference seeds again; a resumed launch is one if it was one.
    study.continuing = (len(launches(study)) > 1 if launch.resumed
                        else existing_trials(storage, study.optuna_name) > 0)
    launch.experiment_id, launch.parent_run_id = open_parent_run(launch.client, study, launch.resumed)
    claim(launch.client, launch.experiment_id, study, identity)
    if not launch.resumed:
        record_launch(study, name, launch_arguments(study, overrides))
    begin(storage, study, name, own_session)
    record_settings(study, stored_study(storage, study.optuna_name))  # begin() created it if new
    if study.launch.study.new_history and not launch.resumed:
        print(f"study {study.name}: a new history, {study.optuna_name} (the earlier ones stay in the storage and "
              "in MLflow, linked from this launch's parent run)", flush=True)
    print(f"study {study.name}: {study.num_trials} trials, objective: {study.launch.study.metric} at the final "
          f"evaluation ({study.launch.study.mode}); MLflow {redact(study.tracking_uri)} run {launch.parent_run_id}",
          flush=True)
    return launch
