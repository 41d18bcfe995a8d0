"""A launch in four phases: check → acquire → run → finish (`run_study`).

- check: every input, creating nothing (a launch refused for bad input leaves the file tree as it was).
- acquire: the storage, the study's lock, clean-up after dead launches, Ray, the MLflow parent run.
- run: the search stage, then the confirmation (tuning/run/stages.py); Ctrl+C / SIGTERM stop them
  (tuning/run/interrupts.py).
- finish: runs marked, the best registered and the launch recorded complete only when every trial has a
  final outcome; otherwise exit 130 and the command that resumes it.
The study's state lives in its storage (tuning/state/trial_records.py, tuning/state/launch_state.py): a resumed launch
reads nothing Tune wrote.
"""
from __future__ import annotations

import optuna

from tuning.run.acquire import acquire
from tuning.run.check import check
from tuning.run.closing import say_how_to_resume
from tuning.run.execute import abandon, run
from tuning.run.finish import finish
from tuning.run.interrupts import listen
from tuning.study.study import Study


def run_study(study: Study, overrides: list[str] = (), verbose: bool = False) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in RDB ..." on stderr
    listen()  # from here on Ctrl+C and SIGTERM stop the launch cleanly (exit 130)
    previous, history = check(study)
    launch = acquire(study, previous, history, list(overrides), verbose)
    try:
        run(study, launch, verbose)
    except BaseException as exc:
        abandon(study, launch, exc)
        if isinstance(exc, KeyboardInterrupt):  # a second Ctrl+C: stopped at once, and resumable all the same
            say_how_to_resume(study, launch)
        raise
    try:
        return finish(study, launch)
    except KeyboardInterrupt:  # a second Ctrl+C while the launch was being closed
        say_how_to_resume(study, launch)
        raise
