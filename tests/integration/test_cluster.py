"""Studies as they run on a cluster (issue 13): a real multi-node Ray cluster (Ray's own
`ray.cluster_utils.Cluster`: a head and two worker nodes, each a raylet on 127.0.0.1), Optuna on a real
PostgreSQL and an MLflow server on the same database. One PostgreSQL, one MLflow server and one cluster
for the module; each test has its own databases and experiment. Skipped where PostgreSQL is not installed
(`.ci/run` installs Debian's `postgresql`)."""
import json
import os
import subprocess
import sys
import tempfile
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT, MlflowServer, PostgresServer, descendants, postgres_bin, run_cli

pytestmark = pytest.mark.skipif(postgres_bin() is None,
                                reason="PostgreSQL is not installed (apt-get install postgresql)")


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    try:
        yield server.start(databases=("mlflow", "optuna_multinode", "optuna_concurrent", "optuna_lock"))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mlflow_server(postgres, tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"), backend=postgres.url("mlflow"))
    try:
        yield server.start(timeout=120)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster():
    """A head without CPUs (trials run on the workers) and two one-CPU worker nodes, all on loopback."""
    from ray.cluster_utils import Cluster
    loopback = {"node_ip_address": "127.0.0.1", "object_store_memory": 100 * 1024 ** 2}
    temp = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # Ray's socket paths must stay short
    # Cluster.add_node records the head's address in <RAY_TMPDIR or /tmp>/ray/ray_current_cluster without
    # creating the folder (FileNotFoundError on a machine that never ran Ray) and would overwrite another
    # user's record on a shared box: keep it in this cluster's own folder.
    os.makedirs(os.path.join(temp, "ray"))
    ray_tmpdir = pytest.MonkeyPatch()
    ray_tmpdir.setenv("RAY_TMPDIR", temp)
    ray_cluster = Cluster(initialize_head=True, shutdown_at_exit=True,
                          head_node_args={**loopback, "num_cpus": 0, "include_dashboard": False, "temp_dir": temp})
    try:
        workers = [ray_cluster.add_node(**loopback, num_cpus=1) for _ in range(2)]
        ray_cluster.wait_for_nodes()
        yield ray_cluster, workers
    finally:
        ray_cluster.shutdown()  # stops exactly the processes it started
        ray_tmpdir.undo()


def raylet_pid(node) -> int:
    from ray._private import ray_constants
    return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid


def wait_for(predicate, timeout, what, launcher):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if launcher.poll() is not None:
            raise AssertionError(f"the launcher ended before {what}:\n{launcher.stdout.read()[-4000:]}")
        time.sleep(1)
    launcher.kill()
    raise AssertionError(f"timed out waiting for {what}:\n{launcher.communicate()[0][-4000:]}")


def epochs_logged(client, run_id, metric="epoch"):
    return [m.step for m in client.get_metric_history(run_id, metric)]


def grid_steps(client, run_id):
    paths = [a.path for a in client.list_artifacts(run_id, "images")]
    return sorted((p.split("/")[1].split("+")[0], int(p.split("+step+")[1].split("+")[0])) for p in paths
                  if "+step+" in p and p.endswith(".png"))


NODE_DEATH_EPOCHS = 8  # of ~3.5 s each (320 images): ~28 s a trial


def test_a_trial_whose_node_dies_resumes_on_another_node(cluster, postgres, mlflow_server, tmp_path):
    ray_cluster, workers = cluster
    out = tmp_path / "shared"  # every node of this cluster is this machine: its disk is their shared mount
    args = ["study=smoke", "study.confirm_top=0", f"study.out_dir={out}", "study.shared_out_dir=true",
            f"ray.address={ray_cluster.address}", f"study.storage={postgres.url('optuna_multinode')}",
            f"mlflow.tracking_uri={mlflow_server.url}", "mlflow.experiment=smoke-multinode", "study.num_samples=2",
            "study.max_concurrent=2", "study.scheduler=none", "trial.cpus=1",
            f"train.epochs={NODE_DEATH_EPOCHS // 2}", f"train.decay_epochs={NODE_DEATH_EPOCHS // 2}",
            # Epochs of a few seconds, so that the node dies mid-trial: with the smoke study's 32 images an
            # epoch takes 0.4 s, and a trial could finish between its first checkpoint and the kill below
            # (which waits for MLflow to show that epoch: ~10 s under CI's load).
            "data.synthetic_train_size=320"]
    launcher = subprocess.Popen([sys.executable, "-m", "tuning.launch", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    try:
        # a trial that has checkpointed epoch 1: find its worker process and the node that runs it
        trial_dir = wait_for(lambda: next((d for d in sorted(out.glob("trials/t*"))
                                           if (d / "checkpoints" / "last.pt").is_file() and (d / "worker.pid").is_file()),
                                          None), 300, "a trial's first checkpoint", launcher)
        # ... once Tune has registered that checkpoint (the tracker logs an epoch after Tune took the result)
        trial_id = trial_dir.name  # the trial's key: its own folder and its run's trial_id tag
        client = MlflowClient(mlflow_server.url)

        def epoch_logged():
            experiment = client.get_experiment_by_name("smoke-multinode")
            runs = client.search_runs([experiment.experiment_id], f"tags.trial_id = '{trial_id}'") if experiment else []
            return runs and "epoch" in runs[0].data.metrics
        wait_for(epoch_logged, 120, "the trial's first logged epoch", launcher)
        old_pid = int((trial_dir / "worker.pid").read_text())
        victim = next(node for node in workers if old_pid in descendants(raylet_pid(node)))
        ray_cluster.remove_node(victim, allow_graceful=False)  # the node dies mid-trial, its worker with it
        output, _ = launcher.communicate(timeout=540)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, output[-4000:]
    assert int((trial_dir / "worker.pid").read_text()) != old_pid  # restarted, on the node still alive
    # it went on from its checkpoint (after epoch 1 at least), and the engine wrote each epoch once
    resumed = (trial_dir / "resumes.txt").read_text().splitlines()
    assert len(resumed) == 1 and int(resumed[0].rsplit(" ", 1)[1]) >= 1, resumed
    engine_epochs = [json.loads(line)["epoch"] for line in (trial_dir / "metrics.jsonl").read_text().splitlines()]
    assert engine_epochs == list(range(1, NODE_DEATH_EPOCHS + 1)), engine_epochs
    experiment = client.get_experiment_by_name("smoke-multinode")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.study = 'smoke'")
    children = [r for r in runs if r.data.tags.get("kind") != "study"]
    assert len(children) == 2 and all(r.info.status == "FINISHED" for r in children)
    restarted = [r for r in children if r.data.tags.get("restarts") == "1"]
    assert len(restarted) == 1 and trial_dir.name == restarted[0].data.tags["trial_id"]
    every_epoch = list(range(1, NODE_DEATH_EPOCHS + 1))
    for run in children:  # the same MLflow run, every epoch and every grid once
        assert epochs_logged(client, run.info.run_id) == every_epoch
        assert grid_steps(client, run.info.run_id) == [(d, e) for d in ("a2b", "b2a") for e in every_epoch]
    trials = optuna.load_study(study_name="smoke", storage=postgres.url("optuna_multinode")).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2


def test_eight_concurrent_trials_on_postgres_while_a_report_reads(postgres, mlflow_server, tmp_path):
    """Optuna on PostgreSQL and an MLflow server on the same database, 8 trials at once, a report read
    mid-run: no metric point, image or Optuna value lost or doubled."""
    out = tmp_path / "study"
    storage = postgres.url("optuna_concurrent")
    args = ["study=smoke", "study.confirm_top=0", f"study.out_dir={out}", f"study.storage={storage}",
            f"mlflow.tracking_uri={mlflow_server.url}", "mlflow.experiment=smoke-concurrent", "study.num_samples=8",
            "study.max_concurrent=8", "study.scheduler=none", "trial.cpus=0.25", "ray.num_cpus=2"]
    launcher = subprocess.Popen([sys.executable, "-m", "tuning.launch", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    client = MlflowClient(mlflow_server.url)
    try:
        def finished_trials():
            experiment = client.get_experiment_by_name("smoke-concurrent")
            if experiment is None:
                return 0
            runs = client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'FINISHED'")
            return sum(r.data.tags.get("kind") != "study" for r in runs)
        wait_for(lambda: finished_trials() >= 2, 400, "two finished trials", launcher)
        assert launcher.poll() is None, "the study ended before the report could read it mid-run"
        report = run_cli("dashboards.report", "study=smoke", f"mlflow.tracking_uri={mlflow_server.url}",
                         "mlflow.experiment=smoke-concurrent", f"out={tmp_path / 'report'}", timeout=300)
        output, _ = launcher.communicate(timeout=540)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
    assert launcher.returncode == 0, output[-4000:]
    experiment = client.get_experiment_by_name("smoke-concurrent")
    children = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") != "study"]
    assert len(children) == 8 and len({r.data.tags["trial_id"] for r in children}) == 8
    assert optuna.get_all_study_names(storage) == ["smoke"]  # the lock was released
    trials = optuna.load_study(study_name="smoke", storage=storage).trials
    assert len(trials) == 8 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    by_key = {t.user_attrs["trial_key"]: t for t in trials}
    for run in children:
        assert epochs_logged(client, run.info.run_id) == [1, 2]
        assert epochs_logged(client, run.info.run_id, "objective") == [1, 2]
        assert grid_steps(client, run.info.run_id) == [("a2b", 1), ("a2b", 2), ("b2a", 1), ("b2a", 2)]
        assert by_key[run.data.tags["trial_id"]].value == pytest.approx(run.data.metrics["objective"])


def test_the_study_lock_holds_across_hosts_on_a_shared_database(postgres, tmp_path):
    """Two launchers that share only the Optuna database (each on its own host, with its own study.out_dir):
    while one holds the study, the other is refused naming it; once it is killed, the lock is taken over."""
    from tuning.study.loading import load_study
    from tuning.state.study_lock import launch_of, lock_study
    storage = postgres.url("optuna_lock")
    code = ("import time\nfrom tuning.state.study_lock import lock_study\nfrom tuning.study.loading import load_study\n"
            f"held = lock_study(load_study('smoke', ['study.out_dir={tmp_path / 'host_a'}', 'study.storage={storage}']),"
            " 'smoke-host-a')\nprint('held', flush=True)\ntime.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = run_cli("tuning.launch", "study=smoke", "study.confirm_top=0", f"study.out_dir={tmp_path / 'host_b'}",
                         f"study.storage={storage}", timeout=120)
        assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stdout[-2000:] + second.stderr
        assert f"already being run by pid {holder.pid} on " in second.stderr and "(launch smoke-host-a)" in second.stderr
    finally:
        holder.kill()
        holder.wait(30)
    lock, left = lock_study(load_study("smoke", [f"study.out_dir={tmp_path / 'host_b'}", f"study.storage={storage}"]),
                            "smoke-host-b")
    lock.close()
    assert launch_of(left) == "smoke-host-a"
    assert "smoke~lock" not in optuna.get_all_study_names(storage)


def test_lock_heartbeats_are_judged_on_the_databases_clock(postgres, tmp_path, monkeypatch):
    """Holder and taker on hosts whose clocks disagree: the heartbeat is written and judged with PostgreSQL's
    now(), so a live holder is not robbed by a taker whose clock runs ahead, and a dead holder whose clock
    ran ahead is still taken over."""
    import time

    from cyclegan.configtools import UserError  # imported here, as the other tests of this module import late
    from tuning.state.storage import optuna_storage
    from tuning.study.loading import load_study
    from tuning.state.study_lock import STALE_S, db_now, lock_study
    url = postgres.url("optuna_lock")
    storage = optuna_storage(url)
    study = load_study("smoke", [f"study.out_dir={tmp_path}", f"study.storage={url}"])

    def remote_holder(heartbeat: float):
        study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "smoke~lock")
        for key, value in {"pid": 4242, "host": "gpu-node-7", "since": "2026-12-01 01:00:00", "launch": "smoke-far",
                           "process_start": "1", "pid_namespace": "pid:[1]", "heartbeat": heartbeat}.items():
            storage.set_study_user_attr(study_id, key, value)

    now = db_now(storage)
    assert abs(now - time.time()) < 60  # the database's clock, read over SQL
    remote_holder(now - 10)                                   # alive: it beat 10 s ago by the database's clock
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)  # this host's clock is an hour ahead
    with pytest.raises(UserError, match="already being run by pid 4242 on gpu-node-7"):
        lock_study(study, "smoke-skewed", storage)
    monkeypatch.setattr(time, "time", real_time)
    storage.delete_study(storage.get_study_id_from_name("smoke~lock"))
    remote_holder(now - STALE_S - 60)                         # dead: its last beat is older than STALE_S
    lock, left = lock_study(study, "smoke-taker", storage)
    lock.close()
    assert "smoke-far" in left
