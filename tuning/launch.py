"""`python -m tuning.launch study=NAME [key=value ...]`: run a study of CycleGAN trials.

Validates the study and every override first (exit 2, one line), opens the study's MLflow parent run and
Optuna storage, starts a local Ray (or joins `ray.address`), runs the trials with Ray Tune, and ends by
printing the best trial and the command that opens the MLflow UI on this store.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import sys
import time

from cyclegan.cli import run_main
from cyclegan.configtools import UserError

from .launches import (history_of_last_launch, launch_arguments, last_launch, launches, record_launch,
                       with_stored_overrides)
from .preflight import (check_cluster_storage, check_out_dir, check_reachable, check_storage, check_tracking,
                        not_yet_created, prepare_inputs)
from .redact import redact, take_credentials
from .study import Study, available_studies, load_study
from .launch_text import dry_run, report_best

USAGE = """
usage: python -m tuning.launch study=NAME [key=value ...] [resume=true] [--dry-run] [--verbose] [--debug]
       python -m tuning.launch list

Runs the study studies/NAME.yaml: Optuna proposes engine settings, Ray Tune runs the trials, MLflow
records them. Any engine key (loss.lambda_cyc=..., data.name=..., train.epochs=...) or platform key
(study.num_samples, study.max_concurrent, study.seeds, study.scheduler, study.out_dir, study.storage,
trial.cpus, trial.gpus, mlflow.tracking_uri, mlflow.experiment, ray.address) can be overridden.
resume=true continues the study's last interrupted launch. --dry-run validates and lists every trial
known before the search (arm, seed, the engine keys that differ from the study's base), then exits.
First run (offline, CPU, a few minutes):
  python -m tuning.launch study=smoke
"""


def first_sentence(text: str) -> str:
    """Up to the first '.', '?' or '!' that ends a sentence: one followed by a capital, so "Zhu et al. 2017"
    or "e.g. 3" does not cut it."""
    return re.split(r"(?<=[.?!])\s+(?=[A-Z])", " ".join(text.split()), maxsplit=1)[0]


def describe_studies() -> str:
    from .cost import estimate
    lines, names = [], available_studies()
    width = max([14] + [len(n) + 1 for n in names])
    for name in names:
        try:
            study = load_study(name)
            size = estimate(study)
            summary = first_sentence(study.description)
        except UserError as exc:
            size, summary = "invalid", str(exc)
        lines.append(f"{name:{width}s} {size}\n{'':{width}s} {summary}")
    return "\n".join(lines)


def full_usage() -> str:
    """The usage text, the studies, and every key (built only for --help: reading the studies takes time)."""
    from cyclegan.config import Config
    from cyclegan.keyhelp import describe

    from .config import LaunchConfig
    return (USAGE + "\nstudies:\n" + describe_studies() + "\n\nplatform keys:\n" + "\n".join(describe(LaunchConfig))
            + "\n\nengine keys (a study sets some; key=value overrides any):\n" + "\n".join(describe(Config)))


def split_args(args: list[str]) -> tuple[str, list[str]]:
    names = [a.split("=", 1)[1] for a in args if a.startswith("study=")]
    if not names:
        raise UserError(f"study=NAME is required; available: {', '.join(available_studies())}")
    return names[-1], [a for a in args if not a.startswith("study=")]


def without_credentials(study: Study) -> None:
    """Move passwords out of the study's URIs into the environment (tuning.redact.take_credentials)."""
    clean = take_credentials({"mlflow.tracking_uri": study.launch.mlflow.tracking_uri,
                              "study.storage": study.launch.study.storage})
    study.launch.mlflow.tracking_uri, study.launch.study.storage = clean["mlflow.tracking_uri"], clean["study.storage"]


def quiet_and_private(study: Study, verbose: bool = False) -> None:
    """Environment for the launch, set before Ray is imported (it reads these at import and passes them to
    the processes it starts)."""
    address = study.launch.ray.address or ""
    if not address or address.split("://")[-1].startswith(("127.0.0.1:", "localhost:")):
        # A local Ray is this machine's only node. Ray's "no cluster" mode (meant for laptops) takes
        # 127.0.0.1 as the node address, so the GCS, raylet, workers and agents listen on loopback only
        # instead of every interface with no authentication. Joining a cluster at 127.0.0.1 (nodes started
        # on loopback) needs the same: Ray would otherwise rewrite the loopback address to this machine's
        # network address, where that cluster does not listen.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    # MLflow's "View run ... at <uri>" lines, one per trial: the launcher prints where the results are once.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if not verbose:  # Tune's configuration box, results path and TensorBoard hint: only with --verbose
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in RDB ..." on stderr


def remove_staging(experiment: str) -> None:
    """Delete this launch's trial folders and trial scratch from the local Ray session folder
    (`<temp>/session_*/artifacts/<time>/<experiment>`, `…/catholic2gogh-scratch/<experiment>`): trials clean
    up after themselves, this catches those whose worker was killed."""
    from .trainable import SCRATCH, ray_session_dir
    session = ray_session_dir()
    if session is None:
        return
    for staged in [*(session / "artifacts").glob(f"*/{experiment}"), session / SCRATCH / experiment]:
        shutil.rmtree(staged, ignore_errors=True)


def start_ray(study: Study, verbose: bool = False) -> None:
    import ray
    address = study.launch.ray.address
    try:
        if address:
            ray.init(address=address, logging_level="ERROR", log_to_driver=verbose)
        else:  # "local" always starts a private instance, never a Ray someone else runs on this machine
            ray.init(address="local", num_cpus=study.launch.ray.num_cpus, include_dashboard=False,
                     logging_level="ERROR",  # Ray's start-up notices would break one-line errors
                     log_to_driver=verbose)  # the trials' own output (ANSI-coloured) only with --verbose
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise UserError(f"cannot reach ray.address={address} ({reason}); start the cluster or fix ray.address") from None


# -- the study --------------------------------------------------------------------------------------
def run_study(study: Study, overrides: list[str] = (), verbose: bool = False) -> int:
    import ray
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from ray import tune

    from .console import summary
    from .history import check_continuation, choose_history, record_settings
    from .parent_run import child_runs, close_open_runs, mark_best, open_parent_run
    from .search import existing_trials, fail_orphans, optuna_storage, stored_study
    from .stages import confirm, search_tuner
    from .study_lock import launch_of, lock_study
    from .tracking import BEHIND
    from .trainable import run_trial
    from .trial_storage import compact_finished
    from .tune_state import sign as sign_state
    from .tune_state import verify as verify_state

    # Checks first, creating nothing: a launch refused for bad input leaves the file tree as it was.
    without_credentials(study)
    check_out_dir(study)
    resume = study.launch.resume
    previous = last_launch(study)
    if resume and (previous is None or not tune.Tuner.can_restore(str(study.out_dir / previous))):
        raise UserError(f"resume=true but {study.out_dir} holds no interrupted launch of {study.name}; "
                        "drop resume=true to start the study")
    if resume:
        verify_state(study.out_dir / previous)  # before anything of it is unpickled
    address = study.launch.ray.address
    if address and address != "auto":
        check_reachable(address)
    check_tracking(study)
    check_storage(study)
    if resume:
        study.history = history_of_last_launch(study)
    if not not_yet_created(study.storage_url):  # a continuation: the same settings as the stored trials
        existing = optuna_storage(study.storage_url)
        study.history = study.history or choose_history(study, existing)
        check_continuation(study, stored_study(existing, study.optuna_name))
    prepare_inputs(study)
    study.out_dir.mkdir(parents=True, exist_ok=True)
    name = previous if resume else f"{study.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    storage = optuna_storage(study.storage_url)  # created only now: every check above has passed
    lock, killed_holder = lock_study(study, name, storage)  # noqa: RUF059 (held until this process ends)
    own_launches = {name}
    if killed_holder:  # its launcher was killed: the trials it left RUNNING are this launch's to close
        own_launches.add(launch_of(killed_holder) or name)
        print(f"study {study.name}: took over the lock of {killed_holder}, which ended without releasing it; "
              "its unfinished trials are marked failed when this launch completes", flush=True)
    client = MlflowClient(study.tracking_uri)
    start_ray(study, verbose)
    try:
        check_cluster_storage(study, sum(1 for node in ray.nodes() if node.get("Alive")))
    except UserError:
        ray.shutdown()
        raise
    # A continuation does not queue the reference seeds again; a resumed launch is one if it was one.
    study.continuing = len(launches(study)) > 1 if resume else existing_trials(storage, study.optuna_name) > 0
    experiment_id, parent_run_id = open_parent_run(client, study, resume)
    if study.launch.study.new_history and not resume:
        print(f"study {study.name}: a new history, {study.optuna_name} (the earlier ones stay in the storage and "
              "in MLflow, linked from this launch's parent run)", flush=True)
    print(f"study {study.name}: {study.num_trials} trials, objective: {study.launch.study.metric} at the final "
          f"evaluation ({study.launch.study.mode}); MLflow {redact(study.tracking_uri)} run {parent_run_id}", flush=True)

    trainable = tune.with_resources(tune.with_parameters(run_trial, study=study),
                                    {"cpu": study.launch.trial.cpus, "gpu": study.launch.trial.gpus})
    interrupted = {"signal": None}

    def on_sigterm(signum, frame):  # turn SIGTERM into Tune's graceful stop (it listens for SIGUSR1)
        interrupted["signal"] = signum
        os.kill(os.getpid(), signal.SIGUSR1)
    previous_handler = signal.signal(signal.SIGTERM, on_sigterm)

    def stop_ray():
        remove_staging(name)
        for staged in study.out_dir.glob(f"{name}-confirm*"):
            remove_staging(staged.name)
        ray.shutdown()
    try:
        if resume:
            tuner = tune.Tuner.restore(str(study.out_dir / previous), trainable=trainable, resume_unfinished=True,
                                       resume_errored=False, restart_errored=False)
        else:
            record_launch(study, name, launch_arguments(study, overrides))
            tuner = search_tuner(study, trainable, storage, name, client, experiment_id, parent_run_id, verbose)
        sign_state(study.out_dir / name)  # tuner.pkl, written when the Tuner was made
        record_settings(study, stored_study(storage, study.optuna_name))  # the searcher has created the Optuna study
        results = tuner.fit()
        sign_state(study.out_dir / name)  # Tune's final save
        confirmed, complete = None, (results.num_terminated + results.num_errors >= study.num_trials
                                     and interrupted["signal"] is None)
        if complete and not (study.out_dir / BEHIND).is_file():  # then the winner on fresh seeds (tuning/confirm.py)
            confirmed, complete = confirm(study, trainable, storage, name, client, experiment_id, parent_run_id,
                                          verbose, interrupted)
    except BaseException as exc:  # a second Ctrl+C, or Tune itself failing: still leave no run RUNNING
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        try:
            close_open_runs(client, experiment_id, parent_run_id, status=status)
            client.set_terminated(parent_run_id, status=status)
        except (MlflowException, OSError):
            pass  # the tracking server is gone too; the original error is the one to show
        stop_ray()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    finished = results.num_terminated + results.num_errors
    where = f" study.out_dir={study.launch.study.out_dir}" if study.launch.study.out_dir else ""
    again = f"python -m tuning.launch study={study.name}{where} resume=true"
    try:
        if (study.out_dir / BEHIND).is_file():  # the tracker could not log everything: say so, mark nothing
            raise MlflowException(f"results of trials {(study.out_dir / BEHIND).read_text()} are not logged yet")
        close_open_runs(client, experiment_id, parent_run_id)
        if complete:
            fail_orphans(storage, study.optuna_name, own_launches)
            best = mark_best(client, study, parent_run_id)
        client.set_terminated(parent_run_id, status="FINISHED" if complete else "KILLED")
    except (MlflowException, OSError) as exc:
        stop_ray()
        reason = redact(str(exc).splitlines()[0][:160]) if str(exc) else type(exc).__name__
        print(f"error: MLflow at {redact(study.tracking_uri)} did not answer at the end of the launch ({reason}); "
              f"every result is kept in {study.out_dir}: when the server is back, log them with: {again}",
              file=sys.stderr)
        return 1
    if complete:  # every trial's results are in MLflow and Tune's final snapshot says nothing is to resume
        compact_finished(results)
        if confirmed is not None:
            compact_finished(confirmed)
    stop_ray()
    if not complete:
        print(f"study {study.name} interrupted after {finished} of {study.num_trials} trials; continue it with "
              f"(the same arguments are reused):\n  {again}", file=sys.stderr)
        if any(k in os.environ for k in ("MLFLOW_TRACKING_PASSWORD", "PGPASSWORD")):
            print("  (with the passwords in MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD / PGPASSWORD, or "
                  "the URIs given again)", file=sys.stderr)
        return 130
    table = summary(study, child_runs(client, experiment_id, parent_run_id))
    report_best(study, client, parent_run_id, best, results.num_errors, table)
    return 0


def main(args: list[str]) -> None:
    # store creation logs at INFO on stderr; errors must stay one line (MLflow resets its level on import)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args[:1] == ["list"]:
        print(describe_studies())
        return
    dry = "--dry-run" in args
    verbose = "--verbose" in args  # Ray's tables, the trials' own output and Ray's hints
    name, overrides = split_args([a for a in args if a not in ("--dry-run", "--verbose")])
    study = with_stored_overrides(name, overrides)
    if dry:
        dry_run(study)
        return
    quiet_and_private(study, verbose)
    code = run_study(study, overrides, verbose)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    sys.exit(run_main(main, usage=full_usage))
