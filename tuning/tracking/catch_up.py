"""Results MLflow did not take, logged by the next launch from the trials' files (never from a pickle).

When the tracking server was down at the end of a launch (tuning/tracking/mlflow_writer.py: "they wait in Tune's files"),
the launch ends with exit 1 and nothing marked. `resume=true` first brings every trial of that launch up to
date in MLflow from what Tune wrote as plain files in its experiment folders (`result.json` lines,
checkpoint folders with `metrics.json`, the grids and `generators.pt`, uploaded as files, never loaded),
then marks each run as its record in the storage says (tuning/state/trial_records.py): each epoch and grid once.
"""
from __future__ import annotations

import json
from pathlib import Path

from tuning.results.objective import FINAL
from tuning.state.trial_records import TrialRecord, TrialRecords
from tuning.study.study import Study
from tuning.tracking.mlflow_writer import BEHIND, MlflowTracker
from tuning.tracking.tune_trial import tune_results


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
        last: dict = {}
        for folder in folders:
            results = tune_results(folder)
            last = results[-1] if results else last
            for result in results:
                tracker.log_result(record.key, record.config, result)
            for checkpoint in sorted(folder.glob("checkpoint_*")):
                if (checkpoint / "metrics.json").is_file():
                    tracker.log_checkpoint(record.key, record.config, checkpoint)
        if record.status in ("complete", "stopped"):  # the record's outcome, not the files': it is the decided one
            tracker.finish(record.key, record.config, dict(last, **{FINAL: record.status == "complete"}))
        elif record.status == "failed":
            tracker.fail(record.key, record.config, "the trial failed")
    (study.out_dir / BEHIND).unlink(missing_ok=True)


def catch_up_launch(study: Study, storage, history: str, launch: str, experiment_id: str, parent_run_id: str) -> None:
    """`catch_up` for a resumed launch: its trials' records read from the storage, one tracker on its runs."""
    tracker = MlflowTracker(study, history, study.tracking_uri, experiment_id, parent_run_id)
    catch_up(study, tracker, launch, TrialRecords(storage, history).of_launch(launch))


def all_logged(study: Study) -> bool:
    """False while results the tracker could not log wait in Tune's files (the marker `BEHIND`)."""
    return not (study.out_dir / BEHIND).is_file()
