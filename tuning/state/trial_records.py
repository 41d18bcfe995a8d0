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
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna

from cyclegan.configtools import UserError
from tuning.results.race_design import design_of
from tuning.state.storage import study_id
from tuning.study.study import Distribution, Study
from tuning.study.trial_keys import OPTUNA_NUMBER, RACE, REPEAT_INDEX, ROUND, STAGE, TRIAL_KEY

PREFIX = "trial:"
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
        self.study_id = study_id(storage, optuna_name, mode)

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


SEED_INDEX_LIMIT = 10 ** 6  # search seeds are offsets below 100, confirmation seeds 1000 + 100 x round + i


def check_config(study: Study, record: TrialRecord) -> TrialRecord:
    """A stored trial config is data too (issue 30): before a launch acts on the history, every searched value
    in it is one the study's space can propose, its seed index is a small integer, its confirmation keys
    are of the kinds the launcher writes, and the engine accepts the config it makes. (Keys the study does
    not search are never read: `Study.engine_overrides` takes only searched ones.)"""
    config = record.config
    for name, dist in study.search.items():
        if name in config and not in_space(dist, config[name]):
            refuse(record.key, f"{name}={str(config[name])[:40]!r}, which the study's search space cannot propose "
                               f"({space_text(dist)})")
    index = config.get(REPEAT_INDEX, 0)
    if not _is_int(index) or not 0 <= index < SEED_INDEX_LIMIT:
        refuse(record.key, f"seed index {str(index)[:40]!r} (a whole number from 0 to {SEED_INDEX_LIMIT - 1})")
    if config.get(STAGE, "search") not in STAGES or not _is_int(config.get(ROUND, 0)) or config.get(ROUND, 0) < 0 \
            or (RACE in config and design_of(config[RACE]) is None):
        refuse(record.key, f"confirmation keys {STAGE}={str(config.get(STAGE))[:20]!r}, {ROUND}="
                           f"{str(config.get(ROUND))[:20]!r}, {RACE}={str(config.get(RACE))[:40]!r}")
    try:
        study.engine_config(config)
    except (UserError, ValueError, TypeError, KeyError) as exc:
        refuse(record.key, f"a config the engine refuses ({str(exc).splitlines()[0][:160] if str(exc) else exc})")
    return record


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def in_space(dist: Distribution, value) -> bool:
    """Whether `value` is one the study's search for `dist` can propose (Optuna, a grid, or an arm)."""
    if dist.arms is not None:
        return isinstance(value, str) and value in dist.arms
    if dist.kind in ("uniform", "loguniform"):
        return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                and dist.low <= value <= dist.high)
    if dist.kind == "int":
        return _is_int(value) and dist.low <= value <= dist.high
    return any(value == choice and isinstance(value, bool) == isinstance(choice, bool) for choice in dist.choices)


def space_text(dist: Distribution) -> str:
    if dist.arms is not None:
        return "one of the arms " + ", ".join(map(str, dist.arms))
    if dist.kind in ("uniform", "loguniform", "int"):
        return f"{dist.kind} from {dist.low:g} to {dist.high:g}"
    return "one of " + ", ".join(map(repr, dist.choices))[:120]


def config_signature(config: dict) -> str:
    """A trial config without its key: two trials with one signature run the same settings on the same seed."""
    return json.dumps({k: v for k, v in config.items() if k not in (TRIAL_KEY, OPTUNA_NUMBER)}, sort_keys=True,
                      default=str)
