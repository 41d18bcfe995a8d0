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
(`<out_dir>/trials/<key>/`, tuning/run/trainable.py), and ASHA's rungs are rebuilt from the stored `values`
(tuning/search/optuna_search.py). Nothing Tune wrote under `study.out_dir` is read back, so nothing there is unpickled.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna

from cyclegan.configtools import UserError

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
        """Every record of the history, each checked (`check_record`) before anyone acts on it."""
        attrs = self.storage.get_study_system_attrs(self.study_id)
        records = []
        for name, value in attrs.items():
            if name.startswith(PREFIX) and isinstance(value, dict):
                try:
                    record = TrialRecord(**value)
                except TypeError:  # not a record this code wrote: never guess what it means
                    continue
                records.append(check_record(name[len(PREFIX):], record))
        if any(r.number is not None for r in records):
            trials = self.storage.get_n_trials(self.study_id)
            for r in records:
                if r.number is not None and r.number >= trials:
                    refuse(r.key, f"Optuna trial number {r.number}, and the history has {trials} trials")
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


STATUSES = ("running", *ENDED)
STAGES = ("search", "confirm")
RECORD_KEY = re.compile(r"^t\d{4,9}$")


def refuse(key: str, what: str):
    raise UserError(f"the study's storage holds a trial record {PREFIX}{key} with {what}; it was not acted on "
                    "(nothing started or overwritten). The launcher never writes that: check who can write the "
                    "storage, then remove the record (a system attribute of the Optuna study) or start a new "
                    "history (study.new_history=true)")


def check_record(name: str, record: TrialRecord) -> TrialRecord:
    """A trial record is data, not an order (issue 30): its key names its own folder and nothing else, its
    config says it is that trial, its status, stage, number and values are of the kinds the launcher writes."""
    if not isinstance(record.key, str) or record.key != name or not RECORD_KEY.match(record.key):
        refuse(name, f"the key {str(record.key)[:80]!r} (a trial key is t and 4-9 digits, the record's own)")
    if not isinstance(record.config, dict) or record.config.get(TRIAL_KEY, record.key) != record.key:
        refuse(name, f"a config naming another trial ({str(record.config.get(TRIAL_KEY))[:80]!r})"
               if isinstance(record.config, dict) else "a config that is not a mapping")
    if record.status not in STATUSES or record.stage not in STAGES:
        refuse(name, f"status {str(record.status)[:40]!r} and stage {str(record.stage)[:40]!r}")
    if record.number is not None and (not isinstance(record.number, int) or isinstance(record.number, bool)
                                      or record.number < 0):
        refuse(name, f"Optuna trial number {str(record.number)[:40]!r}")
    if not isinstance(record.values, dict):
        refuse(name, f"evaluations {str(record.values)[:40]!r} (epoch -> objective)")
    for epoch, value in record.values.items():
        # a diverging trial's objective may be NaN: a number of any value, under an epoch number
        if not (isinstance(epoch, str) and epoch.isdigit() and isinstance(value, (int, float))
                and not isinstance(value, bool)):
            refuse(name, f"an evaluation {str(epoch)[:20]!r}: {str(value)[:40]!r} (epoch -> objective)")
    return record


def config_signature(config: dict) -> str:
    """A trial config without its key: two trials with one signature run the same settings on the same seed."""
    return json.dumps({k: v for k, v in config.items() if k not in (TRIAL_KEY, OPTUNA_NUMBER)}, sort_keys=True,
                      default=str)
