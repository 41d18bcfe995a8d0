"""Test helpers: tiny configurations and running the command-line entry points."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MONET_MINI = ROOT.parent / "shared" / "data" / "monet2photo_mini"

# A tiny engine configuration: 32 px, a 2-block ResNet, tiny FID backbone. Seconds per epoch on a CPU.
TINY = ["data.name=synthetic", "data.load_size=36", "data.crop_size=32", "data.synthetic_train_size=16",
        "data.synthetic_test_size=12", "model.ngf=8", "model.ndf=8", "model.g_depth=2", "train.epochs=1",
        "train.decay_epochs=1", "train.batch_size=4", "train.pool_size=4", "eval.backbone=tiny",
        "eval.batch_size=8", "eval.grid_images=3", "eval.kid_subsets=10", "train.threads=1"]


def run_cli(module: str, *args: str, cwd: Path | None = None, timeout: int = 300,
            env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, exactly one line on stderr, no traceback, and the line names what it should."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def peek_runs(db: Path) -> list[dict]:
    """Child runs of an MLflow SQLite store, read-only, while a launcher is writing it.

    A test must not open the store with MlflowClient while the launcher creates it: the client would run
    the schema migrations a second time, concurrently. Plain read-only SQL cannot interfere.
    """
    import sqlite3
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = con.execute(
                "SELECT r.run_uuid, r.status, t.value, "
                "(SELECT value FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = 'epoch') "
                "FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'trial_id'").fetchall()
        finally:
            con.close()
    except sqlite3.Error:  # tables not created yet, or busy
        return []
    return [{"run_id": r[0], "status": r[1], "trial_id": r[2], "epoch": r[3] or 0} for r in rows]


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 that a test can stop and start again on the same port and store.
    Only the process group it started is signalled."""

    def __init__(self, root: Path, port: int | None = None, args: tuple = (), env: dict | None = None,
                 log: Path | None = None, backend: str | None = None):
        """Serves `backend` (default `root`/mlflow.db; artifacts to `root`/artifacts); output goes to `log`."""
        self.root, self.port, self.args, self.env = root, port or free_port(), args, env or {}
        self.backend = backend or f"sqlite:///{root / 'mlflow.db'}"
        self.log = log or root / "server.log"
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "MlflowServer":
        import time

        import requests
        log = open(self.log, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", *self.args, "--backend-store-uri", self.backend,
             "--artifacts-destination", str(self.root / "artifacts"),
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            # MLflow 3's server also starts ~10 job-runner processes (huey consumers, for GenAI jobs no test
            # uses): 10 processes and 25 s of CPU in its first 15 s instead of 2 and 6 s (measured here). Off unless asked.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **self.env}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while True:
            assert time.time() < deadline and self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if requests.get(f"{self.url}/health", timeout=2).ok:
                    return self
            except requests.RequestException:  # not listening yet, or too busy starting to answer in 2 s
                time.sleep(0.5)

    def stop(self) -> None:
        import signal
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def descendants(root: int) -> set[int]:
    """Every process below `root` now (Ray's workers start their own sessions, so process groups miss them)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL server binaries (`apt-get install postgresql`), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return found[-1].parent if found else None


class PostgresServer:
    """A real PostgreSQL on 127.0.0.1 in a temp folder (initdb, trust auth for user `c2g`), started and
    stopped by PID. PostgreSQL refuses to run as root: as root it runs as Debian's `postgres` user."""

    def __init__(self, root: Path):
        import tempfile
        self.bin = postgres_bin()
        self.data = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))  # the socket path must stay short
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = root / "postgres.log"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, database: str) -> str:
        return f"postgresql://c2g@127.0.0.1:{self.port}/{database}"

    def start(self, databases: tuple = ("optuna", "mlflow"), timeout: float = 60) -> "PostgresServer":
        import shutil
        import time
        if self.as_user:
            shutil.chown(self.data, "postgres", "postgres")
        subprocess.run([*self.as_user, str(self.bin / "initdb"), "-D", str(self.data / "db"), "-U", "c2g",
                        "-A", "trust", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        log = open(self.log, "a")
        self.proc = subprocess.Popen(
            [*self.as_user, str(self.bin / "postgres"), "-D", str(self.data / "db"), "-h", "127.0.0.1",
             "-p", str(self.port), "-k", str(self.data), "-c", "max_connections=200", "-c", "fsync=off"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                             capture_output=True).returncode != 0:
            assert self.proc.poll() is None and time.time() < deadline, self.log.read_text()[-2000:]
            time.sleep(0.3)
        for database in databases:
            subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "c2g",
                            database], check=True, capture_output=True, timeout=60)
        return self

    def stop(self) -> None:
        import shutil
        import signal
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        shutil.rmtree(self.data, ignore_errors=True)


# -- a real browser (optional: tests that need it skip without it) ------------------------------------------
BROWSER = shutil.which("chromium") and shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(not BROWSER, reason="Chromium and ChromeDriver are not installed "
                                                       "(Debian: chromium chromium-driver)")


def chrome(tmp_path, width=1600, height=1000):
    """A real headless Chromium at a window size (selenium + Debian's chromium-driver)."""
    pytest.importorskip("selenium", reason="selenium is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", f"--window-size={width},{height}",
                 f"--user-data-dir={tmp_path / f'profile{width}'}"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
