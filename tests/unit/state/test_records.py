"""Records are data, not orders (issue 30): a launch line is checked before a launch acts on it, and only
Ray's own processes of a session are ever killed. Real processes, a real Optuna storage."""
import os
import socket
import subprocess
import sys
import time

import pytest

from cyclegan.configtools import UserError
from tuning.run.cleanup import clean_up_dead_launches
from tuning.state.launches import PREFIX, check_line
from tuning.state.storage import study_id
from tuning.run.reaper import session_processes
from tuning.state.storage import optuna_storage
from tuning.study.loading import load_study
from tuning.state.study_lock import pid_namespace

SESSION = "session_2026-12-04_13-22-36_402384_99999999"  # Ray names it after its launcher's pid


def line(**changes) -> dict:
    return {"status": "running", "history": "smoke", "host": socket.gethostname(), "pid": 999_999_99,
            "process_start": "1", "pid_namespace": pid_namespace(), "ray_session": f"/tmp/ray/{SESSION}", **changes}


@pytest.mark.parametrize("name, changes, fragment", [
    ("smoke-20261204-132233", {"ray_session": "/home/someone"}, "not a Ray session folder"),
    ("smoke-20261204-132233", {"ray_session": f"/tmp/ray/{SESSION}/../../etc"}, "not a Ray session folder"),
    ("smoke-20261204-132233", {"ray_session": f"tmp/{SESSION}"}, "not a Ray session folder"),
    # another launcher's session (Ray names a head's session after the pid that started it)
    ("smoke-20261204-132233", {"ray_session": "/tmp/ray/session_2026-12-04_13-22-36_402384_4242"}, "not the session"),
    ("smoke-20261204-132233", {"pid": "1; rm"}, "pid"),
    ("smoke-20261204-132233", {"status": "kill-everything"}, "status"),
    ("../../victim", {}, "not a launch name"),
])
def test_a_launch_line_the_platform_never_writes_is_refused(name, changes, fragment):
    with pytest.raises(UserError) as err:
        check_line(name, line(**changes))
    assert fragment in str(err.value) and "nothing killed or deleted" in str(err.value)
    check_line("smoke-20261204-132233", line())  # what a launcher writes passes
    check_line("smoke-20261204-132233", line(ray_session=None))


def start(args, **kw):
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def test_only_rays_processes_of_a_session_are_found(tmp_path):
    """A `tail -f` of its log, a shell holding a file there and a program naming the folder are an operator's,
    not Ray's: never found (so never killed). A Ray service script naming the session is."""
    session = tmp_path / SESSION
    (session / "logs").mkdir(parents=True)
    log = session / "logs" / "raylet.out"
    log.write_text("x\n")
    fake_ray = tmp_path / "site" / "ray" / "_private" / "log_monitor.py"
    fake_ray.parent.mkdir(parents=True)
    fake_ray.write_text("import time\ntime.sleep(60)\n")
    procs = [start(["tail", "-f", str(log)]),
             start(["bash", "-c", f"exec 3<{log}; sleep 60"]),
             start([sys.executable, "-c", "import time; time.sleep(60)", str(session)])]
    ray_like = start([sys.executable, str(fake_ray), f"--logs-dir={session}/logs"])
    try:
        time.sleep(1.0)
        found = session_processes(str(session))
        assert ray_like.pid in found
        assert not {p.pid for p in procs} & set(found)
    finally:
        for p in [*procs, ray_like]:
            p.kill()
            p.wait()


def test_a_tampered_record_is_exit_2_and_kills_nothing(tmp_path):
    """The attack of issue 30: a `launch:` line, running, on this host, naming a folder an operator's shell
    has open. The next launch's clean-up refuses it before acting; the shell lives."""
    study = load_study("smoke", [f"study.out_dir={tmp_path / 'study'}"])
    (tmp_path / "study").mkdir()
    victim_dir = tmp_path / "home"
    victim_dir.mkdir()
    (victim_dir / "notes.txt").write_text("x\n")
    victim = start(["tail", "-f", str(victim_dir / "notes.txt")])
    try:
        storage = optuna_storage(study.storage_url)
        sid = study_id(storage, study.name)
        storage.set_study_system_attr(sid, PREFIX + "smoke-20261204-000000", line(ray_session=str(victim_dir)))
        with pytest.raises(UserError, match="not a Ray session folder"):
            clean_up_dead_launches(study, storage, None, [study.name])
        time.sleep(0.3)
        assert victim.poll() is None  # still running
        assert (victim_dir / "notes.txt").is_file()
    finally:
        victim.kill()
        victim.wait()
    assert os.path.isdir(victim_dir)


@pytest.mark.parametrize("tamper, fragment", [
    (lambda r: r.update(config={**r["config"], "__trial_key__": "t0001"}), "a config naming another trial"),
    (lambda r: r.update(key="../../victim3"), "the key"),
    (lambda r: r.update(number=10 ** 6), "Optuna trial number 1000000, and the history has 2 trials"),
    (lambda r: r.update(number="7"), "Optuna trial number '7'"),
    (lambda r: r.update(status="owned"), "status 'owned'"),
    (lambda r: r.update(values={"1": "abc"}), "an evaluation '1'"),
])
def test_a_trial_record_the_launcher_never_writes_is_refused(tmp_path, tamper, fragment):
    """Read through the one reader every resume uses (TrialRecords.all): exit 2 naming the record."""
    import dataclasses

    import optuna

    from tuning.state.trial_records import PREFIX as TRIAL, TrialRecord, TrialRecords
    storage = optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    records = TrialRecords(storage, "smoke")
    ot = optuna.load_study(study_name="smoke", storage=storage)
    for _ in range(2):
        ot.enqueue_trial({})
        ot.ask()
    for i in (1, 2):
        records.put(TrialRecord(f"t{i:04d}", "smoke-20261204-000000", "search", {"__trial_key__": f"t{i:04d}"},
                                number=i - 1, values={"1": 3.5}))
    assert [r.key for r in records.all()] == ["t0001", "t0002"]  # what the launcher writes reads back
    value = dataclasses.asdict(records.get("t0002"))
    tamper(value)
    storage.set_study_system_attr(records.study_id, TRIAL + "t0002", value)
    with pytest.raises(UserError) as err:
        records.all()
    assert fragment in str(err.value) and "not acted on" in str(err.value)


@pytest.mark.parametrize("tamper, fragment", [
    ({"loss.lambda_cyc": "abc"}, "loss.lambda_cyc='abc', which the study's search space cannot propose"),
    ({"loss.lambda_cyc": 1e308}, "loss.lambda_cyc='1e+308', which the study's search space cannot propose"),
    ({"loss.lambda_id": True}, "loss.lambda_id='True'"),
    ({"__trial_index__": 10 ** 30}, "seed index '1000000000000000000000000000000'"),
    ({"__trial_index__": -1}, "seed index '-1'"),
    ({"__stage__": "confirm", "__race__": "1/2/x/4"}, "confirmation keys"),
])
def test_a_stored_config_the_study_cannot_propose_is_refused_before_anything_starts(tmp_path, tamper, fragment):
    """The check phase reads every stored trial config of the history: a value outside the search space, a
    seed index no launch uses, or a race design that does not parse is exit 2 naming the record, and the
    study's folder is left as it was."""
    import optuna

    from tuning.run.check import check
    from tuning.state.trial_records import TrialRecord, TrialRecords
    study = load_study("smoke", [f"study.out_dir={tmp_path / 'study'}"])
    (tmp_path / "study").mkdir()
    storage = optuna_storage(study.storage_url)
    optuna.create_study(study_name=study.name, storage=storage)
    records = TrialRecords(storage, study.name)
    written = {"loss.lambda_cyc": 4.2, "loss.lambda_id": 0.5, "__trial_index__": 1}
    records.put(TrialRecord("t0001", "smoke-20261204-000000", "search", {**written, "__trial_key__": "t0001"}))
    check(load_study("smoke", [f"study.out_dir={tmp_path / 'study'}"]))  # what the launcher writes passes
    records.put(TrialRecord("t0002", "smoke-20261204-000000", "search",
                            {**written, **tamper, "__trial_key__": "t0002"}))
    before = sorted(p.name for p in (tmp_path / "study").rglob("*"))
    with pytest.raises(UserError) as err:
        check(load_study("smoke", [f"study.out_dir={tmp_path / 'study'}"]))
    assert fragment in str(err.value) and "trial:t0002" in str(err.value) and "not acted on" in str(err.value)
    assert sorted(p.name for p in (tmp_path / "study").rglob("*")) == before
