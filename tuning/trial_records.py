"""The study's trials as the study's database holds them: the only state a resume reads (SPEC §5).

Every trial a launch starts gets a key (`t0007`, the number in its MLflow run name) and a record in the
study's Optuna storage (a system attribute `trial:t0007` of the history's Optuna study), written by the
launcher when the trial is created and updated at each of its evaluations and at its end:

    {"launch": the launch that started it, "stage": "search" | "confirm",
     "config": the Tune trial config (searched values, seed index, stage keys, the key itself),
     "number": its Optuna trial number (search trials) or null (confirmation trials),
     "status": "running" | "complete" | "stopped" | "failed",
     "values": {"epoch": objective, ...}}

Ray Tune is the executor, not the record: `resume=true` runs the launch's records that are still `running`
again with their stored config, each continuing from the engine checkpoint in its own folder
(`<out_dir>/trials/<key>/`, tuning/trainable.py), and ASHA's rungs are rebuilt from the stored `values`
(tuning/search.py). Nothing Tune wrote under `study.out_dir` is read back, so nothing there is unpickled.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna

PREFIX = "trial:"
TRIAL_KEY = "__trial_key__"        # trial config key: the platform's name of the trial (t0007)
OPTUNA_NUMBER = "__optuna_number__"  # trial config key: the Optuna trial it reports to (search trials)
ENDED = ("complete", "stopped", "failed")
TRIALS = "trials"                  # <out_dir>/trials/<key>/: the trial's folder, owned by the platform
STAGING = ".report-"               # in a trial folder: a checkpoint being handed to Tune (scratch if left)
KEY = re.compile(r"t(\d+)$")


@dataclass
class TrialRecord:
    key: str
    launch: str
    stage: str
    config: dict
    number: int | None = None
    status: str = "running"
    values: dict[str, float] = field(default_factory=dict)  # epoch (as text: JSON keys) -> objective

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def epochs(self) -> list[tuple[int, float]]:
        return sorted((int(e), float(v)) for e, v in self.values.items())


def trial_folder(out_dir: Path, key: str) -> Path:
    return Path(out_dir) / TRIALS / key


def key_number(key: str) -> int:
    match = KEY.match(key or "")
    return int(match.group(1)) if match else 0


class TrialRecords:
    """Read and write the records of one history (Optuna study) in its storage. The launcher is the only
    writer (its searcher and callbacks run in the driver), so a record is rewritten whole."""

    def __init__(self, storage: optuna.storages.BaseStorage, optuna_name: str, mode: str = "min"):
        self.storage = storage
        direction = optuna.study.StudyDirection.MAXIMIZE if mode == "max" else optuna.study.StudyDirection.MINIMIZE
        try:
            self.study_id = storage.get_study_id_from_name(optuna_name)
        except KeyError:
            try:
                self.study_id = storage.create_new_study([direction], optuna_name)
            except optuna.exceptions.DuplicatedStudyError:  # created by another writer a moment ago
                self.study_id = storage.get_study_id_from_name(optuna_name)

    def all(self) -> list[TrialRecord]:
        attrs = self.storage.get_study_system_attrs(self.study_id)
        records = []
        for name, value in attrs.items():
            if name.startswith(PREFIX) and isinstance(value, dict):
                try:
                    records.append(TrialRecord(**value))
                except TypeError:  # not a record this code wrote: never guess what it means
                    continue
        return sorted(records, key=lambda r: key_number(r.key))

    def of_launch(self, launch: str) -> list[TrialRecord]:
        return [r for r in self.all() if r.launch == launch]

    def put(self, record: TrialRecord) -> None:
        self.storage.set_study_system_attr(self.study_id, PREFIX + record.key, asdict(record))

    def get(self, key: str) -> TrialRecord | None:
        value = self.storage.get_study_system_attrs(self.study_id).get(PREFIX + key)
        return TrialRecord(**value) if isinstance(value, dict) else None

    def highest_number(self) -> int:
        return max((key_number(r.key) for r in self.all()), default=0)


def config_signature(config: dict) -> str:
    """A trial config without its key: two trials with one signature run the same settings on the same seed."""
    return json.dumps({k: v for k, v in config.items() if k not in (TRIAL_KEY, OPTUNA_NUMBER)}, sort_keys=True,
                      default=str)
