"""tuning.submit against a real Ray head (dashboard + Jobs API) that this test starts and stops itself."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import assert_user_error, descendants, free_port, run_cli
from tests.integration.test_launch import runs_of


@pytest.fixture
def ray_head(tmp_path):
    """A head with Ray's token authentication (RAY_AUTH_MODE=token) and its token in <tmp>/home/.ray/auth_token,
    never in the real home. Yields (dashboard address, HOME that holds the token)."""
    gcs, dashboard = free_port(), free_port()
    temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # Ray's socket paths must stay short
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("c2g-test-token-" + os.urandom(16).hex())
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", RAY_USAGE_STATS_ENABLED="0",
               HOME=str(home), RAY_AUTH_MODE="token")
    head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={gcs}",
                             "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
                             "--include-dashboard=true", "--num-cpus=2", f"--temp-dir={temp}", "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{address}/api/version", timeout=2)
                break
            except urllib.error.HTTPError:  # 401 without a token: the dashboard is up
                break
            except OSError:
                assert head.poll() is None and time.time() < deadline, "the Ray head did not start"
                time.sleep(1)
        yield address, home
    finally:
        started = descendants(head.pid) | {head.pid}  # collect first: SIGTERM to the head leaves the rest running
        for pid in started:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 20
        while time.time() < deadline and any(Path(f"/proc/{p}").exists() for p in started):
            time.sleep(0.5)
            head.poll()
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        head.wait(10)


def test_submit_runs_the_study_as_a_ray_job(ray_head, tmp_path):
    address, home = ray_head
    out = tmp_path / "cluster-study"
    args = ["study=smoke", "study.confirm_top=0", f"study.out_dir={out}", "study.num_samples=2", "--address", address]
    # without the token, and with a wrong one: one clear line, the token never printed
    for env in ({"HOME": str(tmp_path), "RAY_AUTH_MODE": "token"},
                {"HOME": str(tmp_path), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token-0123456789"}):
        line = assert_user_error(run_cli("tuning.submit", *args, env=env), "authentication token missing or wrong")
        assert "not-the-token" not in line
    token = (home / ".ray" / "auth_token").read_text().strip()
    result = run_cli("tuning.submit", *args, "--follow", "--wait", timeout=900,
                     env={"HOME": str(home), "RAY_AUTH_MODE": "token"})
    assert token not in result.stdout + result.stderr
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("smoke-") and lines[-1] == f"job {lines[0]}: SUCCEEDED"
    assert "best trial:" in result.stdout  # the launcher's own output, streamed from the cluster
    _, parents, children = runs_of(out)
    assert len(parents) == 1 and len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    # a password in a URI never reaches the cluster: refused here, and no job record on the head holds it
    env = {"HOME": str(home), "RAY_AUTH_MODE": "token"}
    refused = run_cli("tuning.submit", *args, "mlflow.tracking_uri=http://user:pw-0123@127.0.0.1:5000/", env=env)
    assert refused.returncode == 2 and "pw-0123" not in refused.stdout + refused.stderr
    code = ("from ray.job_submission import JobSubmissionClient as C\n"
            f"for j in C({address!r}).list_jobs(): print(j.entrypoint, j.metadata, j.runtime_env)")
    listing = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                             timeout=120)
    assert listing.returncode == 0 and "tuning.launch" in listing.stdout, listing.stderr[-2000:]
    assert "pw-0123" not in listing.stdout and listing.stdout.count("tuning.launch") == 1


def test_submit_validates_before_submitting(tmp_path):
    assert_user_error(run_cli("tuning.submit", "study=smoke", "loss.lamda_cyc=1", "study.out_dir=/x",
                              "--address", "http://127.0.0.1:9"), "did you mean loss.lambda_cyc")
    assert_user_error(run_cli("tuning.submit", "study=smoke", "--address", "http://127.0.0.1:9"), "study.out_dir")
    assert_user_error(run_cli("tuning.submit", "study=smoke", f"study.out_dir={tmp_path}",
                              "--address", "http://127.0.0.1:9"), "cannot reach the Ray Jobs API")
