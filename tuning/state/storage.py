"""The Optuna storage: the one place a storage URL becomes a storage object, and the one read of a stored
study. Everything a resume reads lives behind it (SPEC §4)."""
from __future__ import annotations

import time
from pathlib import Path

import optuna
from sqlalchemy.exc import IntegrityError, OperationalError


def not_yet_created(url: str) -> bool:
    """A SQLite store that does not exist yet: nothing to check, and opening it would create it."""
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()


def optuna_storage(url: str) -> optuna.storages.BaseStorage:
    """Ray's OptunaSearch wants a storage object, not a URL. SQLite waits for its lock instead of failing.
    Two first launches of a study create the storage's tables at the same instant: the one that loses that
    race (IntegrityError on alembic_version, or "table already exists") opens the storage the other made."""
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(4):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except (IntegrityError, OperationalError):
            time.sleep(0.5 * (attempt + 1))
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)  # the fifth try: its error is the one to show


def stored_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:  # no such study yet
        return None


def existing_trials(storage: optuna.storages.BaseStorage, name: str) -> int:
    try:
        return len(optuna.load_study(study_name=name, storage=storage).trials)
    except KeyError:  # no such study yet
        return 0


def study_id(storage, name: str, mode: str = "min", create: bool = True) -> int | None:
    """The id of the Optuna study `name` in `storage`: the one get-or-create (None: absent and `create` off)."""
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        if not create:
            return None
    direction = optuna.study.StudyDirection.MAXIMIZE if mode == "max" else optuna.study.StudyDirection.MINIMIZE
    try:
        return storage.create_new_study([direction], name)
    except optuna.exceptions.DuplicatedStudyError:
        return storage.get_study_id_from_name(name)
