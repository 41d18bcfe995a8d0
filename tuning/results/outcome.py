"""The launcher's stop flag, and the rule that a trial ended by it was interrupted: it ended without error and
without its final evaluation after the launcher's first stop signal (not stopped by ASHA, not failed).

`STOPPING` is set by the launcher's signal handler (tuning/run/interrupts.py); it lives here so that the
searcher, the records and the tracker read one flag and one rule without importing the launcher's process code.
"""
from __future__ import annotations

import math
import threading

from tuning.results.objective import FINAL, OBJECTIVE

STOPPING = threading.Event()  # set by the first SIGINT/SIGTERM of this launcher process


def interrupted() -> bool:
    return STOPPING.is_set()


def ended_by_interrupt(result: dict | None, error: bool = False) -> bool:
    """A trial Tune reports as ended, without error and without its final evaluation, after a stop signal."""
    return STOPPING.is_set() and not error and not (result or {}).get(FINAL)


OUTCOMES = ("complete", "stopped", "failed", "interrupted")


def outcome_of(result: dict | None, error: bool = False) -> str:
    """How a trial that Tune reports as ended ended, from its last result: `interrupted` (the launcher's stop
    signal ended it before its final evaluation: its record stays running, its run is marked KILLED, resume
    continues it), `failed` (an error, no result at all, or no finite objective), `complete` (its final
    evaluation reached) or `stopped` (ended early by the scheduler).

    The one classification of a trial's end: the Optuna searchers (which state Optuna is told), the seed
    repeaters (which seeds count towards a configuration's mean), the trial records, the MLflow writer and
    the console all read it. A configuration's mean over seeds is told as {objective, final: true}."""
    if ended_by_interrupt(result, error):
        return "interrupted"
    if error or not result or not _finite(result.get(OBJECTIVE)):
        return "failed"
    return "complete" if result.get(FINAL) else "stopped"


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
