"""The third phase: the search stage, then the confirmation (tuning/run/stages.py). Ctrl+C / SIGTERM stop them
(tuning/run/interrupts.py); a second Ctrl+C or Tune failing ends here (`abandon`)."""
from __future__ import annotations

from mlflow.exceptions import MlflowException
from ray import tune

from tuning.results.outcome import interrupted
from tuning.run.launch_context import Launch, experiments
from tuning.run.local_ray import stop_ray
from tuning.run.stages import confirmation_stage, search_stage
from tuning.run.trainable import run_trial
from tuning.study.study import Study
from tuning.tracking.catch_up import all_logged, catch_up_launch
from tuning.tracking.parent_run import close_open_runs


def run(study: Study, launch: Launch, verbose: bool) -> None:
    """The search stage, then (when it completed and MLflow holds all of it) the confirmation race; sets
    `launch.results` and `launch.complete`."""
    if interrupted():
        return
    trainable = tune.with_resources(tune.with_parameters(run_trial, study=study),
                                    {"cpu": study.launch.trial.cpus, "gpu": study.launch.trial.gpus})
    if launch.resumed:  # what MLflow did not take before (a server down at the end), from the trials' files
        catch_up_launch(study, launch.storage, launch.history, launch.name, launch.experiment_id, launch.parent_run_id)
    results, complete = search_stage(study, launch, trainable, verbose)
    launch.results.append(results)
    if complete and not interrupted() and all_logged(study):
        confirmed, complete = confirmation_stage(study, launch, trainable, verbose)  # the winner on fresh seeds (tuning/search/confirm.py)
        launch.results.extend(confirmed)
    launch.complete = complete and not interrupted()


def abandon(study: Study, launch: Launch, exc: BaseException) -> None:
    """A second Ctrl+C, or Tune itself failing: still leave no run RUNNING, then let the error through."""
    status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
    try:
        close_open_runs(launch.client, launch.experiment_id, study.name, launch.parent_run_id, status=status)
        launch.client.set_terminated(launch.parent_run_id, status=status)
    except (MlflowException, OSError):
        pass  # the tracking server is gone too; the original error is the one to show
    stop_ray(experiments(study, launch))
