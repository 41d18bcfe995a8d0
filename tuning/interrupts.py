"""Ctrl+C, SIGTERM and a second Ctrl+C all mean the same: stop, keep everything, exit 130 (SPEC §6).

The first SIGINT or SIGTERM sets `STOPPING` and asks Tune for its graceful stop (Tune listens for SIGUSR1;
its own SIGINT handler is switched off with TUNE_DISABLE_SIGINT_HANDLER, because it treats the trials it
then stops like trials that ended). From that moment a trial that ends without its final evaluation was
interrupted, not stopped by ASHA: the searcher tells Optuna nothing about it, the tracker leaves its run to
be marked KILLED, its record stays `running` (tuning/trial_records.py), and `resume=true` continues it from
its checkpoint. A second signal raises KeyboardInterrupt at once: the launcher marks its open runs KILLED
and ends with 130 all the same. Nothing is compacted after an interrupt (tuning/trial_storage.py).
"""
from __future__ import annotations

import os
import signal
import threading

from ray import tune

STOPPING = threading.Event()  # set by the first SIGINT/SIGTERM of this launcher process


def interrupted() -> bool:
    return STOPPING.is_set()


def ended_by_interrupt(result: dict | None, error: bool = False) -> bool:
    """A trial Tune reports as ended, without error and without its final evaluation, after a stop signal."""
    from .objective import FINAL
    return STOPPING.is_set() and not error and not (result or {}).get(FINAL)


class Interrupts:
    """Installed for the launch (a context manager), in the main thread before Tune starts."""

    def __enter__(self):
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        self.previous = {s: signal.signal(s, self.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def on_signal(self, signum, frame):
        if STOPPING.is_set():
            raise KeyboardInterrupt  # the second one: stop now
        STOPPING.set()
        if callable(signal.getsignal(signal.SIGUSR1)):  # Tune runs: its graceful stop (trials stopped)
            os.kill(os.getpid(), signal.SIGUSR1)
        # else: between Tune runs; the launcher checks STOPPING before it starts the next one

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        return False



class StopOnInterrupt(tune.Stopper):
    """Ends the Tune experiment once STOPPING is set: it catches a signal that arrived after the launcher
    checked STOPPING but before Tune listened for SIGUSR1. (Pickled by reference: Tune stores its stopper.)"""

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return STOPPING.is_set()
