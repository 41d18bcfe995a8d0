"""The last phase: runs marked, the best registered and the launch recorded complete only when every trial
has a final outcome; otherwise exit 130 and the command that resumes it."""
from __future__ import annotations

import os
import sys

from mlflow.exceptions import MlflowException

from tuning.redact import redact
from tuning.run.console import summary
from tuning.run.launch_context import Launch, experiments
from tuning.run.launch_text import report_best
from tuning.run.local_ray import stop_ray
from tuning.search.optuna_search import fail_orphans
from tuning.state.launch_state import set_status
from tuning.state.launches import resume_command
from tuning.state.trial_records import TrialRecords
from tuning.state.trial_storage import compact_launch
from tuning.study.study import Study
from tuning.tracking.mlflow_writer import BEHIND
from tuning.tracking.parent_run import child_runs, close_open_runs, mark_best


def finish(study: Study, launch: Launch) -> int:
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
        say_how_to_resume(study, launch, records)
        return 130
    table = summary(study, child_runs(launch.client, launch.experiment_id, launch.parent_run_id))
    failed = sum(r.status == "failed" for r in records if r.stage == "search")
    report_best(study, launch.client, launch.parent_run_id, best, failed, table)
    return 0


def say_how_to_resume(study: Study, launch: Launch, records: list | None = None) -> None:
    """The interrupted launch's state and the command that continues it (stderr). Printed however the launch
    was stopped: one Ctrl+C (the trials stopped, then this), or a second one (at once). `records`: the
    launch's trial records when the caller holds them already."""
    try:
        if records is None:
            records = TrialRecords(launch.storage, study.optuna_name, study.launch.study.mode).of_launch(launch.name)
        ended = str(sum(r.ended for r in records if r.stage == "search"))
    except Exception:  # noqa: BLE001 (the storage gone too: the command is what matters)
        ended = "?"
    print(f"study {study.name} interrupted after {ended} of {study.num_trials} trials; continue it with "
          f"(the launch's other arguments are reused):\n  {resume_command(study)}", file=sys.stderr)
    if any(k in os.environ for k in ("MLFLOW_TRACKING_PASSWORD", "PGPASSWORD")):
        print("  (with the passwords in MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD / PGPASSWORD, or "
              "the URIs given again)", file=sys.stderr)
