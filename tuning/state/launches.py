"""A study's launches (`<out_dir>/launches.json`): which Tune experiment each launch was, and its arguments.

`resume=true` continues the last one with the arguments it was started with (`study.num_samples`, engine
keys, ...). Arguments are stored after passwords were moved out of the URIs (tuning.redact.take_credentials)
and redacted once more. Where results and credentials go (`DESTINATIONS`: the tracking URI, the storage,
the Ray address) is never taken from this file, which anyone who can write `study.out_dir` could edit:
a resume takes them from its command line and the study file, and refuses (exit 2) when the interrupted
launch recorded others, naming the argument that resumes it.
"""
from __future__ import annotations

import json

from cyclegan.configtools import UserError
from tuning.redact import redact, split_credentials
from tuning.study.loading import load_study
from tuning.study.study import Study

LAUNCHES = "launches.json"
DESTINATIONS = ("mlflow.tracking_uri", "study.storage", "ray.address")


def launch_records(study: Study) -> list[dict]:
    """[{"name": Tune experiment name, "overrides": the launch's key=value arguments}], oldest first. The
    arguments are stored without passwords (they are moved into the environment first, see tuning.redact),
    so `resume=true` needs only the study name: it reuses the interrupted launch's arguments."""
    path = study.out_dir / LAUNCHES
    records = json.loads(path.read_text()) if path.is_file() else []
    return [r if isinstance(r, dict) else {"name": r, "overrides": []} for r in records]  # older: names only


def history_of_last_launch(study: Study) -> str:
    """The history (Optuna study) the last launch ran in: the one `resume=true` goes on with."""
    records = launch_records(study)
    return (records[-1].get("history") if records else None) or study.name


def launches(study: Study) -> list[str]:
    return [r["name"] for r in launch_records(study)]


def last_launch(study: Study) -> str | None:
    names = launches(study)
    return names[-1] if names else None


def record_launch(study: Study, name: str, overrides: list[str]) -> None:
    records = launch_records(study) + [{"name": name, "overrides": [redact(o) for o in overrides],
                                        "history": study.optuna_name}]
    path = study.out_dir / LAUNCHES
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1))
    tmp.replace(path)


def destinations(study: Study) -> dict[str, str | None]:
    """Where this launch sends results (credential-free, None for the default)."""
    given = {"mlflow.tracking_uri": study.launch.mlflow.tracking_uri, "study.storage": study.launch.study.storage,
             "ray.address": study.launch.ray.address}
    return {key: split_credentials(value, key)[0] or None for key, value in given.items()}


def with_stored_overrides(name: str, overrides: list[str]) -> Study:
    """The study for `resume=true`: the interrupted launch's arguments, then any given now (later wins);
    destinations only from the command line and the study file, and refused if the launch recorded others."""
    study = load_study(name, overrides)
    records = launch_records(study) if study.launch.resume else []
    if not records:
        return study
    stored = [o for o in records[-1]["overrides"] if "=" in o]
    recorded = {key: None for key in DESTINATIONS} | {o.split("=", 1)[0]: o.split("=", 1)[1] or None
                                                      for o in stored if o.split("=", 1)[0] in DESTINATIONS}
    for key, now in destinations(study).items():
        if recorded[key] != now:
            raise UserError(f"resume=true: the interrupted launch used {key}={recorded[key] or '(the default)'}, this "
                            f"command {now or '(the default)'}; give {key}={recorded[key] or '...'} to resume it "
                            "(where results go is taken from the command line and the study file, never from "
                            "study.out_dir), or drop resume=true")
    kept = [o for o in stored if o.split("=", 1)[0] not in DESTINATIONS]
    return load_study(name, kept + overrides) if kept else study


def launch_arguments(study: Study, overrides: list[str]) -> list[str]:
    """The arguments to store for `resume=true`: the URIs as the launch uses them (credential-free)."""
    uris = destinations(study)
    # study.new_history is spent once this launch has started its history: a resume continues that one.
    kept = [o for o in overrides if o.split("=", 1)[0] not in ("resume", "study.new_history", *uris)]
    return kept + [f"{key}={uri}" for key, uri in uris.items() if uri]


def resume_command(study: Study) -> str:
    """The command that resumes this launch: the study, its folder and where its results go (no password)."""
    where = f" study.out_dir={study.launch.study.out_dir}" if study.launch.study.out_dir else ""
    sent = "".join(f" {key}={redact(uri)}" for key, uri in destinations(study).items() if uri)
    return f"python -m tuning.launch study={study.source or study.name}{where}{sent} resume=true"
