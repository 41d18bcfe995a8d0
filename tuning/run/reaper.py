"""`python tuning/run/reaper.py SESSION LAUNCHER_PID`: ends a launcher's private Ray once the launcher has ended (issue 21, 7).

Started by the launcher with a pipe on its standard input that only the launcher holds: the read below
returns when the launcher's process ends, whether it returned, raised or was killed with SIGKILL (the kernel
closes its end of the pipe). Then every process whose command line or open files are in the launcher's Ray
session folder (its GCS, raylet, agents and workers) is killed. Run as a file: it imports nothing of the
platform (tuning/run/cleanup.py uses its `session_processes` too).
"""
import os
import signal
import sys
import time
from pathlib import Path

RAY_BINARIES = ("gcs_server", "raylet")                  # Ray's native processes (their /proc comm)
RAY_SCRIPTS = ("/ray/dashboard/", "/ray/_private/", "/ray/autoscaler/", "/ray/workers/", "/ray/util/client")


def is_ray_process(comm: str, cmdline: str) -> bool:
    """A process Ray started: its native GCS or raylet, one of its Python services (dashboard, agents, log
    monitor), or a worker (whose title Ray sets to `ray::...`). Nothing else is ever killed: not a shell, an
    editor or a `tail -f` of a log that happen to have the session folder open (issue 30)."""
    return (comm in RAY_BINARIES or cmdline.startswith("ray::")
            or any(marker in cmdline for marker in RAY_SCRIPTS))


def session_processes(session: str) -> list[int]:
    """Ray processes of this user whose command line names `session` or that hold a file open in it."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            comm = (proc / "comm").read_text().strip()
            if not is_ray_process(comm, cmdline):
                continue
            if session in cmdline:
                found.append(int(proc.name))
                continue
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd).startswith(session + "/"):
                    found.append(int(proc.name))
                    break
        except OSError:  # gone, or not ours
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def main(session: str, launcher: int) -> None:
    sys.stdin.buffer.read()  # returns at end of file: the launcher is ending (it closes the pipe as it exits)
    deadline = time.time() + 60
    while alive(launcher) and time.time() < deadline:  # its own exit (atexit handlers, Ray's shutdown) first
        time.sleep(0.2)
    for pid in session_processes(session):
        if pid == launcher:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
