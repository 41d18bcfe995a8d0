"""`python -m tuning.submit study=NAME [key=value ...] --address http://HEAD:8265 [--wait] [--follow]`

Submits `python -m tuning.launch study=NAME ... ray.address=auto` to a Ray cluster as a Ray job (Jobs
API), with this checkout as the job's working directory. The study and the overrides are validated here
first (exit 2, one line). Prints the submission id; `--follow` streams the job's logs, `--wait` waits,
and both exit with the job's outcome (0 SUCCEEDED, 1 FAILED or STOPPED).

Authentication is Ray's own: with token authentication (`RAY_AUTH_MODE=token`), Ray's client reads the
token from `RAY_AUTH_TOKEN` or `~/.ray/auth_token` and sends it; this command never reads, prints or
logs the token itself. A missing or rejected token is reported in one line.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
import time
from pathlib import Path

from cyclegan.cli import run_main
from cyclegan.configtools import UserError
from tuning.launch import split_args
from tuning.redact import has_password, redact
from tuning.study.loading import load_study

ROOT = Path(__file__).resolve().parent.parent
EXCLUDES = [".git", ".venv", ".ci-venv", "runs", "**/__pycache__", "*.pt", "*.pth", "*.db"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
AUTH_HINT = ("set RAY_AUTH_MODE=token and put the cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token "
             "(ray get-auth-token on the head prints it)")


def parse(args: list[str]) -> tuple[str | None, bool, bool, list[str]]:
    address, wait, follow, rest = os.environ.get("RAY_API_SERVER_ADDRESS"), False, False, []
    it = iter(args)
    for arg in it:
        if arg == "--address":
            address = next(it, None)
        elif arg.startswith("--address="):
            address = arg.split("=", 1)[1]
        elif arg == "--wait":
            wait = True
        elif arg == "--follow":
            follow = True
        elif arg.startswith("--"):
            raise UserError(f"unknown option {arg}; use --address URL, --wait, --follow")
        else:
            rest.append(arg)
    if not address:
        raise UserError("--address http://HEAD:8265 is required (the Ray dashboard of the cluster)")
    return address, wait, follow, rest


def explain(exc: Exception, address: str) -> UserError:
    text = str(exc)
    lowered = text.lower()
    if "401" in text or "403" in text or "unauthorized" in lowered or "authentication" in lowered or "token" in lowered:
        return UserError(f"the Ray cluster at {address} refused the request: authentication token missing or wrong; {AUTH_HINT}")
    first = text.splitlines()[0][:200] if text else type(exc).__name__
    return UserError(f"cannot reach the Ray Jobs API at {address} ({first}); check --address and that the "
                     "cluster's dashboard is running")


def refuse_passwords(study, overrides: list[str]) -> None:
    """A URI with a password would be in the job's entrypoint, which anyone with the cluster's dashboard or
    Jobs API reads: refuse it, naming where the cluster's processes take passwords from."""
    uris = {"mlflow.tracking_uri": study.launch.mlflow.tracking_uri, "study.storage": study.launch.study.storage}
    uris.update({o.split("=", 1)[0]: o.split("=", 1)[1] for o in overrides if "=" in o})
    for key, uri in uris.items():
        if has_password(uri):
            raise UserError(f"{key}={redact(uri)} carries a password, which the Ray job would show to anyone with the "
                            "cluster's dashboard; give the cluster's pods MLFLOW_TRACKING_PASSWORD / PGPASSWORD from a "
                            "Kubernetes secret (deploy/README.md) and submit the URI without it")


def main(args: list[str]) -> None:
    address, wait, follow, rest = parse(args)
    name, overrides = split_args(rest)
    study = load_study(name, overrides)  # refuse bad input here, not on the cluster
    if Path(name).suffix in (".yaml", ".yml"):
        path = Path(name).resolve()
        if ROOT not in path.parents:
            raise UserError(f"study file {name} is outside this checkout ({ROOT}); put it under studies/")
        name = str(path.relative_to(ROOT))
    refuse_passwords(study, overrides)
    out_dirs = [o.split("=", 1)[1] for o in overrides if o.startswith("study.out_dir=")]
    if not out_dirs or not (Path(out_dirs[-1]).is_absolute() or "://" in out_dirs[-1]):
        raise UserError("set study.out_dir=/absolute/path on storage the cluster keeps (the job's own folder "
                        "is temporary)")
    overrides = [o for o in overrides if not o.startswith("ray.address=")]
    entrypoint = shlex.join(["python", "-m", "tuning.launch", f"study={name}", *overrides, "ray.address=auto"])
    from ray.job_submission import JobSubmissionClient  # deferred: bad input answers before Ray loads
    logging.getLogger("ray").setLevel(logging.ERROR)  # packaging chatter on stderr; errors must stay one line
    submission_id = f"{study.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    deadline = time.time() + 120
    while True:
        try:
            client = JobSubmissionClient(address)
            job_id = client.submit_job(entrypoint=entrypoint, submission_id=submission_id, metadata={"study": study.name},
                                       runtime_env={"working_dir": str(ROOT), "excludes": EXCLUDES})
            break
        except Exception as exc:  # connection, HTTP and authentication errors all mean: nothing was submitted
            if "No available agent" in str(exc) and time.time() < deadline:
                time.sleep(3)  # a head that just started has no job agent yet; Ray says to try again
                continue
            raise explain(exc, address) from None
    print(job_id, flush=True)
    if not (wait or follow):
        return
    if follow:
        asyncio.run(stream_logs(client, job_id))
    status = wait_for(client, job_id)
    print(f"job {job_id}: {status}", flush=True)
    if status != "SUCCEEDED":
        sys.exit(1)


async def stream_logs(client, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        print(lines, end="", flush=True)


def wait_for(client, job_id: str, poll_s: float = 2.0) -> str:
    while True:
        status = str(client.get_job_status(job_id)).split(".")[-1]
        if status in TERMINAL:
            return status
        time.sleep(poll_s)


if __name__ == "__main__":
    sys.exit(run_main(main, usage=__doc__))
