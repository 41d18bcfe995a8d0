"""MLflow tracking (SPEC §5) from one writer: a Ray Tune callback in the launcher process.

Trials never talk to MLflow. They report metrics and checkpoints to Tune; this callback, running in the
driver, turns them into one parent run per study and one nested child run per trial. One writer means
no "database is locked" with a SQLite store however many trials run at once (mlflow #6490), no
params overwritten across trials (ray #30649), and the tracking URI never has to reach the workers
(ray #36257). A restarted trial finds its run again by its `trial_id` tag, so it never gets a second one.
"""
from __future__ import annotations

import json
import math
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from PIL import Image
from ray import tune

from cyclegan import metric_names
from cyclegan.configtools import flatten, to_dict

from .objective import FINAL, OBJECTIVE, OUTCOME
from .redact import redact
from .study import Study

MAX_TAG = 4000
GENERATORS = "final_generators"  # artifact folder: G_A and G_B at the trial's final evaluation


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def trial_number(trial) -> int:
    """Tune's running index of the trial in its launch (its experiment tag starts with it), from 1."""
    head = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(head) if head.isdigit() else 0


def error_text(trial) -> str:
    """The last meaningful line of a trial's error (e.g. 'TrainingDiverged: loss_G became nan ...')."""
    error = trial.get_error()
    text = str(error) if error is not None else "the trial failed"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = [line for line in lines if "Error:" in line or "Diverged:" in line or "Exception:" in line]
    return (named[-1] if named else lines[-1] if lines else text)[:MAX_TAG]


class MlflowTracker(tune.Callback):
    """Picklable (Ray stores callbacks with the experiment and restores them on resume): the client is
    rebuilt from the tracking URI, and everything else is found again in MLflow by tags."""

    def __init__(self, study: Study, tracking_uri: str, experiment_id: str, parent_run_id: str):
        self.study, self.tracking_uri = study, tracking_uri
        self.experiment_id, self.parent_run_id = experiment_id, parent_run_id
        self.commit = git_commit()
        self.runs: dict[str, str] = {}          # trial_id -> run_id
        self.logged_epoch: dict[str, int] = {}  # trial_id -> last epoch logged (each epoch exactly once)
        self._client = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def __getstate__(self):
        return dict(self.__dict__, _client=None)

    # -- runs -------------------------------------------------------------------------------------
    def run_for(self, trial) -> str:
        if trial.trial_id in self.runs:
            return self.runs[trial.trial_id]
        found = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.trial_id = '{trial.trial_id}' and tags.study = '{self.study.name}'")
        if found:
            run = found[0]
            history = self.client.get_metric_history(run.info.run_id, "epoch")
            self.logged_epoch[trial.trial_id] = int(max((m.value for m in history), default=0))
            if run.info.status != "RUNNING":
                self.client.update_run(run.info.run_id, status="RUNNING")
            run_id = run.info.run_id
        else:
            run_id = self.create_run(trial)
        self.runs[trial.trial_id] = run_id
        return run_id

    def create_run(self, trial) -> str:
        cfg = self.study.engine_config(trial.config)
        tags = {"mlflow.parentRunId": self.parent_run_id, "study": self.study.name, "trial_id": trial.trial_id,
                "seed": str(cfg.train.seed), "dataset": cfg.data.name, "backbone": cfg.eval.backbone,
                "git_commit": self.commit}
        for name in self.study.search:
            if self.study.search[name].arms is not None and name in trial.config:
                tags[name] = str(trial.config[name])
        if self.study.is_reference(trial.config):
            tags["baseline"] = "true"  # the reference settings: their seeds are the study's noise floor
        run = self.client.create_run(self.experiment_id, run_name=self.study.run_name(trial_number(trial), trial.config),
                                     tags=tags)
        run_id = run.info.run_id
        params = [Param(k, str(v)) for k, v in flatten(to_dict(cfg)).items() if k not in ("train.out_dir", "resume")]
        for start in range(0, len(params), 100):
            self.client.log_batch(run_id, params=params[start:start + 100])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "config.yaml"
            path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
            self.client.log_artifact(run_id, str(path))
        return run_id

    # -- Tune events ------------------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info):
        self.run_for(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        run_id = self.run_for(trial)
        epoch = int(result.get("epoch", 0))
        if epoch <= self.logged_epoch.get(trial.trial_id, 0):
            return  # already logged before a restart: every epoch appears exactly once
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(result[k]), now, epoch) for k in (*metric_names.ALL, OBJECTIVE)
                   if isinstance(result.get(k), (int, float)) and math.isfinite(float(result[k]))]
        self.client.log_batch(run_id, metrics=metrics)
        provenance = result.get("provenance") or {}
        if provenance and trial.trial_id not in self.logged_epoch:
            for key, value in provenance.items():
                self.client.set_tag(run_id, f"eval.{key}", str(value))
        self.logged_epoch[trial.trial_id] = epoch

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        run_id = self.run_for(trial)
        folder = Path(checkpoint.path)
        summary = json.loads((folder / "metrics.json").read_text())
        epoch = int(summary["epoch"])
        for direction in ("a2b", "b2a"):
            image = folder / f"{direction}.png"
            if image.is_file():
                with Image.open(image) as im:
                    self.client.log_image(run_id, im.convert("RGB"), key=direction, step=epoch)
        if summary.get(FINAL):  # the weights the objective measured: what the registry and `best` use
            self.client.log_artifact(run_id, str(folder / "generators.pt"), GENERATORS)

    def on_trial_complete(self, iteration, trials, trial, **info):
        """Ran to its final evaluation (outcome `complete`), or stopped early by the scheduler (`stopped`,
        its objective is the value at the stop and is not ranked against complete trials)."""
        run_id = self.run_for(trial)
        last = trial.last_result or {}
        self.client.set_tag(run_id, OUTCOME, "complete" if last.get(FINAL) else "stopped")
        if not last.get(FINAL) and "epoch" in last:
            self.client.set_tag(run_id, "stopped_at_epoch", str(int(last["epoch"])))
        self.client.set_terminated(run_id, status="FINISHED")

    def on_trial_recover(self, iteration, trials, trial, **info):
        """The trial crashed and Tune restarts it from its last checkpoint; the run stays the same."""
        run_id = self.run_for(trial)
        restarts = int(self.client.get_run(run_id).data.tags.get("restarts", "0")) + 1
        self.client.set_tag(run_id, "restarts", str(restarts))
        self.client.set_tag(run_id, "last_restart_error", error_text(trial))

    def on_trial_error(self, iteration, trials, trial, **info):
        run_id = self.run_for(trial)
        self.client.set_tag(run_id, "error", error_text(trial))
        self.client.set_tag(run_id, OUTCOME, "failed")
        self.client.set_terminated(run_id, status="FAILED")



def child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list:
    return client.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              max_results=10000)


def close_open_runs(client: MlflowClient, experiment_id: str, parent_run_id: str, status: str = "KILLED") -> int:
    """Mark child runs still RUNNING (an interrupted study) so that no run is left RUNNING."""
    open_runs = [r for r in child_runs(client, experiment_id, parent_run_id) if r.info.status == "RUNNING"]
    for run in open_runs:
        client.set_terminated(run.info.run_id, status=status)
    return len(open_runs)


def trial_objective(run) -> float | None:
    """A child run's objective: its latest `objective` (tuning/objective.py), None if it never reported."""
    value = run.data.metrics.get(OBJECTIVE)
    return value if value is not None and math.isfinite(value) else None


def open_parent_run(client: MlflowClient, study: Study, resume: bool) -> tuple[str, str]:
    """(experiment_id, parent_run_id): the study's experiment and its parent run (reused on resume)."""
    experiment = client.get_experiment_by_name(study.experiment)
    if experiment is None:
        artifacts = (study.out_dir / "mlartifacts").as_uri() if not study.launch.mlflow.tracking_uri else None
        experiment_id = client.create_experiment(study.experiment, artifact_location=artifacts)
    else:
        experiment_id = experiment.experiment_id
    # MLflow 3's UI opens GenAI experiments on a traces overview; ours are model training: show the runs.
    client.set_experiment_tag(experiment_id, "mlflow.experimentKind", "custom_model_development")
    if resume:
        parents = client.search_runs([experiment_id], filter_string=f"tags.study = '{study.name}' and tags.kind = 'study'",
                                     order_by=["attributes.start_time DESC"], max_results=1)
        if parents:
            run_id = parents[0].info.run_id
            client.update_run(run_id, status="RUNNING")
            client.set_tag(run_id, "resumed", "true")
            return experiment_id, run_id
    earlier = client.search_runs([experiment_id], filter_string=f"tags.study = '{study.name}' and tags.kind = 'study'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    tags = {"study": study.name, "kind": "study", "git_commit": git_commit(), "mlflow.note.content": study.description}
    if earlier:  # a continuation (e.g. tonight's scheduled launch): link it to the launch it extends
        tags["previous_parent_run_id"] = earlier[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"study {study.name}", tags=tags)
    if earlier:
        client.set_tag(earlier[0].info.run_id, "next_parent_run_id", run.info.run_id)
    params = {"study.metric": study.launch.study.metric, "study.mode": study.launch.study.mode,
              "study.num_samples": study.num_configurations, "study.seeds": study.launch.study.seeds,
              "study.scheduler": study.launch.study.scheduler, "study.storage": redact(study.storage_url),
              "search": json.dumps(list(study.search))}
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    return experiment_id, run.info.run_id


def mark_best(client: MlflowClient, study: Study, parent_run_id: str) -> tuple[str, float] | None:
    """Tag the best complete trial's run `best=true` (by `objective`: the study metric at the final
    evaluation; trials stopped early are not ranked), note it on the parent and register its final
    generators in the Model Registry."""
    s = study.launch.study
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    scored = [(trial_objective(run), run) for run in child_runs(client, experiment_id, parent_run_id)
              if run.data.tags.get(OUTCOME) == "complete" and trial_objective(run) is not None]
    if not scored:
        return None
    value, run = (min if s.mode == "min" else max)(scored, key=lambda pair: pair[0])
    run_id = run.info.run_id
    client.set_tag(run_id, "best", "true")
    client.set_tag(parent_run_id, "best_run_id", run_id)
    client.log_metric(parent_run_id, f"best_{OBJECTIVE}", value)
    if study.launch.mlflow.register_best:
        name = f"catholic2gogh-{study.name}"
        try:
            client.create_registered_model(name, description=f"Best generators (G_A: A->B, G_B: B->A) of study {study.name}")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        client.create_model_version(name, source=f"{run.info.artifact_uri}/{GENERATORS}", run_id=run_id,
                                    tags={"study": study.name, "trial_id": run.data.tags.get("trial_id", ""),
                                          OBJECTIVE: str(value)})
    return run_id, value
