"""`python tuning/reaper.py SESSION LAUNCHER_PID`: ends a launcher's private Ray once the launcher has ended (issue 21, 7).

Started by the launcher with a pipe on its standard input that only the launcher holds: the read below
returns when the launcher's process ends, whether it returned, raised or was killed with SIGKILL (the kernel
closes its end of the pipe). Then every process whose command line or open files are in the launcher's Ray
session folder (its GCS, raylet, agents and workers) is killed. Run as a file: it imports nothing of the
platform (tuning/cleanup.py uses its `session_processes` too).
"""
import os
import signal
import sys
import time
from pathlib import Path


def session_processes(session: str) -> list[int]:
    """Processes of this user whose command line names `session` or that hold a file open in it."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if session in (proc / "cmdline").read_bytes().decode(errors="replace"):
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
