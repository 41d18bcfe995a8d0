"""A study's launches: each one line in the study's storage (SPEC §5), the one record of a launch.

A launch writes `launch:<name>` on its history's Optuna study when it starts: status `running`, when it
started, where its launcher and its local Ray run, and its arguments; `complete` when every trial has a final
outcome. `resume=true` continues the newest launch of the study when it is not complete, with its arguments;
the next launch cleans up after one whose launcher is gone (tuning/run/cleanup.py).

A line is data, not an order (issue 30): `check_line` refuses one the platform never writes before a launch
acts on it, and of its arguments a resume takes only the study's own settings (`taken`: engine keys and the
search's `study.*` keys). Where results go (`DESTINATIONS`) is taken from the command line and the study file
and must match what the launch recorded (exit 2 naming the argument otherwise); resources (`trial.*`,
`ray.num_cpus`, `study.max_concurrent`) come from the command line and the study file, and the printed resume
command repeats those the launch was given. Arguments are stored after passwords were moved out of the URIs
(tuning.redact.take_credentials) and redacted once more.
"""
from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path
from typing import NoReturn

from cyclegan.configtools import UserError
from tuning.redact import redact, split_credentials
from tuning.state.history import history_names
from tuning.state.storage import not_yet_created, optuna_storage, study_id
from tuning.state.study_lock import pid_namespace, process_start
from tuning.study.loading import load_study
from tuning.study.study import Study

PREFIX = "launch:"
DESTINATIONS = ("mlflow.tracking_uri", "study.storage", "ray.address", "mlflow.experiment")
RESOURCES = ("trial.cpus", "trial.gpus", "study.max_concurrent", "ray.num_cpus")
ENGINE_SECTIONS = ("data", "model", "loss", "optim", "train", "eval")
NOT_TAKEN = ("study.out_dir", "study.storage", "study.max_concurrent", "study.new_history", "study.shared_out_dir")
LEGACY = "launches.json"  # where launches before stop 37 kept their arguments (read once, on their resume)


# -- the line: written by the launch, read by the next ----------------------------------------------------
def begin(storage, study: Study, history: str, launch: str, ray_session: str | None,
          arguments: list[str] | None) -> None:
    """The launch's line in its `history`, `running`; a resumed launch (`arguments` None) keeps its arguments
    and start time."""
    sid = study_id(storage, history, study.launch.study.mode)
    earlier = storage.get_study_system_attrs(sid).get(PREFIX + launch) or {}
    storage.set_study_system_attr(sid, PREFIX + launch, {
        "status": "running", "history": history, "host": socket.gethostname(), "pid": os.getpid(),
        "process_start": process_start(os.getpid()), "pid_namespace": pid_namespace(), "ray_session": ray_session,
        "started": earlier.get("started", time.time()),
        "arguments": earlier.get("arguments", []) if arguments is None else arguments})


def set_status(storage, history: str, launch: str, status: str) -> None:
    sid = study_id(storage, history, create=False)
    if sid is None:
        return
    line = storage.get_study_system_attrs(sid).get(PREFIX + launch) or {}
    storage.set_study_system_attr(sid, PREFIX + launch, dict(line, status=status))


def launches_in(storage, names: list[str]) -> dict[str, dict]:
    """{launch: its line} over the given histories."""
    found = {}
    for name in names:
        sid = study_id(storage, name, create=False)
        if sid is not None:
            found.update({k[len(PREFIX):]: v for k, v in storage.get_study_system_attrs(sid).items()
                          if k.startswith(PREFIX) and isinstance(v, dict)})
    return found


def last_launch(storage, study: Study) -> tuple[str, dict] | None:
    """The study's newest launch over all its histories, (name, line), checked; None before any."""
    lines = launches_in(storage, history_names(storage, study.name))
    for launch, line in lines.items():
        check_line(launch, line)
    newest = max(lines.items(), key=lambda item: (item[1].get("started", 0), item[0]), default=None)
    return newest


def launches_of_history(storage, history: str) -> int:
    return len(launches_in(storage, [history]))


def is_complete(storage, history: str, launch: str) -> bool:
    return launches_in(storage, [history]).get(launch, {}).get("status") == "complete"


LAUNCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SESSION_NAME = re.compile(r"^session_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d+_\d+$")
STATUSES = ("running", "complete", "killed", "interrupted", "failed")


def bad_record(launch: str, what: str) -> NoReturn:
    raise UserError(f"the study's storage holds a launch record {PREFIX}{launch} with {what}; it was not acted "
                    "on (nothing killed or deleted, nothing started). A launcher of this platform never writes "
                    "that: check who can write the storage, then remove the record (a system attribute of the "
                    "Optuna study)")


def check_line(launch: str, line: dict) -> None:
    """A launch line is data, not an order (issue 30): before a launch acts on one (kills the processes of
    its Ray session, removes its staging, resumes it) the line must look like one this platform wrote.
    Exit 2 naming it otherwise; nothing is killed or deleted."""
    if not LAUNCH_NAME.match(launch):
        bad_record(launch, "a name that is not a launch name")
    if line.get("status") not in STATUSES:
        bad_record(launch, f"status {line.get('status')!r}")
    pid = line.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        bad_record(launch, f"pid {pid!r}")
    session = line.get("ray_session")
    if session is not None:
        path = Path(str(session))
        if not (isinstance(session, str) and path.is_absolute() and ".." not in path.parts
                and SESSION_NAME.match(path.name)):
            bad_record(launch, f"ray_session {str(session)[:200]!r}, which is not a Ray session folder "
                               "(<ray temp>/session_<date>_<pid>)")
        if path.name.rsplit("_", 1)[1] != str(pid):  # Ray names a head's session after the pid that started it
            bad_record(launch, f"ray_session {str(session)[:200]!r}, which is not the session its launcher (pid "
                               f"{pid}) started")
    arguments = line.get("arguments", [])
    if not (isinstance(arguments, list) and all(isinstance(a, str) and "=" in a for a in arguments)):
        bad_record(launch, f"arguments {str(arguments)[:200]!r}, which are not key=value arguments")
    for argument in arguments:
        key = argument.split("=", 1)[0]
        if not (taken(key) or key in DESTINATIONS):
            bad_record(launch, f"the argument {redact(argument)[:200]!r}, which a launch never stores (a resume takes "
                               "only the study's own settings; resources and destinations come from its command)")


# -- arguments ---------------------------------------------------------------------------------------------
def taken(key: str) -> bool:
    """Whether a resume takes `key` from the launch's stored arguments: the study's own settings only."""
    section = key.split(".", 1)[0]
    return section in ENGINE_SECTIONS or (section == "study" and key not in NOT_TAKEN)


def launch_arguments(study: Study, overrides: list[str]) -> list[str]:
    """The arguments to store for `resume=true`: the study's own settings given, and where results go
    (credential-free) for the resume to compare with its own."""
    kept = [redact(o) for o in overrides if "=" in o and taken(o.split("=", 1)[0])]
    return kept + [f"{key}={value}" for key, value in destinations(study).items() if value]


def destinations(study: Study) -> dict[str, str | None]:
    """Where this launch sends results (credential-free, None for the default)."""
    given = {"mlflow.tracking_uri": study.launch.mlflow.tracking_uri, "study.storage": study.launch.study.storage,
             "ray.address": study.launch.ray.address, "mlflow.experiment": study.launch.mlflow.experiment}
    return {key: split_credentials(value, key)[0] or None for key, value in given.items()}


def stored_arguments(study: Study, launch: str, line: dict) -> list[str]:
    """The arguments `launch` was started with (a launch from before stop 37: from the study folder's
    launches.json, checked the same way)."""
    if "arguments" in line:
        return line["arguments"]
    path = study.out_dir / LEGACY
    entries = json.loads(path.read_text()) if path.is_file() else []
    found = next((e.get("overrides", []) for e in entries if isinstance(e, dict) and e.get("name") == launch), [])
    found = [o for o in found if isinstance(o, str) and "=" in o and (taken(o.split("=", 1)[0])
                                                                        or o.split("=", 1)[0] in DESTINATIONS)]
    check_line(launch, dict(line, arguments=found))
    return found


def with_stored_overrides(name: str, overrides: list[str]) -> Study:
    """The study for `resume=true`: the interrupted launch's own settings, then any given now (later wins);
    destinations only from the command line and the study file, and refused if the launch recorded others."""
    study = load_study(name, overrides)
    if not study.launch.resume or not_yet_created(study.storage_url):
        return study
    newest = last_launch(optuna_storage(study.storage_url), study)
    if newest is None:
        return study
    launch, line = newest
    stored = stored_arguments(study, launch, line)
    recorded = {key: None for key in DESTINATIONS} | {o.split("=", 1)[0]: o.split("=", 1)[1] or None
                                                      for o in stored if o.split("=", 1)[0] in DESTINATIONS}
    for key, now in destinations(study).items():
        if recorded[key] != now:
            raise UserError(f"resume=true: the interrupted launch used {key}={recorded[key] or '(the default)'}, this "
                            f"command {now or '(the default)'}; give {key}={recorded[key] or '...'} to resume it "
                            "(where results go is taken from the command line and the study file, never from a "
                            "record), or drop resume=true")
    kept = [o for o in stored if taken(o.split("=", 1)[0])]
    try:
        return load_study(name, kept + overrides) if kept else study
    except UserError as exc:
        bad_record(launch, f"arguments that do not load ({exc})")


def resume_command(study: Study) -> str:
    """The command that resumes this launch: the study, its folder, where its results go (no password) and
    the resources it was given (a resume takes those from its command, not from the record)."""
    where = f" study.out_dir={study.launch.study.out_dir}" if study.launch.study.out_dir else ""
    sent = "".join(f" {key}={redact(value)}" for key, value in destinations(study).items() if value)
    resources = resources_given(study)
    return f"python -m tuning.launch study={study.source or study.name}{where}{sent}{resources} resume=true"


def resources_given(study: Study) -> str:
    """` key=value` for each resource of this launch that differs from its study file's."""
    try:
        plain = load_study(study.source or study.name, [])
    except UserError:  # the file changed since: give them all
        plain = None
    shown = ""
    for key in RESOURCES:
        section, field_name = key.split(".")
        value = getattr(getattr(study.launch, section), field_name)
        if value is not None and (plain is None or value != getattr(getattr(plain.launch, section), field_name)):
            shown += f" {key}={value:g}" if isinstance(value, float) else f" {key}={value}"
    return shown
