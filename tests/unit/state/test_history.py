"""One history per study (issue 13): a continuation under other settings is refused naming the keys; keys
that only say where or how fast may change; trial names go on from the study's highest number."""
from types import SimpleNamespace

import optuna
import pytest

from cyclegan.configtools import UserError
from tuning.state.history import check_continuation, record_settings, trials_before
from tuning.study.loading import STUDIES_DIR, load_study


def stored(overrides=()):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    history = optuna.create_study()  # a real (in-memory) Optuna study
    record_settings(load_study("smoke", list(overrides)), history)
    return history


@pytest.mark.parametrize("change, named", [
    (["model.ngf=12"], "model.ngf (8 -> 12)"),
    (["train.epochs=3"], "train.epochs"),
    (["study.metric=kid"], "study.metric"),
])
def test_a_continuation_under_other_settings_is_refused_naming_the_key(change, named):
    history = stored()
    with pytest.raises(UserError, match="was run with other settings") as refused:
        check_continuation(load_study("smoke", change), history)
    assert named in str(refused.value)


def test_a_changed_search_space_is_refused(tmp_path):
    history = stored()
    text = (STUDIES_DIR / "smoke.yaml").read_text()
    (tmp_path / "smoke.yaml").write_text(text.replace("search:", "search:\n  optim.beta1: {categorical: [0.0, 0.5]}"))
    with pytest.raises(UserError, match=r"search\.optim\.beta1 \(unset -> "):
        check_continuation(load_study(str(tmp_path / "smoke.yaml")), history)


def test_where_and_how_fast_may_change_and_new_studies_pass():
    history = stored()
    check_continuation(load_study("smoke", ["train.threads=1", "train.device=cpu", "study.num_samples=9",
                                            "trial.cpus=2", "eval.batch_size=4"]), history)
    check_continuation(load_study("smoke", ["model.ngf=12"]), None)  # no stored study yet
    check_continuation(load_study("smoke", ["model.ngf=12"]), optuna.create_study())  # stored before settings
    record_settings(load_study("smoke", ["model.ngf=12"]), history)  # the first record stays
    with pytest.raises(UserError, match="model.ngf"):
        check_continuation(load_study("smoke", ["model.ngf=12"]), history)


def test_trial_names_go_on_from_the_highest_number(tmp_path):
    def run(name):
        return SimpleNamespace(info=SimpleNamespace(run_name=name))
    assert trials_before([]) == 0
    assert trials_before([run("t0002 lcyc=3"), run("t0004 lcyc=1"), run("study smoke"), run(None)]) == 4
    from tuning.search.resume import first_number
    from tuning.state.storage import optuna_storage
    from tuning.state.trial_records import TrialRecords
    study = load_study("smoke")
    records = TrialRecords(optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}"), "smoke")
    assert first_number(4, records) == 5  # MLflow knows t0004
    assert study.run_name(5, {"loss.lambda_cyc": 2.0}).startswith("t0005 lcyc=2")


def killed_holder(out, launch):
    """A launcher stand-in: another process takes the study lock and is killed with SIGKILL."""
    import signal
    import subprocess
    import sys

    from tests.helpers import ROOT
    code = ("import time\nfrom tuning.state.study_lock import lock_study\nfrom tuning.study.loading import load_study\n"
            f"held = lock_study(load_study('smoke', ['study.out_dir={out}']), '{launch}')\nprint('held', flush=True)\n"
            "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    child.send_signal(signal.SIGKILL)
    child.wait(30)


def test_a_killed_launchers_lock_is_taken_over_and_named(tmp_path):
    from tuning.state.study_lock import launch_of, lock_study
    out = tmp_path / "out"
    out.mkdir()
    killed_holder(out, "smoke-20261128-010203")
    handle, left = lock_study(load_study("smoke", [f"study.out_dir={out}"]), "smoke-now")
    try:
        assert left is not None and "pid" in left and launch_of(left) == "smoke-20261128-010203"
    finally:
        handle.close()


def test_a_normal_exit_leaves_no_holder_behind(tmp_path):
    import subprocess
    import sys

    from tests.helpers import ROOT
    from tuning.state.study_lock import lock_study
    out = tmp_path / "out"
    out.mkdir()
    code = ("from tuning.state.study_lock import lock_study\nfrom tuning.study.loading import load_study\n"
            f"held = lock_study(load_study('smoke', ['study.out_dir={out}']), 'smoke-clean')\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
    assert "smoke~lock" not in optuna.get_all_study_names(f"sqlite:///{out / 'optuna.db'}")
    handle, left = lock_study(load_study("smoke", [f"study.out_dir={out}"]), "smoke-now")
    handle.close()
    assert left is None


def another_hosts_lock(out, heartbeat_age):
    """The lock as a launcher on another node of a cluster leaves it in the shared storage."""
    import time

    from tuning.state.storage import optuna_storage
    storage = optuna_storage(f"sqlite:///{out / 'optuna.db'}")
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "smoke~lock")
    holder = {"pid": 4242, "host": "gpu-node-7", "since": "2026-11-27 23:00:00", "launch": "smoke-night",
              "process_start": "12345", "heartbeat": time.time() - heartbeat_age}
    for key, value in holder.items():
        storage.set_study_user_attr(study_id, key, value)


def test_a_live_lock_on_another_host_is_refused_naming_it(tmp_path):
    from tuning.state.study_lock import lock_study
    out = tmp_path / "out"
    out.mkdir()
    another_hosts_lock(out, heartbeat_age=10)
    with pytest.raises(UserError, match=r"already being run by pid 4242 on gpu-node-7 since 2026-11-27 23:00:00 "
                                        r"\(launch smoke-night\); wait for it to end \(or stop it: kill 4242 on gpu-node-7\)"):
        lock_study(load_study("smoke", [f"study.out_dir={out}"]), "smoke-now")


def test_a_lock_whose_heartbeat_stopped_is_taken_over(tmp_path):
    from tuning.state.study_lock import STALE_S, launch_of, lock_study
    out = tmp_path / "out"
    out.mkdir()
    another_hosts_lock(out, heartbeat_age=STALE_S + 60)
    handle, left = lock_study(load_study("smoke", [f"study.out_dir={out}"]), "smoke-now")
    try:
        assert launch_of(left) == "smoke-night" and "gpu-node-7" in left
        attrs = optuna.load_study(study_name="smoke~lock", storage=f"sqlite:///{out / 'optuna.db'}").user_attrs
        assert attrs["launch"] == "smoke-now" and attrs["host"] != "gpu-node-7"
    finally:
        handle.close()


def test_a_launch_fails_only_its_own_orphans(tmp_path):
    """Launch B ends while launch A still trains a trial: B must not mark A's trial failed (issue 13)."""
    from tuning.search.optuna_search import LAUNCH_ATTR, fail_orphans
    from tuning.state.storage import optuna_storage
    storage = optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    history = optuna.create_study(study_name="smoke", storage=storage)
    for launch in ("A", "B", None):
        trial = history.ask()
        if launch:
            trial.set_user_attr(LAUNCH_ATTR, launch)
    assert fail_orphans(storage, "smoke", {"B"}) == 2  # B's own, and one stored before launches were recorded
    states = {t.user_attrs.get(LAUNCH_ATTR): t.state for t in optuna.load_study(study_name="smoke",
                                                                                storage=storage).trials}
    assert states == {"A": optuna.trial.TrialState.RUNNING, "B": optuna.trial.TrialState.FAIL,
                      None: optuna.trial.TrialState.FAIL}


def test_new_history_names_the_next_optuna_study_and_resume_keeps_it(tmp_path):
    """study.new_history=true: NAME, then NAME#2, NAME#3; without it a launch continues the newest history,
    and the stored arguments of a launch never start another one on resume."""
    from tuning.state.history import choose_history, history_names
    from tuning.state.launches import launch_arguments
    from tuning.state.storage import optuna_storage
    storage = optuna_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    plain, renew = load_study("smoke"), load_study("smoke", ["study.new_history=true"])
    assert choose_history(plain, storage) == "smoke" and choose_history(renew, storage) == "smoke"  # none yet
    optuna.create_study(study_name="smoke", storage=storage)
    optuna.create_study(study_name="smoke-other", storage=storage)  # another study's, not a history of smoke
    assert choose_history(plain, storage) == "smoke" and choose_history(renew, storage) == "smoke#2"
    for name in ("smoke#2", "smoke#10", "smoke#x"):
        optuna.create_study(study_name=name, storage=storage)
    assert history_names(storage, "smoke") == ["smoke", "smoke#2", "smoke#10"]
    assert choose_history(plain, storage) == "smoke#10" and choose_history(renew, storage) == "smoke#11"
    assert "study.new_history=true" not in launch_arguments(renew, ["study.new_history=true", "model.ngf=12"])


def racing_first_launches(out) -> list:
    """Two launchers of a study whose storage does not exist yet, taking the lock at the same instant."""
    import subprocess
    import sys
    import time

    from tests.helpers import ROOT
    start = time.time() + 3  # both past their imports, then released together
    code = ("import sys, time\nfrom cyclegan.cli import run_main\nfrom tuning.state.study_lock import lock_study\n"
            "from tuning.study.loading import load_study\n"
            "def main(args):\n"
            f"    study = load_study('smoke', ['study.out_dir={out}'])\n"
            f"    time.sleep(max(0, {start} - time.time()))\n"
            "    lock_study(study, args[0])\n    print('held', flush=True)\n    time.sleep(4)\n"
            "sys.exit(run_main(main, usage=''))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, f"launch-{i}"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    return [(p.wait(60), *p.communicate()) for p in procs]


def test_two_first_launches_at_once_give_one_runner_and_one_line(tmp_path):
    for attempt in range(2):
        out = tmp_path / f"out{attempt}"
        out.mkdir()
        results = sorted(racing_first_launches(out), key=lambda r: r[0])
        (code0, stdout0, _), (code2, _, stderr2) = results
        assert (code0, code2) == (0, 2) and stdout0.strip() == "held", results
        lines = [line for line in stderr2.splitlines() if line.strip()]
        assert len(lines) == 1 and "already being run by pid" in lines[0] and "Traceback" not in stderr2, results


def same_host_other_container(out, pid: int, heartbeat_age: float):
    """A holder on this host name but in another PID namespace (a container): its pid means nothing here."""
    import socket
    import time

    from tuning.state.storage import optuna_storage
    storage = optuna_storage(f"sqlite:///{out / 'optuna.db'}")
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "smoke~lock")
    holder = {"pid": pid, "host": socket.gethostname(), "since": "2026-12-01 10:00:00", "launch": "smoke-box",
              "process_start": "1", "pid_namespace": "pid:[4026500000]", "heartbeat": time.time() - heartbeat_age}
    for key, value in holder.items():
        storage.set_study_user_attr(study_id, key, value)


def test_a_live_holder_in_another_container_on_this_host_keeps_its_lock(tmp_path):
    from tuning.state.study_lock import STALE_S, lock_study, pid_namespace
    assert pid_namespace().startswith("pid:[")
    out = tmp_path / "out"
    out.mkdir()
    same_host_other_container(out, pid=4_000_000, heartbeat_age=10)  # no such pid here; alive in its container
    with pytest.raises(UserError, match="already being run by pid 4000000"):
        lock_study(load_study("smoke", [f"study.out_dir={out}"]), "smoke-now")
    stale = tmp_path / "stale"
    stale.mkdir()
    same_host_other_container(stale, pid=4_000_000, heartbeat_age=STALE_S + 60)  # its heartbeat stopped: gone
    handle, left = lock_study(load_study("smoke", [f"study.out_dir={stale}"]), "smoke-now")
    handle.close()
    assert "smoke-box" in left
