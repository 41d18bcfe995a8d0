"""Clean up after a launcher killed with SIGKILL (issue 21, item 7).

A launcher killed outright cannot clean up: its local Ray's agents and workers may outlive it, Tune's
staging of its experiments stays in that Ray's session folder, and a worker may have left a half-handed
checkpoint (`.report-*`) in a trial folder. The next launch of the study, once it holds the study's lock
(so every earlier launcher of the study has ended), does it for each launch still recorded `running`
(tuning/state/launches.py) whose launcher is provably gone: on this host and in this PID namespace, the
processes of that launcher's private Ray (those whose command line or open files are in its session
folder: the Ray processes it started, and no one else's) end, and the staging goes. Trial folders are
swept of `.report-*` whatever host the launcher ran on.
"""
from __future__ import annotations

import os
import shutil
import signal

from tuning.run.local_ray import remove_staging
from tuning.run.reaper import session_processes
from tuning.state.history import history_names
from tuning.state.launches import check_line, launches_in, set_status
from tuning.state.study_lock import process_gone_here
from tuning.state.trial_records import STAGING, TRIALS
from tuning.study.study import Study


def clean_up_dead_launches(study: Study, storage, own_session: str | None, histories: list[str] | None = None) -> list[str]:
    """Run with the study's lock held, over every history of the study (or `histories`). The launches cleaned
    up after."""
    cleaned = []
    histories = history_names(storage, study.name) if histories is None else histories
    lines = launches_in(storage, histories)
    for launch, line in lines.items():  # every line checked before any is acted on
        check_line(launch, line)
    for launch, line in lines.items():
        if line.get("status") != "running" or not process_gone_here(line):
            continue
        session = line.get("ray_session")
        if session and session != own_session:
            for pid in session_processes(session):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            remove_staging(session, [p.name for p in study.out_dir.glob(f"{launch}*")] or [launch])
        set_status(storage, line.get("history") or study.name, launch, "killed")
        cleaned.append(launch)
    for staged in (study.out_dir / TRIALS).glob(f"*/{STAGING}*"):
        shutil.rmtree(staged, ignore_errors=True)
    return cleaned

