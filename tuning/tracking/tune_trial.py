"""What the tracker and the console read of a Ray Tune trial: its platform key and number, its folders, the
results it wrote there and its error. The writer's own methods take (key, config, results) instead
(tuning/tracking/mlflow_writer.py), so the next launch's catch-up needs no Tune trial."""
from __future__ import annotations

import json
from pathlib import Path

from tuning.state.trial_records import key_number
from tuning.study.trial_keys import TRIAL_KEY

MAX_TAG = 4000  # MLflow's limit on a tag's value, kept clear of


def tune_results(*folders: str | Path | None) -> list[dict]:
    """Every result a trial reported, from Tune's result.json in its folders (the driver's copy, or the study
    folder's if that one is longer)."""
    best: list[dict] = []
    for folder in folders:
        path = Path(folder) / "result.json" if folder else None
        if path is not None and path.is_file():
            lines = []
            for line in path.read_text().splitlines():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:  # a line still being written
                    break
            best = lines if len(lines) > len(best) else best
    return best


def trial_key(trial) -> str:
    """The platform's name of a Tune trial (`t0007`, tuning/state/trial_records.py); Tune's id for a trial without one."""
    return trial.config.get(TRIAL_KEY, trial.trial_id)


def trial_number(trial) -> int:
    """The trial's number in the study (t0007 -> 7)."""
    return key_number(trial_key(trial))


def trial_folders(trial) -> tuple:
    """A Tune trial's folders: the driver's copy and the study folder's."""
    return getattr(trial, "local_path", None), trial.path


def error_text(trial) -> str:
    """The last meaningful line of a trial's error (e.g. 'TrainingDiverged: loss_G became nan ...')."""
    error = trial.get_error()
    text = str(error) if error is not None else "the trial failed"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = [line for line in lines if "Error:" in line or "Diverged:" in line or "Exception:" in line]
    return (named[-1] if named else lines[-1] if lines else text)[:MAX_TAG]
