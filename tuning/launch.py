"""`python -m tuning.launch study=NAME [key=value ...]`: run a study of CycleGAN trials.

Validates the study and every override first (exit 2, one line), opens the study's MLflow parent run and
Optuna storage, starts a local Ray (or joins `ray.address`), runs the trials with Ray Tune, and ends by
printing the best trial and the command that opens the MLflow UI on this store.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time

from cyclegan.cli import run_main
from cyclegan.configtools import UserError, ensure_writable_dir

from .objective import OBJECTIVE
from .redact import redact
from .study import Study, available_studies, base_changes, load_study, planned_trials

USAGE = """
usage: python -m tuning.launch study=NAME [key=value ...] [resume=true] [--dry-run] [--debug]
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


def describe_studies() -> str:
    lines = []
    for name in available_studies():
        try:
            study = load_study(name)
            size = f"{study.num_trials} trials"
            summary = study.description.split(". ")[0].replace("\n", " ")
        except UserError as exc:
            size, summary = "invalid", str(exc)
        lines.append(f"{name:16s} {size:>10s}  {summary}")
    return "\n".join(lines)


def split_args(args: list[str]) -> tuple[str, list[str]]:
    names = [a.split("=", 1)[1] for a in args if a.startswith("study=")]
    if not names:
        raise UserError(f"study=NAME is required; available: {', '.join(available_studies())}")
    return names[-1], [a for a in args if not a.startswith("study=")]


# -- checks before anything starts ----------------------------------------------------------------
def check_out_dir(study: Study) -> None:
    ensure_writable_dir(study.out_dir, "study.out_dir")


def check_tracking(study: Study):
    from mlflow.tracking import MlflowClient
    uri = study.tracking_uri
    if uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    client = MlflowClient(uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as exc:  # any failure here means trials could not be recorded
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UserError(redact(f"mlflow.tracking_uri={uri} is not reachable ({reason}); start the server or fix "
                               "mlflow.tracking_uri")) from None
    return client


LAUNCHES = "launches.json"


def launches(study: Study) -> list[str]:
    path = study.out_dir / LAUNCHES
    return json.loads(path.read_text()) if path.is_file() else []


def last_launch(study: Study) -> str | None:
    names = launches(study)
    return names[-1] if names else None


def record_launch(study: Study, name: str) -> None:
    path = study.out_dir / LAUNCHES
    names = json.loads(path.read_text()) if path.is_file() else []
    names.append(name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(names))
    tmp.replace(path)


def prepare_inputs(study: Study) -> None:
    """Before any trial: read every dataset the study can use (downloading it once, so concurrent trials
    never race to fetch it) and resolve the FID weights, so bad data or missing weights stop the launch
    with one line instead of failing every trial."""
    from cyclegan.backbones import load_inception
    from cyclegan.data import load_data

    configs = [study.base_config()]
    names = study.search.get("data.name")
    if names is not None:
        configs = [study.engine_config({"data.name": n}) for n in names.choices]
    for cfg in configs:
        load_data(cfg)
    base = study.base_config()
    if base.eval.backbone == "inception":
        load_inception(base.eval)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """ray.init waits minutes on an address nobody answers: try the TCP port first."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if not parsed.hostname or not parsed.port:
        raise UserError(f"ray.address={address} must look like host:port, ray://host:port or auto")
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"cannot reach ray.address={address} ({exc.strerror or exc}); start the cluster or fix "
                        "ray.address") from None


def check_cluster_storage(study: Study, alive_nodes: int) -> None:
    """On more than one node, trials run elsewhere: checkpoints, the Optuna storage and MLflow must be
    reachable from every node (Ray >= 2.7 no longer syncs trial folders to the head)."""
    if alive_nodes <= 1:
        return
    missing = []
    if not study.launch.study.shared_out_dir:
        missing.append("study.out_dir=<a path every node mounts, e.g. NFS> with study.shared_out_dir=true")
    if study.storage_url.startswith("sqlite"):
        missing.append("study.storage=postgresql://... (an Optuna database every node reaches)")
    if not study.tracking_uri.startswith(("http://", "https://")):
        missing.append("mlflow.tracking_uri=http://<mlflow server>:5000")
    if missing:
        raise UserError(f"this Ray cluster has {alive_nodes} nodes but the study keeps its state on one machine; "
                        f"set {'; '.join(missing)}")


def start_ray(study: Study) -> None:
    import ray
    address = study.launch.ray.address
    try:
        if address:
            ray.init(address=address, logging_level="ERROR")
        else:  # "local" always starts a private instance, never a Ray someone else runs on this machine
            ray.init(address="local", num_cpus=study.launch.ray.num_cpus, include_dashboard=False,
                     logging_level="ERROR")  # Ray's start-up notices would break one-line errors
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise UserError(f"cannot reach ray.address={address} ({reason}); start the cluster or fix ray.address") from None


# -- the study --------------------------------------------------------------------------------------
def run_study(study: Study) -> int:
    import ray
    from ray import tune

    from .search import existing_trials, fail_orphans, make_scheduler, make_searcher, optuna_storage
    from .tracking import MlflowTracker, close_open_runs, mark_best, open_parent_run
    from .trainable import run_trial

    check_out_dir(study)
    resume = study.launch.resume
    previous = last_launch(study)
    if resume and (previous is None or not tune.Tuner.can_restore(str(study.out_dir / previous))):
        raise UserError(f"resume=true but {study.out_dir} holds no interrupted launch of {study.name}; "
                        "drop resume=true to start the study")
    address = study.launch.ray.address
    if address and address != "auto":
        check_reachable(address)
    client = check_tracking(study)
    prepare_inputs(study)
    start_ray(study)
    try:
        check_cluster_storage(study, sum(1 for node in ray.nodes() if node.get("Alive")))
    except UserError:
        ray.shutdown()
        raise
    storage = optuna_storage(study.storage_url)
    # A continuation does not queue the reference seeds again; a resumed launch is one if it was one.
    study.continuing = len(launches(study)) > 1 if resume else existing_trials(storage, study.name) > 0
    experiment_id, parent_run_id = open_parent_run(client, study, resume)
    print(f"study {study.name}: {study.num_trials} trials, objective: {study.launch.study.metric} at the final "
          f"evaluation ({study.launch.study.mode}); MLflow {redact(study.tracking_uri)} run {parent_run_id}", flush=True)

    trainable = tune.with_resources(tune.with_parameters(run_trial, study=study),
                                    {"cpu": study.launch.trial.cpus, "gpu": study.launch.trial.gpus})
    interrupted = {"signal": None}

    def on_sigterm(signum, frame):  # turn SIGTERM into Tune's graceful stop (it listens for SIGUSR1)
        interrupted["signal"] = signum
        os.kill(os.getpid(), signal.SIGUSR1)
    previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if resume:
            tuner = tune.Tuner.restore(str(study.out_dir / previous), trainable=trainable, resume_unfinished=True,
                                       resume_errored=False, restart_errored=False)
        else:
            name = f"{study.name}-{time.strftime('%Y%m%d-%H%M%S')}"
            record_launch(study, name)
            tracker = MlflowTracker(study, study.tracking_uri, experiment_id, parent_run_id)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=make_searcher(study, storage), scheduler=make_scheduler(study),
                                            num_samples=study.num_trials, metric=OBJECTIVE,
                                            mode=study.launch.study.mode),
                run_config=tune.RunConfig(
                    name=name, storage_path=str(study.out_dir), callbacks=[tracker],
                    failure_config=tune.FailureConfig(max_failures=study.launch.study.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2)),
            )
        results = tuner.fit()
    except BaseException as exc:  # a second Ctrl+C, or Tune itself failing: still leave no run RUNNING
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        close_open_runs(client, experiment_id, parent_run_id, status=status)
        client.set_terminated(parent_run_id, status=status)
        ray.shutdown()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    finished = results.num_terminated + results.num_errors
    complete = finished >= study.num_trials and interrupted["signal"] is None
    close_open_runs(client, experiment_id, parent_run_id)
    if not complete:
        client.set_terminated(parent_run_id, status="KILLED")
        ray.shutdown()
        again = " ".join(a for a in sys.argv[1:] if not a.startswith(("study=", "resume=")))
        print(f"study {study.name} interrupted after {finished} of {study.num_trials} trials; continue it with:\n"
              f"  python -m tuning.launch study={study.name} {again} resume=true".replace("  resume", " resume"),
              file=sys.stderr)
        return 130
    fail_orphans(storage, study.name)
    best = mark_best(client, study, parent_run_id)
    client.set_terminated(parent_run_id, status="FINISHED")
    ray.shutdown()
    report_best(study, client, best, results.num_errors)
    return 0


def report_best(study: Study, client, best, errors: int) -> None:
    metric = study.launch.study.metric
    if best is None:
        print(f"no trial completed with {metric}; see the errors above")
        return
    run_id, value = best
    run = client.get_run(run_id)
    searched = {k: run.data.params.get(k) for k in study.search if k in run.data.params}
    searched.update({k: run.data.tags[k] for k in study.search if k in run.data.tags})
    print(f"best trial: {run.info.run_name}  {metric}={value:.4g} (final evaluation)  {json.dumps(searched)}")
    print(f"whether it beats the reference settings beyond noise: python -m dashboards.report study={study.name}")
    if errors:
        print(f"{errors} trial(s) failed; their runs are FAILED with an 'error' tag")
    uri = redact(study.tracking_uri)
    if uri.startswith(("http://", "https://")):  # a server: its UI is already there
        print(f"open the results: {uri} in a browser (experiment {study.experiment})")
        return
    print(f"open the results: mlflow ui --backend-store-uri {uri}" + ("" if study.launch.mlflow.tracking_uri else
          f" --default-artifact-root {(study.out_dir / 'mlartifacts').as_uri()}"))


def dry_run(study: Study) -> None:
    """Print every trial known before the search starts, and the count; start nothing."""
    s = study.launch.study
    print(f"study {study.name}: objective {s.metric} at the final evaluation ({s.mode}); "
          f"{study.base_config().total_epochs} epochs per trial")
    base = " ".join(f"{k}={v}" for k, v in sorted(base_changes(study).items())) or "(engine defaults)"
    print(f"base (engine keys the study sets): {base}")
    print("trials (engine keys that differ from the base):")
    plan = planned_trials(study)
    for number, trial in enumerate(plan, 1):
        changed = " ".join(f"{k}={v}" for k, v in sorted(trial["changed"].items())) or "(the base)"
        mark = "  [reference]" if trial["reference"] else ""
        print(f"  {number:4d}  {trial['label'] or '-':32s} seed={trial['seed']:<3d} {changed}{mark}")
    if study.is_grid:
        print(f"{len(plan)} trials ({study.num_configurations} configurations x {s.seeds} seed(s)), no duplicates")
    else:
        space = ", ".join(f"{n}~{d.kind}[{d.low}, {d.high}]" if d.kind in ("uniform", "loguniform", "int")
                          else f"{n}~{d.kind}{d.choices}" for n, d in study.search.items())
        print(f"{study.num_trials} trials: the {len(plan)} above, then {study.num_trials - len(plan)} proposed by "
              f"TPE from {space}")


def main(args: list[str]) -> None:
    for noisy in ("mlflow", "alembic"):  # store creation logs at INFO on stderr; errors must stay one line
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args[:1] == ["list"]:
        print(describe_studies())
        return
    dry = "--dry-run" in args
    name, overrides = split_args([a for a in args if a != "--dry-run"])
    study = load_study(name, overrides)
    if dry:
        dry_run(study)
        return
    code = run_study(study)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    sys.exit(run_main(main, usage=lambda: USAGE + "\nstudies:\n" + describe_studies()))
