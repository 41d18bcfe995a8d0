"""The last phase: runs marked, the best registered and the launch recorded complete only when every trial
has a final outcome; otherwise exit 130 and the command that resumes it."""
from __future__ import annotations

from mlflow.exceptions import MlflowException

from tuning.run.closing import mlflow_unreachable, report_end, say_how_to_resume
from tuning.run.launch_context import Launch, experiments
from tuning.run.local_ray import stop_ray
from tuning.search.optuna_search import fail_orphans
from tuning.state.launch_state import complete_launch
from tuning.state.trial_records import TrialRecords
from tuning.study.study import Study
from tuning.tracking.parent_run import check_all_logged, close_launch


def finish(study: Study, launch: Launch) -> int:
    records = TrialRecords(launch.storage, launch.history, study.launch.study.mode).of_launch(launch.name)
    try:
        check_all_logged(study)  # the tracker could not log everything: say so, mark nothing
        if launch.complete:
            fail_orphans(launch.storage, launch.history, launch.own_launches)
        best = close_launch(launch.client, study, launch.history, launch.experiment_id, launch.parent_run_id,
                            launch.complete)
    except (MlflowException, OSError) as exc:
        stop_ray(experiments(study, launch))
        mlflow_unreachable(study, exc)
        return 1
    if launch.complete:  # every trial has its final outcome and all of it is in MLflow: nothing left to resume
        complete_launch(launch.storage, study, launch.history, launch.name, records, experiments(study, launch))
    stop_ray(experiments(study, launch))
    if not launch.complete:
        say_how_to_resume(study, launch, records)
        return 130
    failed = sum(r.status == "failed" for r in records if r.stage == "search")
    report_end(study, launch.client, launch.experiment_id, launch.parent_run_id, best, failed, launch.history)
    return 0
