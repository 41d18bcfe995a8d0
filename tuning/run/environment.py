"""The launcher's environment, set before Ray is imported: a local Ray on loopback only, and quiet unless
--verbose. (tuning/launch.py calls it, then imports the phases, which import Ray.)"""
from __future__ import annotations

import os

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
    # Ray's C++ core installs a crash handler for SIGTERM in every process, the launcher's included; a SIGTERM
    # (timeout, systemd, a batch scheduler) that the kernel hands to one of its threads was then printed as a
    # crash ("*** SIGTERM received ... PC: __recv") and the launcher aborted (exit -6) after its clean stop,
    # 2 of 3 runs of the ten-interrupt test. Off: the signal goes to the launcher's handler
    # (tuning/run/interrupts.py), whatever thread the kernel picks.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    # MLflow's "View run ... at <uri>" lines, one per trial: the launcher prints where the results are once.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if not verbose:  # Tune's configuration box, results path and TensorBoard hint: only with --verbose
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
