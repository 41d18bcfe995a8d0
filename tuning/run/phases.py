"""A launch in four phases: check → acquire → run → finish (`run_study`).

- check: every input, creating nothing (a launch refused for bad input leaves the file tree as it was).
- acquire: the storage, the study's lock, clean-up after dead launches, Ray, the MLflow parent run.
- run: the search stage, then the confirmation (tuning/run/stages.py); Ctrl+C / SIGTERM stop them
  (tuning/run/interrupts.py).
- finish: runs marked, the best registered and the launch recorded complete only when every trial has a
  final outcome; otherwise exit 130 and the command that resumes it.
The study's state lives in its storage (tuning/state/trial_records.py, tuning/state/launch_state.py): a resumed launch
reads nothing Tune wrote.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

from cyclegan.configtools import UserError
from tuning.redact import redact, take_credentials
from tuning.run.preflight import (
    check_cluster_storage,
    check_out_dir,
    check_reachable,
    check_storage,
    check_tracking,
    create_stores_whole,
    prepare_inputs,
)
from tuning.state.launches import (
    history_of_last_launch,
    last_launch,
    launch_arguments,
    launches,
    record_launch,
    resume_command,
)
from tuning.state.storage import not_yet_created
from tuning.study.study import Study


@dataclass
class Launch:
    name: str
    resumed: bool
    storage: object
    client: object
    own_launches: set[str]
    lock: object = None
    reaper: object = None  # its pipe is held open for the life of this process
    experiment_id: str = ""
    parent_run_id: str = ""
    results: list = field(default_factory=list)   # Tune's results of each stage that ran
    complete: bool = False


def without_credentials(study: Study) -> None:
    """Move passwords out of the study's URIs into the environment (tuning.redact.take_credentials)."""
    clean = take_credentials({"mlflow.tracking_uri": study.launch.mlflow.tracking_uri,
                              "study.storage": study.launch.study.storage})
    study.launch.mlflow.tracking_uri, study.launch.study.storage = clean["mlflow.tracking_uri"], clean["study.storage"]


# -- check ---------------------------------------------------------------------------------------------
def check(study: Study) -> str | None:
    """Validate everything before anything is created; the launch to resume (resume=true) or None."""
    from mlflow.tracking import MlflowClient

    from tuning.state.history import check_continuation, choose_history
    from tuning.state.launch_state import check_owner, is_complete, storage_identity
    from tuning.state.storage import optuna_storage, stored_study
    without_credentials(study)
    check_out_dir(study)
    previous = last_launch(study) if study.launch.resume else None
    check_storage(study)
    existing = None if not_yet_created(study.storage_url) else optuna_storage(study.storage_url)
    if study.launch.resume:
        study.history = history_of_last_launch(study)
        if previous is None or (existing is not None and is_complete(existing, study.optuna_name, previous)):
            raise UserError(f"resume=true but {study.out_dir} holds no interrupted launch of {study.name}; "
                            "drop resume=true to start the study")
    address = study.launch.ray.address
    if address and address != "auto":
        check_reachable(address)
    check_tracking(study)
    if existing is not None:  # a continuation: the same settings as the stored trials
        study.history = study.history or choose_history(study, existing)
        check_continuation(study, stored_study(existing, study.optuna_name))
    if not not_yet_created(study.tracking_uri):
        check_owner(MlflowClient(study.tracking_uri), study,
                    storage_identity(existing, study, create=False) if existing is not None else None)
    prepare_inputs(study)
    return previous


# -- acquire -------------------------------------------------------------------------------------------
def acquire(study: Study, previous: str | None, overrides: list[str], verbose: bool) -> Launch:
    import ray
    from mlflow.tracking import MlflowClient

    from tuning.run.cleanup import clean_up_dead_launches
    from tuning.run.interrupts import listen
    from tuning.run.local_ray import session_dir, start_ray, start_reaper
    from tuning.state.history import history_names, record_settings
    from tuning.state.launch_state import begin, claim, storage_identity
    from tuning.state.storage import existing_trials, optuna_storage, stored_study
    from tuning.state.study_lock import launch_of, lock_study
    from tuning.tracking.parent_run import open_parent_run
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


# -- run -----------------------------------------------------------------------------------------------
def run(study: Study, launch: Launch, verbose: bool) -> None:
    from ray import tune

    from tuning.results.outcome import interrupted
    from tuning.run.stages import confirm, search
    from tuning.run.trainable import run_trial
    from tuning.state.trial_records import TrialRecords
    from tuning.tracking.catch_up import catch_up
    from tuning.tracking.mlflow_writer import BEHIND, MlflowTracker
    trainable = tune.with_resources(tune.with_parameters(run_trial, study=study),
                                    {"cpu": study.launch.trial.cpus, "gpu": study.launch.trial.gpus})
    args = (study, trainable, launch.storage, launch.name, launch.client, launch.experiment_id,
            launch.parent_run_id, verbose)
    if interrupted():
        return
    if launch.resumed:  # what MLflow did not take before (a server down at the end), from the trials' files
        tracker = MlflowTracker(study, study.tracking_uri, launch.experiment_id, launch.parent_run_id)
        catch_up(study, tracker, launch.name, TrialRecords(launch.storage, study.optuna_name).of_launch(launch.name))
    results, complete = search(*args, resumed=launch.resumed)
    launch.results.append(results)
    if complete and not interrupted() and not (study.out_dir / BEHIND).is_file():
        confirmed, complete = confirm(*args)  # the winner on fresh seeds (tuning/search/confirm.py)
        launch.results.extend(confirmed)
    launch.complete = complete and not interrupted()


def abandon(study: Study, launch: Launch, exc: BaseException) -> None:
    """A second Ctrl+C, or Tune itself failing: still leave no run RUNNING, then let the error through."""
    from mlflow.exceptions import MlflowException

    from tuning.run.local_ray import stop_ray
    from tuning.tracking.parent_run import close_open_runs
    status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
    try:
        close_open_runs(launch.client, launch.experiment_id, study.name, launch.parent_run_id, status=status)
        launch.client.set_terminated(launch.parent_run_id, status=status)
    except (MlflowException, OSError):
        pass  # the tracking server is gone too; the original error is the one to show
    stop_ray(experiments(study, launch))


def experiments(study: Study, launch: Launch) -> list[str]:
    """The Tune experiments (folders in out_dir) of this launch: its first, resumed and confirmation ones."""
    return sorted(p.name for p in study.out_dir.glob(f"{launch.name}*") if p.is_dir())


# -- finish --------------------------------------------------------------------------------------------
def finish(study: Study, launch: Launch) -> int:
    from mlflow.exceptions import MlflowException

    from tuning.run.console import summary
    from tuning.run.launch_text import report_best
    from tuning.run.local_ray import stop_ray
    from tuning.search.optuna_search import fail_orphans
    from tuning.state.launch_state import set_status
    from tuning.state.trial_records import TrialRecords
    from tuning.state.trial_storage import compact_launch
    from tuning.tracking.mlflow_writer import BEHIND
    from tuning.tracking.parent_run import child_runs, close_open_runs, mark_best
    again = resume_command(study)
    records = TrialRecords(launch.storage, study.optuna_name, study.launch.study.mode).of_launch(launch.name)
    try:
        if (study.out_dir / BEHIND).is_file():  # the tracker could not log everything: say so, mark nothing
            raise MlflowException(f"results of trials {(study.out_dir / BEHIND).read_text()} are not logged yet")
        close_open_runs(launch.client, launch.experiment_id, study.name, launch.parent_run_id)
        if launch.complete:
            fail_orphans(launch.storage, study.optuna_name, launch.own_launches)
            best = mark_best(launch.client, study, launch.parent_run_id)
        launch.client.set_terminated(launch.parent_run_id, status="FINISHED" if launch.complete else "KILLED")
    except (MlflowException, OSError) as exc:
        stop_ray(experiments(study, launch))
        reason = redact(str(exc).splitlines()[0][:160]) if str(exc) else type(exc).__name__
        print(f"error: MLflow at {redact(study.tracking_uri)} did not answer at the end of the launch ({reason}); "
              f"every result is kept in {study.out_dir}: when the server is back, log them with: {again}",
              file=sys.stderr)
        return 1
    if launch.complete:  # every trial has its final outcome and all of it is in MLflow: nothing left to resume
        set_status(launch.storage, study.optuna_name, launch.name, "complete")
        compact_launch(study.out_dir, records, experiments(study, launch))
    stop_ray(experiments(study, launch))
    if not launch.complete:
        ended = sum(r.ended for r in records if r.stage == "search")
        print(f"study {study.name} interrupted after {ended} of {study.num_trials} trials; continue it with "
              f"(the launch's other arguments are reused):\n  {again}", file=sys.stderr)
        if any(k in os.environ for k in ("MLFLOW_TRACKING_PASSWORD", "PGPASSWORD")):
            print("  (with the passwords in MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD / PGPASSWORD, or "
                  "the URIs given again)", file=sys.stderr)
        return 130
    table = summary(study, child_runs(launch.client, launch.experiment_id, launch.parent_run_id))
    failed = sum(r.status == "failed" for r in records if r.stage == "search")
    report_best(study, launch.client, launch.parent_run_id, best, failed, table)
    return 0


def run_study(study: Study, overrides: list[str] = (), verbose: bool = False) -> int:
    from tuning.run.interrupts import listen
    listen()  # from here on Ctrl+C and SIGTERM stop the launch cleanly (exit 130)
    previous = check(study)
    launch = acquire(study, previous, list(overrides), verbose)
    try:
        run(study, launch, verbose)
    except BaseException as exc:
        abandon(study, launch, exc)
        raise
    return finish(study, launch)
