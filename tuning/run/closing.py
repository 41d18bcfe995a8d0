"""What a launch says at its end (the console, after the trials): its trials ranked, the study's answer and where
to look; or the command that resumes it; or that MLflow did not take its end. Imported by the launch's phases
only: `tuning.launch list` and `--dry-run` (tuning/run/launch_text.py) load neither Ray nor MLflow."""
from __future__ import annotations

import os
import sys

from tuning.redact import redact
from tuning.results.run_layout import TAG_STAGE, is_reference_run, param_value
from tuning.run.console import summary
from tuning.run.launch_text import race_could_see
from tuning.state.launches import resume_command
from tuning.state.trial_records import TrialRecords
from tuning.study.study import Study
from tuning.tracking.parent_run import child_runs
from tuning.tracking.study_note import experiment_url


def report_end(study: Study, client, experiment_id: str, parent_run_id: str, best, errors: int,
               history: str) -> None:
    """A complete launch's closing lines: its trials ranked, the study's answer, where to look."""
    table = summary(study, child_runs(client, experiment_id, parent_run_id))
    report_best(study, client, parent_run_id, best, errors, table, history)


def mlflow_unreachable(study: Study, exc: BaseException) -> None:
    """The one line (stderr) of a launch whose tracking server did not take its end: nothing is lost."""
    reason = redact(str(exc).splitlines()[0][:160]) if str(exc) else type(exc).__name__
    print(f"error: MLflow at {redact(study.tracking_uri)} did not answer at the end of the launch ({reason}); "
          f"every result is kept in {study.out_dir}: when the server is back, log them with: {resume_command(study)}",
          file=sys.stderr)


def say_how_to_resume(study: Study, launch, records: list | None = None) -> None:
    """The interrupted launch's state and the command that continues it (stderr). Printed however the launch
    was stopped: one Ctrl+C (the trials stopped, then this), or a second one (at once). `records`: the
    launch's trial records when the caller holds them already."""
    try:
        if records is None:
            records = TrialRecords(launch.storage, launch.history, study.launch.study.mode).of_launch(launch.name)
        ended = str(sum(r.ended for r in records if r.stage == "search"))
    except Exception:  # noqa: BLE001 (the storage gone too: the command is what matters)
        ended = "?"
    print(f"study {study.name} interrupted after {ended} of {study.launch_trials(launch.continuing)} trials; "
          "continue it with (the launch's study settings are reused from its record in the storage):\n  "
          f"{resume_command(study)}",
          file=sys.stderr)
    if any(k in os.environ for k in ("MLFLOW_TRACKING_PASSWORD", "PGPASSWORD")):
        print("  (with the passwords in MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD / PGPASSWORD, or "
              "the URIs given again)", file=sys.stderr)


def report_best(study: Study, client, parent_run_id: str, best, errors: int, table: str = "",
                history: str | None = None) -> None:
    """The answer and where to look; `history`: the launch's (by default the one a launch now would continue)."""
    metric = study.launch.study.metric
    if table:
        print(f"trials of this launch, ranked by {metric} at the final evaluation:\n{table}")
    if best is None:
        print(f"no trial completed with {metric}; see the errors above")
        return
    run_id, value = best
    run = client.get_run(run_id)
    searched = {k: param_value(run.data.params.get(k)) for k in study.search if k in run.data.params}
    searched.update({k: run.data.tags[k] for k in study.search if k in run.data.tags})
    searched = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in searched.items())
    earlier = "  (from an earlier launch)" if run.data.tags.get("mlflow.parentRunId") != parent_run_id else ""
    if run.data.tags.get(TAG_STAGE) == "confirm":  # the answer of the confirmation race (tuning/search/confirm.py)
        which = ("the reference settings (no candidate was shown better)" if is_reference_run(run)
                 else "shown better than the reference settings")
        print(f"the study's answer, from the confirmation race: {which}: {run.info.run_name}  {metric}={value:.4g} "
              f"(mean over the fresh seeds)  {searched}{earlier}")
    elif is_reference_run(run) and study.launch.study.confirm_top > 0:
        # no candidate reached its final evaluation (ASHA stopped them behind the reference, or they failed):
        # there was nothing to race, and the answer is the reference settings
        print(f"the study's answer: the reference settings. No other configuration reached its final evaluation, "
              f"so there was nothing to confirm; {race_could_see(study, history)}")
    else:
        print(f"best trial: {run.info.run_name}  {metric}={value:.4g} (final evaluation)  {searched}{earlier}")
    if run.data.tags.get(TAG_STAGE) == "confirm" or is_reference_run(run):
        print(f"every verdict, interval and sample grid: python -m dashboards.report study={study.name}")
    else:
        print(f"whether it beats the reference settings beyond noise: python -m dashboards.report study={study.name}")
    if study.base_config().total_epochs < 20 and study.base_config().data.name == "synthetic":
        print(f"note: {study.base_config().total_epochs} epochs paint noise: these trials test the platform, not "
              "the style (a study on real paintings: python -m tuning.launch list)")
    if errors:
        print(f"{errors} trial(s) failed; their runs are FAILED with an 'error' tag")
    uri = redact(study.tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    if uri.startswith(("http://", "https://")):  # a server: its UI is already there
        print(f"open the results: {experiment_url(uri, experiment_id)} (experiment {study.experiment})")
        return
    print(f"open the results: mlflow ui --backend-store-uri {uri} --default-artifact-root "
          f"{(study.out_dir / 'mlartifacts').as_uri()}")
    print(f"  then {experiment_url('http://127.0.0.1:5000', experiment_id)}  (the study's runs, its answer "
          "first: rank 01, best=true; the noise floor is in the study run's description)")
