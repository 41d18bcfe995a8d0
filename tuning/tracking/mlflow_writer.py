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
import sys
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
from tuning.redact import redact
from tuning.results.objective import FINAL, OBJECTIVE, OUTCOME
from tuning.results.outcome import outcome_of
from tuning.results.run_layout import (
    GENERATORS,
    TAG_HISTORY,
    TAG_RACE,
    TAG_REFERENCE,
    TAG_ROUND,
    TAG_SEED,
    TAG_STAGE,
    TAG_STUDY,
    TAG_TRIAL,
    image_step,
)
from tuning.state.trial_records import key_number
from tuning.study.study import Study
from tuning.study.trial_keys import RACE, ROUND, STAGE
from tuning.tracking.tune_trial import error_text, trial_folders, trial_key, tune_results

BEHIND = "tracking-behind.json"  # in out_dir: trials MLflow did not take by the end of a launch


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class MlflowTracker(tune.Callback):
    """Picklable (Ray stores callbacks with the experiment and restores them on resume): the client is
    rebuilt from the tracking URI, and everything else is found again in MLflow by tags.

    The Tune events below only adapt a Tune trial; what is logged takes the trial's platform key (`t0007`),
    its config and what it reported, so the next launch's catch-up (tuning/tracking/catch_up.py) logs from
    the trials' files through the same methods."""

    def __init__(self, study: Study, history: str, tracking_uri: str, experiment_id: str, parent_run_id: str):
        self.study, self.history, self.tracking_uri = study, history, tracking_uri
        self.experiment_id, self.parent_run_id = experiment_id, parent_run_id
        self.commit = git_commit()
        self.runs: dict[str, str] = {}          # trial key -> run_id
        self.logged_epoch: dict[str, int] = {}  # trial key -> last epoch logged (each epoch exactly once)
        self.logged_grids: dict[str, int] = {}  # trial key -> last epoch whose sample grids were logged
        self.behind: set[str] = set()           # trials whose last event MLflow did not take (an outage)
        self.ended: set[str] = set()            # trials whose run this launch marked FINISHED / FAILED
        self._client = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def __getstate__(self):
        return dict(self.__dict__, _client=None)

    # -- runs -------------------------------------------------------------------------------------
    def run_for(self, key: str, config: dict) -> str:
        """The trial's run: the one this launch made or found, one an earlier launch made (found by its tag,
        reopened, with what it already holds noted), or a new one."""
        if key in self.runs:
            return self.runs[key]
        found = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.{TAG_TRIAL} = '{key}' and tags.{TAG_STUDY} = '{self.study.name}'")
        if found:
            run = found[0]
            history = self.client.get_metric_history(run.info.run_id, "epoch")
            self.logged_epoch[key] = int(max((m.value for m in history), default=0))
            grids = [a.path for a in self.client.list_artifacts(run.info.run_id, "images")]
            self.logged_grids[key] = max((image_step(p) for p in grids), default=0)
            if run.info.status != "RUNNING":
                self.client.update_run(run.info.run_id, status="RUNNING")
            run_id = run.info.run_id
        else:
            run_id = self.create_run(key, config)
        self.runs[key] = run_id
        return run_id

    def create_run(self, key: str, config: dict) -> str:
        cfg = self.study.engine_config(config)
        tags = {"mlflow.parentRunId": self.parent_run_id, TAG_STUDY: self.study.name, TAG_HISTORY: self.history,
                TAG_TRIAL: key, TAG_SEED: str(cfg.train.seed), "dataset": cfg.data.name, "backbone": cfg.eval.backbone,
                "git_commit": self.commit}
        for name in self.study.search:
            if self.study.search[name].arms is not None and name in config:
                tags[name] = str(config[name])
        # the other searched values rounded, under their short names, for the study's MLflow view (study_note.runs_view)
        sampled = {k: v for k, v in config.items() if k in self.study.search and self.study.search[k].arms is None}
        for short, shown in self.study.shown_values(sampled).items():
            tags.setdefault(short, shown)
        if self.study.is_reference(config):
            tags[TAG_REFERENCE] = "true"  # the reference settings: their seeds are the study's noise floor
        tags[TAG_STAGE] = config.get(STAGE, "search")  # tuning/search/confirm.py
        if ROUND in config:
            tags[TAG_ROUND] = str(config[ROUND])
        if RACE in config:
            tags[TAG_RACE] = str(config[RACE])  # the race's design: the report replays it (tuning/results/race.py)
        run = self.client.create_run(self.experiment_id, run_name=self.study.run_name(key_number(key), config),
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
    # MLflow's own retries ride out a few minutes of server downtime. A call that still fails leaves the
    # trial `behind`: its results wait in Tune's files (result.json, checkpoints) and `catch_up` logs them
    # at the next event it can, at the end of the launch at the latest. Every epoch is logged once.
    def _survive(self, trials, trial, log, *args) -> None:
        key = trial_key(trial)
        if self.behind and not self.catch_up(trials or []):
            self.behind.add(key)  # still down: catching up will find this event in Tune's files
            return
        try:
            log(key, trial.config, *args)
        except (MlflowException, OSError) as exc:  # requests' connection errors are OSErrors
            self.fell_behind(key, exc)

    def fell_behind(self, key: str, exc: Exception) -> None:
        if not self.behind:
            reason = redact(str(exc).splitlines()[0][:160]) if str(exc) else type(exc).__name__
            print(f"MLflow did not take trial {key}'s results ({reason}); they wait in Tune's files and "
                  "are logged when the server answers", file=sys.stderr, flush=True)
        self.behind.add(key)

    def catch_up(self, trials: list, everyone: bool = False) -> bool:
        """Bring the runs of the trials that are `behind` (or of `everyone`) up to date from Tune's files:
        results past the last epoch MLflow has, grids and generators of newer checkpoints, and the final
        state of ended trials. True if MLflow took it all."""
        for trial in trials:
            key, config = trial_key(trial), trial.config
            if not (everyone or key in self.behind):
                continue
            try:
                for result in tune_results(*trial_folders(trial)):
                    self.log_result(key, config, result)
                for folder in sorted(Path(trial.path).glob("checkpoint_*")):
                    if (folder / "metrics.json").is_file():
                        self.log_checkpoint(key, config, folder)
                if trial.status == "TERMINATED":
                    self.finish(key, config, trial.last_result)
                elif trial.status == "ERROR":
                    self.fail(key, config, error_text(trial))
            except (MlflowException, OSError) as exc:
                self.fell_behind(key, exc)
                return False
            self.behind.discard(key)
        return True

    def on_experiment_end(self, trials, **info):
        """The launch's last chance to log (a resumed launch gets its own): every trial, since a launcher
        killed mid-outage forgot which were behind. What still failed is listed for the launcher."""
        caught_up = self.catch_up(trials, everyone=True)
        marker = self.study.out_dir / BEHIND
        if caught_up:
            marker.unlink(missing_ok=True)
        else:
            marker.write_text(json.dumps(sorted(self.behind)))

    def on_trial_start(self, iteration, trials, trial, **info):
        self._survive(trials, trial, self.run_for)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._survive(trials, trial, self.log_result, result)

    def log_result(self, key: str, config: dict, result: dict) -> None:
        run_id = self.run_for(key, config)
        epoch = int(result.get("epoch", 0))
        if epoch <= self.logged_epoch.get(key, 0):
            return  # already logged before a restart: every epoch appears exactly once
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(result[k]), now, epoch) for k in (*metric_names.ALL, OBJECTIVE)
                   if isinstance(result.get(k), (int, float)) and math.isfinite(float(result[k]))]
        self.client.log_batch(run_id, metrics=metrics)
        provenance = result.get("provenance") or {}
        if provenance and key not in self.logged_epoch:
            for name, value in provenance.items():
                self.client.set_tag(run_id, f"eval.{name}", str(value))
        self.logged_epoch[key] = epoch

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self._survive(trials, trial, self.log_checkpoint, Path(checkpoint.path))

    def log_checkpoint(self, key: str, config: dict, folder: Path) -> None:
        """The sample grids of a checkpoint's epoch and, at the final evaluation, the generators."""
        run_id = self.run_for(key, config)
        summary = json.loads((folder / "metrics.json").read_text())
        epoch = int(summary["epoch"])
        if epoch <= self.logged_grids.get(key, 0):
            return
        for direction in ("a2b", "b2a"):
            image = folder / f"{direction}.png"
            if image.is_file():
                with Image.open(image) as im:
                    self.client.log_image(run_id, im.convert("RGB"), key=direction, step=epoch)
        if summary.get(FINAL):  # the weights the objective measured: what the registry and `best` use
            self.client.log_artifact(run_id, str(folder / "generators.pt"), GENERATORS)
        self.logged_grids[key] = epoch

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._survive(trials, trial, self.finish, trial.last_result)

    def finish(self, key: str, config: dict, last: dict | None) -> None:
        """Ran to its final evaluation (outcome `complete`), or stopped early by the scheduler (`stopped`,
        its objective is the value at the stop and is not ranked against complete trials)."""
        last = last or {}
        outcome = outcome_of(last)
        if key in self.ended or outcome == "interrupted":
            return  # an interrupted trial's run is marked KILLED by the launcher, and resumed later
        run_id = self.run_for(key, config)
        self.client.set_tag(run_id, OUTCOME, "complete" if outcome == "complete" else "stopped")
        if outcome != "complete" and "epoch" in last:
            self.client.set_tag(run_id, "stopped_at_epoch", str(int(last["epoch"])))
        self.client.set_terminated(run_id, status="FINISHED")
        self.ended.add(key)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._survive(trials, trial, self.note_restart, error_text(trial))

    def note_restart(self, key: str, config: dict, error: str) -> None:
        """The trial crashed and Tune restarts it from its last checkpoint; the run stays the same."""
        run_id = self.run_for(key, config)
        restarts = int(self.client.get_run(run_id).data.tags.get("restarts", "0")) + 1
        self.client.set_tag(run_id, "restarts", str(restarts))
        self.client.set_tag(run_id, "last_restart_error", error)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._survive(trials, trial, self.fail, error_text(trial))

    def fail(self, key: str, config: dict, error: str) -> None:
        if key in self.ended:
            return
        run_id = self.run_for(key, config)
        self.client.set_tag(run_id, "error", error)
        self.client.set_tag(run_id, OUTCOME, "failed")
        self.client.set_terminated(run_id, status="FAILED")
        self.ended.add(key)
