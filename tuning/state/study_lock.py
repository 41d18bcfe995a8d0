"""One launch of a study at a time (SPEC §5), on one machine or many.

The lock lives in the study's Optuna storage, which every launcher of the study reaches (the SQLite file in
`study.out_dir`, or a PostgreSQL server shared by the nodes of a cluster): it is an Optuna study named
`NAME~lock`. Optuna refuses a second study of the same name in one storage, and that refusal is the atomic
test-and-set: whichever launcher creates `NAME~lock` first holds the lock. The holder's line (pid, host,
start, launch) is stored on it as user attributes, with a heartbeat renewed every `HEARTBEAT_S`.

A lock is released (the lock study deleted) at a normal exit. One found is therefore alive, or its launcher
was killed; it is taken over, and the takeover printed, only when its holder is provably gone:
- its holder ran on this host *in this PID namespace* (`/proc/self/ns/pid`: a container on the same host
  name has its own pids) and that process is gone (pid and the kernel's start time of the process, so a
  recycled pid does not count as alive), or
- its heartbeat is older than `STALE_S` (a holder on another host or in another container, or a node that
  went away), measured on one clock: the database's own `now()` on PostgreSQL, written by the holder and
  read by the taker alike, so hosts whose clocks disagree neither steal a live lock nor keep a dead one.
  A SQLite storage is a local file, so its clock is this machine's.
Two launchers taking over the same dead lock at the same instant could both delete it before one creates
it again; the taker re-reads the holder just before deleting, which makes that window a few milliseconds.
"""
from __future__ import annotations

import atexit
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field

import optuna
from sqlalchemy import text

from cyclegan.configtools import UserError
from tuning.redact import redact
from tuning.state.storage import optuna_storage
from tuning.study.study import Study

SUFFIX = "~lock"
HEARTBEAT_S = 30.0
STALE_S = 300.0    # ten missed heartbeats: a holder on another host is presumed gone
HOLDER_KEYS = ("pid", "host", "since", "launch", "process_start", "pid_namespace", "heartbeat")
_held: list = []   # this process's locks (StudyLock), released by release_held


def pid_namespace() -> str:
    """This process's PID namespace ('pid:[4026531836]'), '' where /proc does not say."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def db_now(storage) -> float:
    """Seconds since the epoch on the storage's clock: PostgreSQL's now(), or this machine's for SQLite."""
    engine = getattr(storage, "engine", None)
    if engine is not None and engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            return float(connection.execute(text("SELECT EXTRACT(EPOCH FROM now())")).scalar())
    return time.time()


def process_start(pid: int) -> str:
    """The kernel's start time of a process (jiffies since boot, /proc/PID/stat field 22); '' if unknown."""
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def holder_line(holder: dict) -> str:
    return (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('since', '?')} "
            f"(launch {holder.get('launch', '?')})")


def launch_of(line: str | None) -> str | None:
    """The launch named in a holder's line."""
    match = re.search(r"\(launch (\S+)\)", line or "")
    return match.group(1) if match and match.group(1) != "?" else None


@dataclass
class StudyLock:
    """The held lock: renews its heartbeat until released (at exit, or by `close()`)."""
    storage: optuna.storages.BaseStorage
    study_id: int
    holder: dict
    _stop: threading.Event = field(default_factory=threading.Event)

    def start_heartbeat(self) -> None:
        def beat():
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    self.storage.set_study_user_attr(self.study_id, "heartbeat", db_now(self.storage))
                except Exception:  # noqa: BLE001, S110 (a storage hiccup: the next beat tries again)
                    pass
        threading.Thread(target=beat, name="study-lock-heartbeat", daemon=True).start()

    def close(self) -> None:
        # A forked child of the launcher (some libraries fork helpers) inherits the atexit handler: only the
        # holder itself releases the lock.
        if self._stop.is_set() or os.getpid() != self.holder["pid"]:
            return
        self._stop.set()
        try:
            self.storage.delete_study(self.study_id)
        except Exception:  # noqa: BLE001, S110 (gone already, or the storage is: a stale lock is taken over later)
            pass


def process_gone_here(holder: dict) -> bool | None:
    """For a process recorded with pid, host, PID namespace and start time: whether it is gone, when it ran
    where its pid means the same process as here (this host and this PID namespace); None elsewhere."""
    here = holder.get("host") == socket.gethostname() and holder.get("pid_namespace", "") == pid_namespace()
    if not (here and holder.get("process_start")):
        return None
    return process_start(int(holder.get("pid", 0))) != holder["process_start"]


def holder_is_gone(holder: dict, now: float) -> bool:
    """`now`: the storage's clock (db_now). A holder is looked up by pid only where its pid means the same
    process as here; elsewhere by its heartbeat."""
    gone = process_gone_here(holder)
    return gone if gone is not None else now - float(holder.get("heartbeat", 0)) > STALE_S


def read_holder(storage, lock_name: str) -> tuple[int, dict] | None:
    try:
        study_id = storage.get_study_id_from_name(lock_name)
        return study_id, storage.get_study_user_attrs(study_id)
    except KeyError:
        return None


def lock_study(study: Study, launch: str, storage=None) -> tuple[StudyLock, str | None]:
    """Take the study's lock for the life of this process, or exit 2 naming the live holder. Returns the lock
    (keep it) and the line of a holder whose launcher was killed (its lock taken over), or None. `storage`:
    the launch's Optuna storage (default: one for `study.storage_url`)."""
    storage = storage or optuna_storage(study.storage_url)
    lock_name = study.name + SUFFIX
    left_behind = None
    for _ in range(5):
        try:
            study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], lock_name)
            break
        except optuna.exceptions.DuplicatedStudyError:
            pass
        found = read_holder(storage, lock_name)
        if found is None:
            continue  # released in the meantime
        if not found[1].get("heartbeat"):  # being taken at this instant, or its taker died at once
            time.sleep(2.0)
            found = read_holder(storage, lock_name)
            if found is None:
                continue
        study_id, holder = found
        if not holder_is_gone(holder, db_now(storage)):
            raise UserError(f"study {study.name} in {redact(study.storage_url)} is already being run by "
                            f"{holder_line(holder)}; wait for it to end (or stop it: kill {holder.get('pid', '?')} "
                            f"on {holder.get('host', '?')}), then launch again")
        again = read_holder(storage, lock_name)
        if again is None or again[1] != holder:
            continue  # someone else took it over first
        storage.delete_study(study_id)
        left_behind = holder_line(holder)
    else:
        raise UserError(f"study {study.name}: could not take its lock in {redact(study.storage_url)} (other "
                        "launches keep taking it); launch again")
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
              "launch": launch, "process_start": process_start(os.getpid()), "pid_namespace": pid_namespace(),
              "heartbeat": db_now(storage)}
    for key in HOLDER_KEYS:  # the heartbeat last: a lock without one is still being taken
        storage.set_study_user_attr(study_id, key, holder[key])
    lock = StudyLock(storage, study_id, holder)
    lock.start_heartbeat()
    _held.append(lock)
    return lock, left_behind


def release_held() -> None:
    """Release this process's study locks: at a normal exit (atexit), and called directly by a launcher that
    leaves with `os._exit` after an interrupt, where atexit handlers do not run (the next launch would otherwise
    take the lock over as a dead one's). `StudyLock.close` runs once and only in the holder's process."""
    for lock in _held:
        lock.close()


atexit.register(release_held)
