"""Ctrl+C, SIGTERM and a second Ctrl+C all mean the same: stop, keep everything, exit 130 (SPEC §6).

The first SIGINT or SIGTERM sets `STOPPING` and asks Tune for its graceful stop (Tune listens for SIGUSR1;
its own SIGINT handler is switched off with TUNE_DISABLE_SIGINT_HANDLER, because it treats the trials it
then stops like trials that ended). The handlers stay for the rest of the launcher's life: a signal that
arrives while it finishes must not end it half-way with Python's default. From that moment a trial that ends without its final evaluation was
interrupted, not stopped by ASHA: the searcher tells Optuna nothing about it, the tracker leaves its run to
be marked KILLED, its record stays `running` (tuning/state/trial_records.py), and `resume=true` continues it from
its checkpoint. A second signal raises KeyboardInterrupt at once: the launcher marks its open runs KILLED
and ends with 130 all the same. Nothing is compacted after an interrupt (tuning/state/trial_storage.py).

Python drops an exception raised inside a finalizer (a weakref callback, a `__del__`) and prints it as
"Exception ignored in ...": a second Ctrl+C landing there would be lost, with a traceback on stderr (seen
once in ten random interrupts). The launcher's unraisable hook takes such a KeyboardInterrupt silently and
signals the process again a moment later, when the main thread has left the finalizer: the launch stops
at once as it should.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

from tuning.results.outcome import STOPPING

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_signals_seen = []
_deliver_again = threading.Event()  # the second signal's KeyboardInterrupt was dropped in a finalizer


def on_signal(signum, frame) -> None:
    _signals_seen.append(signum)
    if len(_signals_seen) == 2 or _deliver_again.is_set():
        _deliver_again.clear()
        raise KeyboardInterrupt  # the second one: stop now (any later one is ignored: the launcher is ending)
    if len(_signals_seen) > 2:
        return
    STOPPING.set()
    print("stopping: the running trials stop and keep their checkpoints; Ctrl+C again to stop at once",
          file=sys.stderr, flush=True)
    if callable(signal.getsignal(signal.SIGUSR1)):  # Tune runs: its graceful stop (trials stopped)
        os.kill(os.getpid(), signal.SIGUSR1)
    # else: between Tune runs; the launcher checks STOPPING before it starts the next one


def listen() -> None:
    """Take SIGINT and SIGTERM for the rest of this process (main thread). Called at the start of a launch
    and again once Ray has started: `ray.init` installs its own SIGTERM handler (it exits at once)."""
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    for s in SIGNALS:
        signal.signal(s, on_signal)
    sys.unraisablehook = keep_the_interrupt


def keep_the_interrupt(unraisable) -> None:
    """A KeyboardInterrupt Python could not raise where it landed (a finalizer): raise it again in the main
    thread, quietly. Anything else is printed as Python always does."""
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        _deliver_again.set()
        # from another thread, a moment later: a signal handled now would land in this hook, dropped again
        threading.Timer(0.02, os.kill, (os.getpid(), signal.SIGINT)).start()
        return
    sys.__unraisablehook__(unraisable)
