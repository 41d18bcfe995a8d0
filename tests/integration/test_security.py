"""Safe by default (issue 14), against real parts: a password-protected MLflow server (MLflow's basic-auth
app), a real local Ray and real Tune state files. One study launch is shared by the module's tests.

- a password given in mlflow.tracking_uri reaches the server (the launch succeeds against a server that
  refuses anonymous requests) but never stdout, stderr, the runs' params/tags, or any file of the study;
- every socket the launch's Ray processes listen on is a loopback one;
- nothing of the finished study stays in Ray's temp folder;
- resume runs no pickle found in the study folder (it reads the study's storage instead).
"""
from __future__ import annotations

import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, MlflowServer, assert_user_error, descendants, peek_runs, run_cli

PASSWORD = "s3cret-Passw0rd-12345"  # what must never leave the launcher
SMALL = ["study.num_samples=2", "study.max_concurrent=2", "trial.cpus=1"]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """`mlflow server --app-name basic-auth` on 127.0.0.1, admin alice, anonymous requests refused."""
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth] (the dev extra)")
    import requests
    root = tmp_path_factory.mktemp("mlflow-auth")
    (root / "auth.ini").write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{root / 'users.db'}\n"
        f"admin_username = alice\nadmin_password = {PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    server = MlflowServer(root, args=("--app-name", "basic-auth"),
                          env={"MLFLOW_AUTH_CONFIG_PATH": str(root / "auth.ini"),
                               "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only"})
    try:
        server.start()
        anonymous = requests.get(f"{server.url}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                                 timeout=10)
        assert anonymous.status_code == 401  # the server really wants the password
        yield {"port": server.port, "root": root}
    finally:
        server.stop()


def listening_addresses(pids: set[int]) -> dict[str, str]:
    """{"ip:port": process name} of the TCP sockets the processes `pids` listen on (from /proc)."""
    listening = {}  # socket inode -> address
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A":  # TCP_LISTEN
                continue
            ip_hex, port_hex = cols[1].split(":")
            raw = bytes.fromhex(ip_hex)
            if width == 8:
                ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:  # four little-endian 32-bit words
                ip = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            listening[cols[9]] = f"{ip}:{int(port_hex, 16)}"
    found = {}
    for pid in pids:
        try:
            # a worker's title is its cmdline (ray::IDLE, ray::run_trial); the GCS and raylet are binaries
            name = Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode().split(" ")[0]).name
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in listening:
                    found[listening[target[8:-1]]] = name
        except OSError:  # the process ended meanwhile
            continue
    return found


def is_loopback(address: str) -> bool:
    ip = address.rsplit(":", 1)[0]
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1")


@pytest.fixture(scope="module")
def secured_launch(auth_server, tmp_path_factory):
    """One smoke study against the password-protected server; while it runs, the listening sockets of the
    launcher and every process it started (Ray's GCS, raylet, agents, workers) are sampled."""
    out = tmp_path_factory.mktemp("secured") / "study"
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths have a length limit
    uri = f"http://alice:{PASSWORD}@127.0.0.1:{auth_server['port']}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_TMPDIR=str(ray_tmp),
)
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "tuning.launch", "study=smoke", "study.confirm_top=0", f"study.out_dir={out}",
                             f"mlflow.tracking_uri={uri}", *SMALL], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sockets: dict[str, str] = {}
    environments: dict[int, tuple[str, bool]] = {}  # every process the launcher started: (name, holds the password)

    def sample():
        while proc.poll() is None:
            below = descendants(proc.pid)
            sockets.update(listening_addresses(below | {proc.pid}))
            environments.update(password_holders(below))
            time.sleep(0.5)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    sampler.join(10)
    yield {"out": out, "stdout": stdout, "stderr": stderr, "rc": proc.returncode, "sockets": sockets,
           "environments": environments,
           "ray_tmp": ray_tmp, "port": auth_server["port"], "server_root": auth_server["root"], "env": env}
    shutil.rmtree(ray_tmp, ignore_errors=True)


def test_a_password_in_the_tracking_uri_reaches_the_server_and_nothing_else(secured_launch):
    run = secured_launch
    assert run["rc"] == 0, run["stdout"][-3000:] + run["stderr"][-3000:]
    assert PASSWORD not in run["stdout"] + run["stderr"]
    leaked = [p for p in run["out"].rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert not leaked  # launches.json, Tune's tuner.pkl / experiment state / searcher state, configs, metrics
    from mlflow.tracking import MlflowClient
    os.environ.update(MLFLOW_TRACKING_USERNAME="alice", MLFLOW_TRACKING_PASSWORD=PASSWORD)
    try:
        client = MlflowClient(f"http://127.0.0.1:{run['port']}")
        exp = client.get_experiment_by_name("smoke")
        runs = client.search_runs([exp.experiment_id])
    finally:
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(name)
    assert len(runs) == 3  # the parent and two trials were recorded through the password-protected server
    for r in runs:
        assert PASSWORD not in repr(r.data.params) + repr(r.data.tags)
    stored = [p for p in run["server_root"].rglob("*") if p.is_file() and p.name != "auth.ini"
              and PASSWORD.encode() in p.read_bytes()]
    assert not stored  # nor in the server's run store and artifacts


def password_holders(pids: set[int]) -> dict[int, tuple[str, bool]]:
    """{pid: (process name, whether its environment holds the password)} of the processes still there."""
    found = {}
    for pid in pids:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            found[pid] = (name, PASSWORD.encode() in Path(f"/proc/{pid}/environ").read_bytes())
        except OSError:
            continue  # ended in between
    return found


def test_the_password_stays_in_the_launcher_process(secured_launch):
    """Only the launcher talks to MLflow: Ray's GCS, raylet, agents and the trials' workers, and the reaper,
    start without the credentials in their environment (tuning.redact.credentials_withheld)."""
    seen = secured_launch["environments"]
    names = {name for name, _ in seen.values()}
    assert {"gcs_server", "raylet"} <= names and any(n.startswith("ray::") for n in names), names  # all sampled
    holders = sorted({name for name, holds in seen.values() if holds})
    assert not holders


def test_a_local_study_listens_on_loopback_only(secured_launch):
    sockets = secured_launch["sockets"]
    assert any(name in ("gcs_server", "raylet") for name in sockets.values()), sockets  # Ray was sampled
    exposed = {address: name for address, name in sockets.items() if not is_loopback(address)}
    assert not exposed


def test_nothing_of_a_finished_study_stays_in_rays_temp_folder(secured_launch):
    assert secured_launch["rc"] == 0
    assert list(secured_launch["ray_tmp"].glob("ray/session_*")), "the launch did not use RAY_TMPDIR"
    left = [p for p in secured_launch["ray_tmp"].rglob("*") if p.suffix == ".pt" or "checkpoint_" in p.name]
    assert not left
    # Tune's own checkpoints are in out_dir (a finished trial keeps its final generators there)
    assert list(secured_launch["out"].rglob("checkpoint_*/generators.pt"))


class Payload:
    """What an attacker puts in a shared study folder: unpickling it creates a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def is_pickle(path: Path) -> bool:
    head = path.read_bytes()[:2]
    return path.suffix == ".pkl" or (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


@pytest.mark.parametrize("user", ["alice:wrong-password", "mallory:whatever"])
def test_refused_credentials_read_as_credentials_not_as_a_server_down(auth_server, tmp_path, user):
    """A 401 from the tracking server is a credentials problem (issue 30): exit 2, one line saying so, the
    password not in it, and nothing started (no study folder)."""
    uri = f"http://{user}@127.0.0.1:{auth_server['port']}"
    result = run_cli("tuning.launch", "study=smoke", f"study.out_dir={tmp_path / 'study'}",
                     f"mlflow.tracking_uri={uri}", timeout=120)  # the URI's user and password win over the env
    line = assert_user_error(result, "refused the credentials", "MLFLOW_TRACKING_PASSWORD")
    assert "not reachable" not in line and user.split(":")[1] not in line
    assert not (tmp_path / "study").exists()


def test_resume_runs_no_pickle_found_in_the_study_folder(tmp_path):
    """An interrupted study with a failed trial; then every pickle under study.out_dir (Tune's tuner.pkl,
    params.pkl, a failed trial's error.pkl, searcher state) is replaced by a payload: resume=true completes
    the study from its storage and never runs one (issue 21, item 1)."""
    study = tmp_path / "diverge.yaml"
    study.write_text((ROOT / "studies" / "smoke.yaml").read_text().split("search:")[0] + (
        "search:\n  arm:\n    grid:\n      absurd: {optim.lr_g: 1.0e+30, optim.lr_d: 1.0e+30}\n      sane: {}\n"
        "study: {metric: fid, max_concurrent: 2, scheduler: none, confirm_top: 0}\ntrial: {cpus: 1}\n"))
    out = tmp_path / "study"
    args = [f"study={study}", f"study.out_dir={out}", "train.epochs=3", "train.decay_epochs=3",
            "data.synthetic_train_size=128"]  # the sane arm trains for a while after the absurd one failed
    proc = subprocess.Popen([sys.executable, "-m", "tuning.launch", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        deadline = time.time() + 300
        def failed_and_running():
            runs = peek_runs(out / "mlflow.db")
            return any(r["status"] == "FAILED" for r in runs) and any(r["status"] == "RUNNING" for r in runs)
        while time.time() < deadline and proc.poll() is None and not failed_and_running():
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    statuses = sorted(r["status"] for r in peek_runs(out / "mlflow.db"))
    assert statuses == ["FAILED", "KILLED"], statuses  # the absurd arm failed, the sane one was stopped
    marker = tmp_path / "payload-ran"
    pickle.loads(pickle.dumps(Payload(marker)))  # the payload works when unpickled ...
    assert marker.exists()
    marker.unlink()
    pickles = [p for p in out.rglob("*") if p.is_file() and is_pickle(p)]
    assert any(p.name == "error.pkl" for p in pickles) and any(p.name == "tuner.pkl" for p in pickles), pickles
    for path in pickles:
        path.write_bytes(pickle.dumps(Payload(marker)))
    result = run_cli("tuning.launch", f"study={study}", f"study.out_dir={out}", "resume=true", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not marker.exists()  # ... but the launcher never unpickled one
    statuses = sorted(r["status"] for r in peek_runs(out / "mlflow.db"))
    assert statuses == ["FAILED", "FINISHED"], statuses
