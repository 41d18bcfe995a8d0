"""`python tuning/run/reaper.py LAUNCHER_PID NOT_BEFORE`: ends a launcher's private Ray once the launcher has
ended (issue 21, 7), however early or late that is (issue 30, 2).

Started by the launcher before `ray.init`, with a pipe on its standard input that only the launcher holds: the
read below returns when the launcher's process ends, whether it returned, raised or was killed with SIGKILL
(the kernel closes its end of the pipe), during Ray's start-up too. Then the launcher's Ray session is found:
Ray names a head's session folder `session_<local date and time>_<pid of the process that started it>`, so
it is the session named with the launcher's pid and created no earlier than NOT_BEFORE (the launcher's clock
when it started the reaper: a session an earlier process of the same pid left is not it). Every Ray process
whose command line or open files are in that folder (its GCS, raylet, agents and workers) is killed, and
only those (`is_ray_process`). Run as a file: it imports nothing of the platform (tuning/run/cleanup.py
uses its `session_processes` too).
"""
import os
import re
import signal
import sys
import time
from pathlib import Path

RAY_BINARIES = ("gcs_server", "raylet")                  # Ray's native processes (their /proc comm)
RAY_SCRIPTS = ("/ray/dashboard/", "/ray/_private/", "/ray/autoscaler/", "/ray/workers/", "/ray/util/client")
# a session folder in a command line or an open file's path: (folder, its local creation time, creator's pid)
SESSION = re.compile(r"(/[^\s=]*?/session_(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)_\d+_(\d+))(?=/|\s|$)")


def is_ray_process(comm: str, cmdline: str) -> bool:
    """A process Ray started: its native GCS or raylet, one of its Python services (dashboard, agents, log
    monitor), or a worker (whose title Ray sets to `ray::...`). Nothing else is ever killed: not a shell, an
    editor or a `tail -f` of a log that happen to have the session folder open (issue 30)."""
    return (comm in RAY_BINARIES or cmdline.startswith("ray::")
            or any(marker in cmdline for marker in RAY_SCRIPTS))


def session_processes(session: str) -> list[int]:
    """Ray processes of this user whose command line names `session` or that hold a file open in it."""
    return [pid for pid, cmdline, files in ray_processes()
            if session in cmdline or any(path.startswith(session + "/") for path in files)]


def ray_processes() -> list[tuple[int, str, list[str]]]:
    """(pid, command line, open files' paths) of every Ray process this user can read."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not is_ray_process((proc / "comm").read_text().strip(), cmdline):
                continue
            files = []
            for fd in (proc / "fd").iterdir():
                try:
                    files.append(os.readlink(fd))
                except OSError:
                    continue
            found.append((int(proc.name), cmdline, files))
        except OSError:  # gone, or not ours
            continue
    return found


def launcher_sessions(launcher: int, not_before: float) -> set[str]:
    """The session folders Ray created for `launcher` at or after `not_before` (module doc)."""
    sessions = set()
    for _, cmdline, files in ray_processes():
        for text in (cmdline, *files):
            for folder, stamp, creator in SESSION.findall(text):
                created = time.mktime(time.strptime(stamp, "%Y-%m-%d_%H-%M-%S"))  # local time, as Ray names it
                if int(creator) == launcher and created >= int(not_before) - 1:
                    sessions.add(folder)
    return sessions


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def main(launcher: int, not_before: float) -> None:
    sys.stdin.buffer.read()  # returns at end of file: the launcher is ending (it closes the pipe as it exits)
    deadline = time.time() + 60
    while alive(launcher) and time.time() < deadline:  # its own exit (atexit handlers, Ray's shutdown) first
        time.sleep(0.2)
    # Until two looks in a row find nothing: a raylet killed mid-start-up may have just started an agent.
    quiet, deadline = 0, time.time() + 30
    while quiet < 2 and time.time() < deadline:
        pids = {pid for session in launcher_sessions(launcher, not_before) for pid in session_processes(session)}
        pids.discard(launcher)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        quiet = quiet + 1 if not pids else 0
        time.sleep(0.5)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
