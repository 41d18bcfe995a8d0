"""Results MLflow did not take, logged by the next launch from the trials' files (never from a pickle).

When the tracking server was down at the end of a launch (tuning/tracking/mlflow_writer.py: "they wait in Tune's files"),
the launch ends with exit 1 and nothing marked. `resume=true` first brings every trial of that launch up to
date in MLflow from what Tune wrote as plain files in its experiment folders (`result.json` lines,
checkpoint folders with `metrics.json`, the grids and `generators.pt`, uploaded as files, never loaded),
then marks each run as its record in the storage says (tuning/state/trial_records.py): each epoch and grid once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tuning.results.objective import FINAL
from tuning.state.trial_records import TrialRecord, TrialRecords
from tuning.study.study import Study
from tuning.tracking.mlflow_writer import BEHIND, MlflowTracker, tune_results


@dataclass
class TrialFiles:
    """What the tracker needs of a Tune trial, read from one of its folders."""
    trial_id: str
    config: dict
    path: str
    status: str
    last_result: dict = field(default_factory=dict)
    local_path: None = None

    def get_error(self):
        return None


def first_epoch(folder: Path) -> int:
    try:
        return int(json.loads((folder / "result.json").read_text().splitlines()[0]).get("epoch", 0))
    except (OSError, ValueError, IndexError):
        return 0


def trial_folders(study: Study, launch: str, key: str) -> list[Path]:
    """The trial's folders in the launch's Tune experiments, in the order of its epochs."""
    found = [p for p in study.out_dir.glob(f"{launch}*/{key}_*") if p.is_dir()]
    return sorted(found, key=first_epoch)


def catch_up(study: Study, tracker: MlflowTracker, launch: str, records: list[TrialRecord]) -> None:
    """Log what MLflow lacks of each of the launch's trials, then end the runs of ended trials (raises the
    MLflow error if the server still does not take it)."""
    for record in records:
        folders = trial_folders(study, launch, record.key)
        if not folders:
            continue
        status = {"complete": "TERMINATED", "stopped": "TERMINATED", "failed": "ERROR"}.get(record.status, "RUNNING")
        for folder in folders:
            results = tune_results(TrialFiles(record.key, record.config, str(folder), status))
            trial = TrialFiles(record.key, record.config, str(folder), status, results[-1] if results else {})
            for result in results:
                tracker.log_result(trial, result)
            for checkpoint in sorted(folder.glob("checkpoint_*")):
                if (checkpoint / "metrics.json").is_file():
                    tracker.log_checkpoint(trial, checkpoint)
        trial.last_result = dict(trial.last_result, **{FINAL: record.status == "complete"})
        if record.status in ("complete", "stopped"):
            tracker.finish(trial)
        elif record.status == "failed":
            tracker.fail(trial)
    (study.out_dir / BEHIND).unlink(missing_ok=True)


def catch_up_launch(study: Study, storage, launch: str, experiment_id: str, parent_run_id: str) -> None:
    """`catch_up` for a resumed launch: its trials' records read from the storage, one tracker on its runs."""
    tracker = MlflowTracker(study, study.tracking_uri, experiment_id, parent_run_id)
    catch_up(study, tracker, launch, TrialRecords(storage, study.optuna_name).of_launch(launch))


def all_logged(study: Study) -> bool:
    """False while results the tracker could not log wait in Tune's files (the marker `BEHIND`)."""
    return not (study.out_dir / BEHIND).is_file()
