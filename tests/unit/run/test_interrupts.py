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
