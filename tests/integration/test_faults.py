"""Fault injection with real signals on real processes: killed trial workers and diverging trials."""
import os
import signal
import subprocess
import sys
import time

from tests.helpers import ROOT, peek_runs, run_cli
from tests.integration.test_launch import runs_of, wait_for

SMOKE = (ROOT / "studies" / "smoke.yaml").read_text()


def write_study(tmp_path, name, extra_search=None, **sections):
    text = SMOKE
    if extra_search is not None:
        text = text.split("search:")[0] + "search:\n" + extra_search + "\nstudy: {metric: fid, max_concurrent: 2, scheduler: none}\ntrial: {cpus: 1}\n"
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_killed_workers_restart_from_their_checkpoint_in_the_same_run(tmp_path):
    out = tmp_path / "killed"
    args = ["study=smoke", "study.confirm_top=0", f"study.out_dir={out}", "study.num_samples=2", "study.max_concurrent=2", "trial.cpus=1",
            "train.epochs=5", "data.synthetic_train_size=160", "study.max_failures=2"]
    proc = subprocess.Popen([sys.executable, "-m", "tuning.launch", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killed = set()
    try:
        def kill_after_first_epoch():
            for child in peek_runs(out / "mlflow.db"):
                trial_id = child["trial_id"]
                if trial_id in killed or child["status"] != "RUNNING" or child["epoch"] < 1:
                    continue
                pid_files = list(out.glob(f"trials/{trial_id}/worker.pid"))  # the trial's own folder
                if not pid_files:
                    continue
                pid_file = pid_files[0]
                time.sleep(0.5)  # inside the next epoch
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
                killed.add(trial_id)
            return len(killed) == 2
        wait_for(kill_after_first_epoch, 300, "two trials past their first epoch")
        stdout, stderr = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    client, parents, children = runs_of(out)
    assert len(parents) == 1 and len(children) == 2  # a restarted trial keeps its run
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["restarts"] == "1"
        assert [m.step for m in client.get_metric_history(child.info.run_id, "epoch")] == [1, 2, 3, 4, 5, 6]
        assert [m.step for m in client.get_metric_history(child.info.run_id, "fid")] == [1, 2, 3, 4, 5, 6]


def test_a_diverging_trial_fails_with_a_reason_and_the_study_goes_on(tmp_path):
    path = write_study(tmp_path, "diverge", extra_search=(
        "  arm:\n    grid:\n      sane: {}\n      absurd: {optim.lr_g: 1.0e+30, optim.lr_d: 1.0e+30}\n"))
    out = tmp_path / "diverge-out"
    result = run_cli("tuning.launch", f"study={path}", f"study.out_dir={out}", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 trial(s) failed" in result.stdout
    # the sane arm is the reference settings and the only configuration that finished: nothing to race
    assert "the study's answer: the reference settings. No other configuration reached its final evaluation" \
        in result.stdout
    client, parents, children = runs_of(out, study="diverge")
    by_arm = {c.data.tags["arm"]: c for c in children}
    assert by_arm["sane"].info.status == "FINISHED" and by_arm["sane"].data.tags.get("best") == "true"
    absurd = by_arm["absurd"]
    assert absurd.info.status == "FAILED"
    assert "TrainingDiverged" in absurd.data.tags["error"] and "lower the learning rates" in absurd.data.tags["error"]
    assert not client.get_metric_history(absurd.info.run_id, "fid")  # stopped within its first epoch
    # the marker that stops a restart lives in the study's folder (shared on a cluster), written directly
    marker = list(out.glob(f"trials/{absurd.data.tags['trial_id']}/diverged.txt"))
    assert len(marker) == 1 and "became nan" in marker[0].read_text()
