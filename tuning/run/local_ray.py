"""The launcher's Ray: a private local instance on loopback (or a cluster it joins), quiet unless --verbose."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import ray

from cyclegan.configtools import UserError
from tuning.redact import credentials_withheld
from tuning.run.interrupts import listen
from tuning.run.preflight import check_cluster_storage
from tuning.study.study import Study


def start_ray(study: Study, verbose: bool = False) -> None:
    address = study.launch.ray.address
    try:
        # Ray's processes and the trials never see the launcher's passwords; a signal while Ray starts is ours
        with credentials_withheld(), our_sigterm_kept():
            if address:
                ray.init(address=address, logging_level="ERROR", log_to_driver=verbose)
            else:  # "local" always starts a private instance, never a Ray someone else runs on this machine
                with own_process_groups():
                    ray.init(address="local", num_cpus=study.launch.ray.num_cpus, include_dashboard=False,
                             logging_level="ERROR",  # Ray's start-up notices would break one-line errors
                             log_to_driver=verbose)  # the trials' own output (ANSI-coloured) only with --verbose
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise UserError(f"cannot reach ray.address={address} ({reason}); start the cluster or fix ray.address") from None


@contextmanager
def our_sigterm_kept():
    """`ray.init` first installs a SIGTERM handler that exits at once (`sys.exit(15)`, nothing printed, nothing
    to resume said): a SIGTERM while Ray started ended the launch silently with exit 15 (seen in the
    ten-interrupt test). For the call, Ray's installer (`ray._private.utils.set_sigterm_handler`) does nothing,
    so the launcher's own handler (tuning/run/interrupts.py) takes it: the launch stops before its trials,
    exit 130 with the resume command."""
    utils = ray._private.utils
    original = getattr(utils, "set_sigterm_handler", None)
    if original is None:
        yield
        return
    utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        utils.set_sigterm_handler = original


@contextmanager
def own_process_groups():
    """Ray's processes start in process groups of their own: a signal to the launcher's group (Ctrl+C in a
    terminal; `timeout`, systemd or a batch scheduler's SIGTERM) then reaches the launcher alone, which stops
    the trials through a GCS still alive (issue 30, item 5: it used to die with the launcher's group, and the
    stop waited 60 s on it). Ray has no option for this: the class it starts its processes with
    (`ray._private.services.ConsolePopen`, a subprocess.Popen) is given `process_group=0` for the call. Were it
    renamed, nothing is wrapped and Ray's processes share the launcher's group as before."""
    services = ray._private.services
    original = getattr(services, "ConsolePopen", None)
    if original is None:
        yield
        return

    class OwnGroupPopen(original):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("process_group", 0)
            super().__init__(*args, **kwargs)
    services.ConsolePopen = OwnGroupPopen
    try:
        yield
    finally:
        services.ConsolePopen = original


def bring_up(study: Study, verbose: bool) -> tuple[str | None, subprocess.Popen | None]:
    """The launch's Ray, ready for trials: started (or joined), Ctrl+C / SIGTERM the launcher's again (ray.init
    takes SIGTERM), the cluster's storage checked, and for a private Ray the reaper that ends it with this
    launcher, even one killed outright (tuning/run/reaper.py): started first, so that a launcher killed while
    Ray starts leaves nothing behind either. (Its session folder or None, the reaper or None.)"""
    reaper = None if study.launch.ray.address else start_reaper()
    start_ray(study, verbose)
    listen()
    try:
        check_cluster_storage(study, sum(1 for node in ray.nodes() if node.get("Alive")))
    except UserError:
        ray.shutdown()
        raise
    return (None if study.launch.ray.address else session_dir()), reaper


def session_dir() -> str | None:
    """This process's Ray session folder (`<temp>/session_*`), None outside Ray."""
    node = getattr(ray._private.worker, "_global_node", None)  # no public accessor for the session folder
    return node.get_session_dir_path() if node is not None else None


def remove_staging(session: str | None, experiments: list[str]) -> None:
    """Delete Tune's driver staging of these experiments from a Ray session folder
    (`<session>/artifacts/<time>/<experiment>`): Tune leaves it behind when its launcher is stopped."""
    if not session:
        return
    for experiment in experiments:
        for staged in (Path(session) / "artifacts").glob(f"*/{experiment}"):
            shutil.rmtree(staged, ignore_errors=True)


def stop_ray(experiments: list[str]) -> None:
    if ray.is_initialized():
        remove_staging(session_dir(), experiments)
        ray.shutdown()


def start_reaper() -> subprocess.Popen:
    """A watcher that ends the private Ray this launcher is about to start when the launcher ends, however it
    ends (kill -9 included): it waits for the end of a pipe only the launcher holds open. In its own session,
    so that a Ctrl+C or a signal to the launcher's process group does not end it first."""
    reaper = [sys.executable, str(Path(__file__).with_name("reaper.py")), str(os.getpid()), str(time.time())]
    with credentials_withheld():
        return subprocess.Popen(reaper, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
