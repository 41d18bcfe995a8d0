"""The reaper (tuning/run/reaper.py) against real processes: started before Ray, it finds the launcher's Ray
session by the name Ray gives it and ends exactly that session's Ray processes (issue 30, item 2).

The Ray processes here are stand-ins: Python scripts under a `ray/_private/` folder (what `is_ray_process`
recognises), so that the test needs no Ray start-up; the launcher is a `sleep` the test kills."""
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT

REAPER = ROOT / "tuning" / "run" / "reaper.py"
FAKE_RAY = "import os, time\nheld = open(os.environ['HOLD']) if 'HOLD' in os.environ else None\ntime.sleep(120)\n"


def start(args, **kw):
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def session(root: Path, created: float, pid: int) -> Path:
    """A session folder named as Ray names a head's: session_<local date_time>_<microseconds>_<creator's pid>."""
    folder = root / f"session_{time.strftime('%Y-%m-%d_%H-%M-%S', time.localtime(created))}_123456_{pid}"
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "raylet.out").write_text("x\n")
    return folder


def test_the_reaper_ends_only_the_ray_the_launcher_started(tmp_path):
    launcher = start(["sleep", "120"])
    not_before = time.time()  # the launcher's clock when it starts the reaper, before ray.init
    script = tmp_path / "site" / "ray" / "_private" / "log_monitor.py"
    script.parent.mkdir(parents=True)
    script.write_text(FAKE_RAY)
    root = tmp_path / "ray"
    own = session(root, not_before + 1, launcher.pid)
    stale = session(root, not_before - 3600, launcher.pid)  # an earlier process with the same pid left it
    other = session(root, not_before + 1, launcher.pid + 1)  # another launcher's
    doomed = [start([sys.executable, str(script), f"--logs-dir={own}/logs"]),
              # an agent: no session on its command line, only a log open there
              start([sys.executable, str(script)], env={**os.environ, "HOLD": str(own / "logs" / "raylet.out")})]
    spared = [start([sys.executable, str(script), f"--logs-dir={stale}/logs"]),
              start([sys.executable, str(script), f"--logs-dir={other}/logs"]),
              start(["tail", "-f", str(own / "logs" / "raylet.out")])]  # an operator's, not Ray's
    reaper = subprocess.Popen([sys.executable, str(REAPER), str(launcher.pid), str(not_before)],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        assert reaper.poll() is None  # it waits while the launcher lives
        reaper.stdin.close()  # what the kernel does when the launcher dies: its end of the pipe closes
        launcher.kill()
        launcher.wait()
        assert reaper.wait(timeout=30) == 0, reaper.stderr.read()
        for proc in doomed:
            assert proc.wait(timeout=5) == -9
        time.sleep(0.5)
        assert all(proc.poll() is None for proc in spared)
    finally:
        for proc in [launcher, *doomed, *spared]:
            proc.kill()
            proc.wait()
        reaper.kill()
