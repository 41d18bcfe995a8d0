"""The launcher's Ray: a private local instance on loopback (or a cluster it joins), quiet unless --verbose."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cyclegan.configtools import UserError
from tuning.study.study import Study


def quiet_and_private(study: Study, verbose: bool = False) -> None:
    """Environment for the launch, set before Ray is imported (it reads these at import and passes them to
    the processes it starts)."""
    address = study.launch.ray.address or ""
    if not address or address.split("://")[-1].startswith(("127.0.0.1:", "localhost:")):
        # A local Ray is this machine's only node. Ray's "no cluster" mode (meant for laptops) takes
        # 127.0.0.1 as the node address, so the GCS, raylet, workers and agents listen on loopback only
        # instead of every interface with no authentication. Joining a cluster at 127.0.0.1 (nodes started
        # on loopback) needs the same: Ray would otherwise rewrite the loopback address to this machine's
        # network address, where that cluster does not listen.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    # MLflow's "View run ... at <uri>" lines, one per trial: the launcher prints where the results are once.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if not verbose:  # Tune's configuration box, results path and TensorBoard hint: only with --verbose
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in RDB ..." on stderr


def start_ray(study: Study, verbose: bool = False) -> None:
    import ray
    address = study.launch.ray.address
    try:
        if address:
            ray.init(address=address, logging_level="ERROR", log_to_driver=verbose)
        else:  # "local" always starts a private instance, never a Ray someone else runs on this machine
            ray.init(address="local", num_cpus=study.launch.ray.num_cpus, include_dashboard=False,
                     logging_level="ERROR",  # Ray's start-up notices would break one-line errors
                     log_to_driver=verbose)  # the trials' own output (ANSI-coloured) only with --verbose
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise UserError(f"cannot reach ray.address={address} ({reason}); start the cluster or fix ray.address") from None


def session_dir() -> str | None:
    """This process's Ray session folder (`<temp>/session_*`), None outside Ray."""
    import ray
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
    import ray
    if ray.is_initialized():
        remove_staging(session_dir(), experiments)
        ray.shutdown()


def start_reaper(session: str) -> subprocess.Popen:
    """A watcher that ends this launcher's private Ray when the launcher ends, however it ends (kill -9
    included): it waits for the end of a pipe only the launcher holds open. In its own session, so that a
    Ctrl+C or a signal to the launcher's process group does not end it first."""
    reaper = [sys.executable, str(Path(__file__).with_name("reaper.py")), session, str(os.getpid())]
    return subprocess.Popen(reaper, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)
