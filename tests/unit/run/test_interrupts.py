"""A second Ctrl+C stops the launch at once even when it lands in a finalizer (tuning/run/interrupts.py)."""
import subprocess
import sys

from tests.helpers import ROOT

LAUNCHER = """
import signal, time, weakref
from tuning.run import interrupts
interrupts.listen()
interrupts.on_signal(signal.SIGINT, None)           # the first Ctrl+C: the graceful stop begins

class Held:
    pass

def finalizer(ref):                                 # Python drops what a weakref callback raises
    interrupts.on_signal(signal.SIGINT, None)       # the second Ctrl+C lands here

held = Held()
ref = weakref.ref(held, finalizer)
try:
    del held
    for _ in range(200):
        time.sleep(0.01)
    print("the second Ctrl+C was lost")
except KeyboardInterrupt:
    print("stopped at once")
"""


def test_a_second_ctrl_c_that_lands_in_a_finalizer_still_stops_the_launch_quietly():
    done = subprocess.run([sys.executable, "-c", LAUNCHER], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "stopped at once", done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


AFTER_THE_CLOSING_LINE = """
import sys
import tuning.launch as launch

def run_main(main, usage=""):                       # the launch has handled one Ctrl+C and says so ...
    print("interrupted", file=sys.stderr)
    raise KeyboardInterrupt                         # ... and one more lands right there

launch.run_main = run_main
launch.entry()
"""

IN_THE_LAST_FLUSH = """
import os, signal, sys
import tuning.launch as launch
from tuning.run import interrupts
interrupts.listen()
interrupts.on_signal(signal.SIGINT, None)
interrupts._deliver_again.set()                     # a Ctrl+C dropped in a finalizer is on its way again

class Stdout:
    def __init__(self, real):
        self.real = real
    def write(self, text):
        return self.real.write(text)
    def flush(self):                                # it arrives while the launcher flushes before its exit
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(100000))
        self.real.flush()

sys.stdout = Stdout(sys.stdout)
launch.exit_now_if_interrupted(130)
"""


def test_a_ctrl_c_landing_after_the_launch_has_stopped_still_exits_130_without_a_traceback():
    for script in (AFTER_THE_CLOSING_LINE, IN_THE_LAST_FLUSH):
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 130, (done.returncode, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, done.stderr


LOCKED_THEN_STOPPED = """
import sys
import tuning.launch as launch
from tuning.state.study_lock import lock_study
from tuning.study.loading import load_study
study = load_study("smoke", [f"study.out_dir={sys.argv[1]}"])
lock, _ = lock_study(study, "smoke-20261206-120000")
print("locked", flush=True)
launch.exit_now_if_interrupted(130)
"""


def test_a_launch_leaving_after_an_interrupt_releases_its_study_lock(tmp_path):
    """`os._exit` skips the atexit release: without its own, the next launch took the lock over as a dead
    launcher's ("took over the lock of ..., which ended without releasing it")."""
    from tuning.state.storage import optuna_storage
    from tuning.state.study_lock import read_holder
    done = subprocess.run([sys.executable, "-c", LOCKED_THEN_STOPPED, str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 130 and done.stdout.strip() == "locked", (done.returncode, done.stderr[-2000:])
    assert (tmp_path / "optuna.db").is_file()
    assert read_holder(optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}"), "smoke~lock") is None
