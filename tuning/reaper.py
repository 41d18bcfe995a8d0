"""`python tuning/reaper.py SESSION`: ends a launcher's private Ray once the launcher has ended (issue 21, 7).

Started by the launcher with a pipe on its standard input that only the launcher holds: the read below
returns when the launcher's process ends, whether it returned, raised or was killed with SIGKILL (the kernel
closes its end of the pipe). Then every process whose command line or open files are in the launcher's Ray
session folder (its GCS, raylet, agents and workers) is killed. Run as a file: it imports nothing of the
platform (tuning/cleanup.py uses its `session_processes` too).
"""
import os
import signal
import sys
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


def main(session: str) -> None:
    sys.stdin.buffer.read()  # returns at end of file: the launcher has ended
    for pid in session_processes(session):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    main(sys.argv[1])
