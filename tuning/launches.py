"""A study's launches (`<out_dir>/launches.json`): which Tune experiment each launch was, and its arguments.

`resume=true` continues the last one with the arguments it was started with, so the resume hint needs only
the study name (and `study.out_dir` where it is not the default). Arguments are stored after passwords
were moved out of the URIs (tuning.redact.take_credentials) and redacted once more.
"""
from __future__ import annotations

import json

from .redact import redact
from .study import Study, load_study

LAUNCHES = "launches.json"


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


def with_stored_overrides(name: str, overrides: list[str]) -> Study:
    """The study for `resume=true`: the interrupted launch's arguments, then any given now (later wins)."""
    study = load_study(name, overrides)
    records = launch_records(study) if study.launch.resume else []
    if not records or not records[-1]["overrides"]:
        return study
    return load_study(name, records[-1]["overrides"] + overrides)


def launch_arguments(study: Study, overrides: list[str]) -> list[str]:
    """The arguments to store for `resume=true`: the URIs as the launch uses them (credential-free)."""
    uris = {"mlflow.tracking_uri": study.launch.mlflow.tracking_uri, "study.storage": study.launch.study.storage}
    # study.new_history is spent once this launch has started its history: a resume continues that one.
    kept = [o for o in overrides if o.split("=", 1)[0] not in ("resume", "study.new_history", *uris)]
    return kept + [f"{key}={uri}" for key, uri in uris.items() if uri]
