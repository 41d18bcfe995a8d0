"""tuning.launch end to end: real Ray (a private local instance), real Optuna storage, real MLflow store."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from cyclegan import metric_names
from tests.helpers import ROOT, chrome, needs_browser, peek_runs, run_cli
from tuning.results.race import RaceDesign, replay

SMALL = ["study.max_concurrent=2", "trial.cpus=1"]


def store(out):
    return MlflowClient(f"sqlite:///{out / 'mlflow.db'}")


def runs_of(out, study="smoke"):
    client = store(out)
    experiment = client.get_experiment_by_name(study)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("kind") == "study"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


@pytest.fixture(scope="module")
def smoke_launch(tmp_path_factory):
    """The README's first study, launched once for this module: (its folder's parent, the folder, the launch)."""
    home = tmp_path_factory.mktemp("smoke_launch")
    out = home / "smoke"
    result = run_cli("tuning.launch", "study=smoke", f"study.out_dir={out}", *SMALL, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return home, out, result


def test_smoke_study_end_to_end(smoke_launch):
    tmp_path, out, result = smoke_launch
    assert "the study's answer, from the confirmation race: " in result.stdout
    # the race answered: the closing line points to the report's verdicts, not "whether it beats" them
    assert "every verdict, interval and sample grid: python -m dashboards.report" in result.stdout
    assert "whether it beats the reference settings" not in result.stdout
    assert "mlflow ui --backend-store-uri sqlite:///" in result.stdout
    client, parents, everything = runs_of(out)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    # the search stage, then its best configuration races the reference on fresh seeds (smoke.yaml: a look
    # after 3 seeds, a second after 4 if the candidate is still ahead)
    children = [c for c in everything if c.data.tags["stage"] == "search"]
    confirmation = [c for c in everything if c.data.tags["stage"] == "confirm"]
    assert len(children) == 4 and len(confirmation) in (6, 8)
    # the address to open lands on the runs table in MLflow's model-training view; the study run's
    # description answers at a glance: the best trial (a link), the noise floor, the top trials
    exp_id = parents[0].info.experiment_id
    assert f"http://127.0.0.1:5000/#/experiments/{exp_id}/runs?workflowType=machine_learning" in result.stdout
    note = parents[0].data.tags["mlflow.note.content"]
    best = next(c for c in everything if c.data.tags.get("best") == "true")
    assert best.data.tags["stage"] == "confirm"  # the answer comes from the seeds its selection never saw
    assert "**Confirmation:**" in note and f"[{best.info.run_name}](#/experiments/{exp_id}/runs/" in note
    assert "Search stage (not confirmed): best [" in note and "**Noise:** fid reference" in note
    # the study run's answer in brief (where MLflow's run page shows it first): the same answer, the same value
    said = result.stdout.split("the study's answer, from the confirmation race: ")[1].splitlines()[0]
    answer = parents[0].data.tags["answer"]
    assert answer.startswith(f"{best.info.run_name}, fid {best.data.metrics['answer_objective']:.4g}: "), answer
    assert ("confirmed better than the reference settings" in answer) == said.startswith("confirmed on"), (answer, said)
    # output a person reads: about 45 lines for 4 + 4 trials, one naming scheme, every objective, no ANSI codes
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    assert len(lines) <= 30 + 4 * len(everything), "\n".join(lines)
    assert "confirming the top 1 configuration(s) against the reference settings" in result.stdout
    assert "looks after 3, 4 seeds; at most 8 runs" in result.stdout and "the race " in result.stdout
    assert "\x1b" not in result.stdout + result.stderr and "tensorboard" not in result.stdout.lower()
    table = result.stdout.split("ranked by fid at the final evaluation:")[1].split("the study's answer")[0]
    ranked = [*sorted(children, key=lambda c: c.data.metrics["objective"]),  # the search, then the race's runs
              *sorted(confirmation, key=lambda c: c.data.metrics["objective"])]
    for rank, child in enumerate(ranked, 1):
        name, fid = child.info.run_name, child.data.metrics["objective"]
        assert f"{name}  FINISHED  fid {fid:.4g}" in result.stdout  # the trial's end line
        row = table.splitlines()[rank + 1]  # after the blank line and the header
        assert row.split()[0] == str(rank) and name in row and f"{fid:.4g}" in row, table
    assert "run_trial_" not in result.stdout + result.stderr  # Ray's trial names never shown
    assert {c.data.tags["mlflow.parentRunId"] for c in everything} == {parents[0].info.run_id}
    assert len({c.data.tags["trial_id"] for c in everything}) == len(everything)
    assert len({c.info.run_name.split()[0] for c in everything}) == len(everything)  # t0001, t0002 ...: names go on
    for child in everything:
        assert child.info.status == "FINISHED"
        assert child.info.run_name.startswith("t") and "lcyc=" in child.info.run_name and "lid=" in child.info.run_name
        params = child.data.params
        assert {"loss.lambda_cyc", "loss.lambda_id", "model.generator", "data.name", "train.seed"} <= set(params)
        for key in ("study", "trial_id", "seed", "dataset", "backbone", "git_commit", "eval.backbone"):
            assert key in child.data.tags, key
        for metric in ("fid", "kid", "l1_a2b", "loss_G", "objective", "fid_se", "kid_se", "fid_a2b_se", "kid_b2a_se"):
            assert [m.step for m in client.get_metric_history(child.info.run_id, metric)] == [1, 2], metric
        assert child.data.metrics["objective"] == child.data.metrics["fid"]  # fid at the final evaluation
        assert child.data.tags["outcome"] == "complete" and child.data.tags["eval.amp"] == "False"
        images = [a.path for a in client.list_artifacts(child.info.run_id, "images")]
        for direction in ("a2b", "b2a"):
            for step in (1, 2):
                assert len([p for p in images if p.startswith(f"images/{direction}+step+{step}+")
                            and p.endswith(".png")]) == 1
        assert [a.path for a in client.list_artifacts(child.info.run_id, "final_generators")] == [
            "final_generators/generators.pt"]
    # Tune reuses the trials' workers (tuning/run/stages.tune_config): 10 trials, 2 at a time, in a few processes
    pids = {(out / "trials" / c.data.tags["trial_id"] / "worker.pid").read_text() for c in everything}
    assert len(pids) <= len(everything) // 2, pids
    # at rest a finished trial keeps its final generators once in Tune's folder, no engine state
    assert sorted(p.name for p in (out / "trials").iterdir()) == sorted(c.data.tags["trial_id"] for c in everything)
    assert not list((out / "trials").rglob("last.pt"))
    trial_dirs = [d for d in out.glob("smoke-*/*") if d.is_dir() and any(d.glob("checkpoint_*"))]
    assert len(trial_dirs) == len(everything)
    for trial_dir in trial_dirs:
        newest = max(trial_dir.glob("checkpoint_*"))
        assert not list(trial_dir.glob("checkpoint_*/last.pt"))
        assert list(trial_dir.glob("checkpoint_*/generators.pt")) == [newest / "generators.pt"]
        assert (newest / "b2a.png").is_file() and (newest / "metrics.json").is_file()
    best = [c for c in everything if c.data.tags.get("best") == "true"]
    assert len(best) == 1
    assert any(c.data.tags.get("baseline") == "true" and c.data.params["loss.lambda_cyc"] == "10.0" for c in children)
    versions = client.search_model_versions("name = 'catholic2gogh-smoke'")
    assert len(versions) == 1 and versions[0].run_id == best[0].info.run_id
    trials = optuna.load_study(study_name="smoke", storage=f"sqlite:///{out / 'optuna.db'}").trials
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert trials[0].params == {"loss.lambda_cyc": 10.0, "loss.lambda_id": 5.0}  # the reference baseline
    assert_optuna_agrees_with_mlflow(client, children, trials)  # confirmation trials are not Optuna's
    # fresh seeds: none used by a search trial; the candidate and the reference share each of them
    search_seeds = {c.data.tags["seed"] for c in children}
    assert not search_seeds & {c.data.tags["seed"] for c in confirmation}
    by_seed = {}
    for c in confirmation:
        by_seed.setdefault(c.data.tags["seed"], []).append(c.data.tags.get("baseline") == "true")
    assert len(by_seed) == len(confirmation) // 2 and all(sorted(v) == [False, True] for v in by_seed.values())
    top = min((c for c in children if c.data.tags.get("baseline") != "true"), key=lambda c: c.data.metrics["objective"])
    assert all(c.data.params["loss.lambda_cyc"] == top.data.params["loss.lambda_cyc"]
               for c in confirmation if c.data.tags.get("baseline") != "true")
    # the race replayed here from the runs (the looks of smoke.yaml) gives the answer the launcher marked:
    # the candidate when the race showed it better, else the reference; best_objective is its fresh-seed mean
    values = {}
    for c in confirmation:
        values.setdefault(c.data.tags.get("baseline") == "true", {})[int(c.data.tags["seed"])] = c.data.metrics["objective"]
    race = replay(values[True], {("candidate",): values[False]}, RaceDesign(1, 3, 1, 8), "min")
    assert race.status in ("confirmed", "not shown") and len(confirmation) == 2 * len(race.seeds)
    answer = values[race.status != "confirmed"]
    assert (best[0].data.tags.get("baseline") == "true") == (race.status != "confirmed")
    assert parents[0].data.metrics["best_objective"] == pytest.approx(sum(answer.values()) / len(answer))
    # the answer's run carries that mean (not its own seed's value) and is ranked first in the MLflow view;
    # the other complete runs follow by objective (issue 31, item 2)
    assert best[0].data.metrics["answer_objective"] == pytest.approx(sum(answer.values()) / len(answer))
    assert best[0].data.tags["fid"] == f"{sum(answer.values()) / len(answer):.4g}"  # the view's rounded column
    ranked = sorted((c for c in everything if "rank" in c.data.tags), key=lambda c: c.data.tags["rank"])
    assert ranked[0].info.run_id == best[0].info.run_id
    assert len(ranked) == sum(c.data.tags.get("outcome") == "complete" for c in everything)
    assert [c.data.tags["rank"] for c in ranked] == [f"{i:02d}" for i in range(1, len(ranked) + 1)]
    assert [c.data.metrics["objective"] for c in ranked[1:]] == sorted(c.data.metrics["objective"] for c in ranked[1:])
    assert study_confirmations(out)[0]["top"] == [{k: float(top.data.params[k]) for k in ("loss.lambda_cyc",
                                                                                         "loss.lambda_id")}]
    report = run_cli("dashboards.report", "study=smoke", f"study.out_dir={out}", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    page = open(report.stdout.strip().splitlines()[-1]).read()
    assert "Confirmation on fresh seeds" in page and "Leaderboard (search stage, not confirmed)" in page
    import html as html_lib
    import re
    visible = html_lib.unescape(re.sub(r"<style>.*?</style>|<script>.*?</script>|<[^>]+>", " ", page, flags=re.S))
    for markdown_left in ("**", "|---|", "](#/"):  # the note's markdown is MLflow's; the report renders its own
        assert markdown_left not in visible, markdown_left
    # dashboards.compare gives the race's answer, with its fresh-seed mean, and labels the search stage's best
    compare = run_cli("dashboards.compare", "study=smoke", "study=smoke", f"mlflow.tracking_uri=sqlite:///{out / 'mlflow.db'}",
                      f"out={tmp_path / 'cmp'}", timeout=300)
    assert compare.returncode == 0, compare.stderr[-3000:]
    compared = Path(compare.stdout.strip().splitlines()[-1]).read_text()
    assert "fresh seeds" in compared and "Search stage (not confirmed): best t" in compared
    from dashboards.report import fmt
    assert f"<b>{fmt(sum(answer.values()) / len(answer))}</b>" in compared  # the answer's fresh-seed mean
    assert ("the reference settings stay the answer" in page) == (race.status != "confirmed")
    assert "race detects a gain of" in page or race.status == "confirmed"


@needs_browser
def test_the_reports_first_screen_shows_the_confirmed_answer_as_rendered_html(smoke_launch, tmp_path):
    """`dashboards.report` after a study with a race, opened in headless Chromium at 1440x900: the confirmation's
    answer lies on the first screen, no scrolling, and no markdown shows there (issue 31)."""
    _, out, _ = smoke_launch
    report = run_cli("dashboards.report", "study=smoke", f"study.out_dir={out}", f"out={tmp_path / 'report'}")
    assert report.returncode == 0, report.stderr[-3000:]
    driver = chrome(tmp_path, 1440, 900)
    try:
        driver.get((tmp_path / "report" / "report.html").as_uri())
        box = driver.execute_script("const e = document.getElementById('confirmed'); if (!e) return null;"
                                    "const r = e.getBoundingClientRect(); return [r.top, r.bottom, r.right,"
                                    " window.innerHeight, window.innerWidth, e.innerText]")
        assert box is not None, "no confirmation answer (#confirmed) in the report"
        top, bottom, right, height, width, text = box
        assert 0 <= top and bottom <= height and right <= width, box
        assert "stay the answer" in text or text.startswith("Confirmed on"), text
        # every text node drawn on the first screen, as a person reads it
        screen = driver.execute_script(
            "const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); const seen = [];"
            "while (w.nextNode()) { const r = document.createRange(); r.selectNodeContents(w.currentNode);"
            "  const b = r.getBoundingClientRect(); if (b.height > 0 && b.top < window.innerHeight)"
            "    seen.push(w.currentNode.textContent); } return seen.join(' ')")
        assert text[:40] in screen
        for markdown_left in ("**", "|---|", "](#/"):
            assert markdown_left not in screen, (markdown_left, screen[:500])
        driver.save_screenshot(str(tmp_path / "report_first_screen.png"))
    finally:
        driver.quit()


def study_confirmations(out):
    return optuna.load_study(study_name="smoke", storage=f"sqlite:///{out / 'optuna.db'}").user_attrs["confirmations"]


def assert_optuna_agrees_with_mlflow(client, children, trials):
    """One objective everywhere: each Optuna trial's value and intermediate values are the MLflow run's
    objective and its per-epoch history; states match the runs' outcomes."""
    runs = {c.data.tags["trial_id"]: c for c in children}
    assert {t.user_attrs["trial_key"] for t in trials} == set(runs)
    for trial in trials:
        run = runs[trial.user_attrs["trial_key"]]
        history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "objective")}
        assert trial.intermediate_values == history
        assert trial.value == run.data.metrics["objective"] == history[max(history)]
        expected = {"complete": optuna.trial.TrialState.COMPLETE, "stopped": optuna.trial.TrialState.PRUNED}
        assert trial.state == expected[run.data.tags["outcome"]], (trial.number, run.data.tags["outcome"])


def test_asha_stopped_trials_are_pruned_with_their_values_and_the_reference_runs_its_seeds(tmp_path):
    out = tmp_path / "asha"
    result = run_cli("tuning.launch", "study=smoke", "study.confirm_top=0", f"study.out_dir={out}", "study.scheduler=asha",
                     "study.grace_period=1", "study.reduction_factor=2", "train.epochs=2", "train.decay_epochs=2",
                     "study.num_samples=5", "study.baseline_seeds=2", *SMALL, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    client, parents, children = runs_of(out)
    assert len(children) == 6  # 5 configurations + a second seed of the reference settings
    trials = optuna.load_study(study_name="smoke", storage=f"sqlite:///{out / 'optuna.db'}").trials
    assert_optuna_agrees_with_mlflow(client, children, trials)
    stopped = [c for c in children if c.data.tags["outcome"] == "stopped"]
    assert stopped, "ASHA stopped no trial: the test needs at least one"
    for run in stopped:
        epoch = int(run.data.metrics["epoch"])
        assert epoch < 4 and run.data.tags["stopped_at_epoch"] == str(epoch)
        assert not client.list_artifacts(run.info.run_id, "final_generators")  # never reached its final weights
    assert any(t.state == optuna.trial.TrialState.PRUNED and t.value is not None for t in trials)
    reference = [c for c in children if c.data.tags.get("baseline") == "true"]
    assert sorted(c.data.tags["seed"] for c in reference) == ["0", "1"]
    assert all(c.data.tags["outcome"] == "complete" for c in reference)  # ASHA never stops the noise floor
    assert {c.data.params["loss.lambda_id"] for c in reference} == {"5.0"}
    best = [c for c in children if c.data.tags.get("best") == "true"]
    assert len(best) == 1 and best[0].data.tags["outcome"] == "complete"
    report = run_cli("dashboards.report", "study=smoke", f"study.out_dir={out}", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    page = open(report.stdout.strip().splitlines()[-1]).read()
    assert "over 2 seeds of the reference settings" in page and "Stopped early by the scheduler" in page


def test_repeated_seeds_give_one_objective_everywhere(tmp_path):
    """study.seeds=2: a configuration is the unit. Optuna's value and intermediate values are the means over
    its seeds; the parent's best_objective, best=true, the registry and the report's leaderboard hold the
    same mean."""
    out = tmp_path / "seeds"
    result = run_cli("tuning.launch", "study=smoke", "study.confirm_top=0", f"study.out_dir={out}", "study.seeds=2", "study.num_samples=2",
                     *SMALL, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    client, parents, children = runs_of(out)
    assert len(children) == 4  # 2 configurations x 2 seeds
    study = optuna.load_study(study_name="smoke", storage=f"sqlite:///{out / 'optuna.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2
    by_config = {}
    for run in children:
        key = (run.data.params["loss.lambda_cyc"], run.data.params["loss.lambda_id"])
        by_config.setdefault(key, []).append(run.data.metrics["objective"])
    means = sorted(sum(v) / len(v) for v in by_config.values())
    assert sorted(t.value for t in complete) == pytest.approx(means, rel=1e-9)
    for trial in complete:  # the per-epoch mean over both seeds, at both evaluation epochs
        assert sorted(trial.intermediate_values) == [1, 2]
        assert trial.intermediate_values[2] == pytest.approx(trial.value, rel=1e-9)
    best_value = parents[0].data.metrics["best_objective"]
    assert best_value == pytest.approx(study.best_value, rel=1e-9) == pytest.approx(means[0], rel=1e-9)
    best = [c for c in children if c.data.tags.get("best") == "true"]
    assert len(best) == 1
    version = client.get_model_version_by_alias("catholic2gogh-smoke", "best")
    assert version.run_id == best[0].info.run_id and float(version.tags["objective"]) == pytest.approx(best_value)
    report = run_cli("dashboards.report", "study=smoke", f"study.out_dir={out}", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    page = open(report.stdout.strip().splitlines()[-1]).read()
    assert page.count("(2 seeds)") == 2 and f"<b>{best_value:.4g}</b>" in page  # ranked configurations


def test_eight_concurrent_trials_lose_no_metric_point_or_image(tmp_path):
    out = tmp_path / "many"
    result = run_cli("tuning.launch", "study=smoke", "study.confirm_top=0", f"study.out_dir={out}", "study.num_samples=8",
                     "study.max_concurrent=8", "ray.num_cpus=8", "trial.cpus=1", "train.threads=1", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    client, parents, children = runs_of(out)
    assert len(children) == 8 and all(c.info.status == "FINISHED" for c in children)
    # Ground truth: what each trial's engine wrote to its own metrics.jsonl.
    expected = {}
    for path in out.glob("trials/*/metrics.jsonl"):  # the engine's own, in each trial's folder
        records = [json.loads(line) for line in path.read_text().splitlines()]
        trial_id = path.parent.name  # the trial's key, its runs' trial_id tag
        expected[trial_id] = sum(1 for r in records for k in metric_names.ALL if k in r)
    assert len(expected) == 8
    for child in children:
        logged = sum(len(client.get_metric_history(child.info.run_id, k)) for k in metric_names.ALL)
        assert logged == expected[child.data.tags["trial_id"]]
        pngs = [a for a in client.list_artifacts(child.info.run_id, "images") if a.path.endswith(".png")]
        assert len(pngs) == 4  # 2 eval epochs x 2 directions


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def ray_processes(session_root):
    """Processes whose command line or open files are in a Ray session under `session_root`."""
    from tuning.run.reaper import session_processes
    return [pid for session in session_root.glob("session_2*") for pid in session_processes(str(session))]


def test_a_launcher_killed_while_its_ray_starts_leaves_no_ray_behind(tmp_path):
    """kill -9 of the launcher while `ray.init` is still starting Ray (its raylet has just started its agents;
    the launch has no record yet, so no later clean-up could find it): the reaper, started before Ray, ends
    every process of that session within seconds (issue 30, item 2: the DashboardAgent and RuntimeEnvAgent
    lived on 60-80 s; Ray's GCS and raylet end with the launcher by themselves)."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="rs", dir="/tmp"))
    proc = subprocess.Popen([sys.executable, "-m", "tuning.launch", "study=smoke", f"study.out_dir={tmp_path / 'out'}"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, RAY_TMPDIR=str(ray_tmp)))

    def agents_started():
        for pid in ray_processes(ray_tmp / "ray"):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() in ("ray::DashboardA", "ray::RuntimeEnv"):
                    return True
            except OSError:
                continue
        return False
    watcher = None
    try:
        wait_for(agents_started, 120, "the raylet's agents")
        # an operator follows the raylet's log: that `tail -f` is theirs, not Ray's, and must outlive the reaper
        log = next((ray_tmp / "ray").glob("session_2*/logs/raylet.out"))
        watcher = subprocess.Popen(["tail", "-f", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc.kill()
        proc.wait()
        wait_for(lambda: not ray_processes(ray_tmp / "ray"), 20, "every process of the killed launcher's Ray to end")
        time.sleep(1.0)  # the reaper's last looks
        assert watcher.poll() is None
    finally:
        for running in (proc, watcher):
            if running is not None and running.poll() is None:
                running.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_study_resumes_without_running_a_trial_twice(tmp_path, stop_signal):
    """SIGINT with both trials running: exit 130, nothing marked finished that did not finish (issue 21's
    first failure: exit 0, both runs FINISHED, last.pt deleted), then resume=true. SIGKILL of the launcher,
    which is also the MLflow writer: nothing can be marked, but its Ray ends with it; then a plain launch
    (a nightly schedule after a crash) runs the two unfinished trials first, then its own two. Either way no
    point is lost and no epoch logged twice; the study's storage is read, not Tune's files."""
    out = tmp_path / "resume"
    ray_tmp = Path(tempfile.mkdtemp(prefix="rk", dir="/tmp"))  # short: Ray's socket paths have a length limit
    # 96 images an epoch (smoke has 32): the signal comes after the first epoch, and three more epochs must
    # not fit between the signal and the stop on a fast machine (a trial that did would rightly finish)
    args = ["study=smoke", "study.confirm_top=0", f"study.out_dir={out}", "study.num_samples=2", "study.max_concurrent=2",
            "trial.cpus=1", "train.epochs=2", "train.decay_epochs=2", "data.synthetic_train_size=96"]
    env = dict(os.environ, RAY_TMPDIR=str(ray_tmp))
    # its own process group, signalled as a whole (what Ctrl+C in a terminal does; kill -9 as a process)
    proc = subprocess.Popen([sys.executable, "-m", "tuning.launch", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, process_group=0)
    try:
        wait_for(lambda: sum(c["epoch"] >= 1 for c in peek_runs(out / "mlflow.db")) >= 2, 300,
                 "both trials past their first epoch")
        if stop_signal == signal.SIGKILL:
            proc.send_signal(stop_signal)
        else:
            os.killpg(proc.pid, stop_signal)
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, parents, children = runs_of(out)
    assert len(children) == 2
    if stop_signal == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        # its Ray (GCS, raylet, agents, workers) ends with it: nothing of its session lives on
        wait_for(lambda: not ray_processes(ray_tmp / "ray"), 30, "the killed launcher's Ray to end")
    else:
        assert proc.returncode == 130, stderr[-3000:]
        # the hint names the study, where it lives and resume=true; the launch's other arguments are stored
        assert f"  python -m tuning.launch study=smoke study.out_dir={out} resume=true\n" in stderr
        assert not [r for r in parents + children if r.info.status == "RUNNING"]  # nothing left RUNNING
        assert parents[0].info.status == "KILLED"
        assert all(c.info.status == "KILLED" for c in children)  # neither had finished
        assert len(list((out / "trials").glob("*/checkpoints/last.pt"))) == 2  # nothing compacted
    trials = optuna.load_study(study_name="smoke", storage=f"sqlite:///{out / 'optuna.db'}").trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.RUNNING] * 2  # told nothing: to be continued
    plain = stop_signal == signal.SIGKILL
    watcher = None
    if plain:  # an operator reads the crashed launch's Ray log while the next launch cleans up after it
        log = next((ray_tmp / "ray").glob("session_2*/logs/raylet.out"))
        watcher = subprocess.Popen(["tail", "-f", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        again = run_cli("tuning.launch", *(args if plain else ["study=smoke", f"study.out_dir={out}", "resume=true"]),
                        timeout=600, env={"RAY_TMPDIR": str(ray_tmp)})
        assert watcher is None or watcher.poll() is None  # the clean-up ended Ray's processes only
    finally:
        if watcher is not None:
            watcher.kill()
            watcher.wait()
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "2 trials" in again.stdout  # study.num_samples=2 came back from the stored arguments
    client, parents, children = runs_of(out)
    oldest_first = sorted(parents, key=lambda r: r.info.start_time)
    assert [p.info.status for p in oldest_first] == (["KILLED", "FINISHED"] if plain else ["FINISHED"])
    assert len(children) == (4 if plain else 2) and len({c.data.tags["trial_id"] for c in children}) == len(children)
    assert all(c.info.status == "FINISHED" for c in children)
    if plain:
        assert "2 unfinished trial(s) of an earlier launch run first" in again.stdout
        assert "continues its history smoke (2 trial(s) so far; its answer so far: none yet)" in again.stdout
    else:
        assert "study smoke: resumes the interrupted launch smoke-" in again.stdout
    for child in children:  # every epoch exactly once, each interrupted trial going on from its checkpoint
        assert [m.step for m in client.get_metric_history(child.info.run_id, "epoch")] == [1, 2, 3, 4]
        assert (out / "trials" / child.data.tags["trial_id"] / "resumes.txt").is_file() == (
            child.info.run_name.split()[0] in ("t0001", "t0002"))
    trials = optuna.load_study(study_name="smoke", storage=f"sqlite:///{out / 'optuna.db'}").trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * len(children)
    # the killed launch's staging in its Ray session folder is gone (the resume cleaned up after it)
    assert not [p for p in ray_tmp.rglob("*") if p.suffix == ".pt" or "checkpoint_" in p.name]
    shutil.rmtree(ray_tmp, ignore_errors=True)


def test_a_second_launch_continues_the_study(tmp_path):
    """What a nightly schedule does: launch again on the same storage; trials add up, nothing reruns."""
    out = tmp_path / "nightly"
    args = ["study=smoke", "study.confirm_top=0", f"study.out_dir={out}", "study.num_samples=2", *SMALL]
    said = []
    for night in range(2):
        result = run_cli("tuning.launch", *args, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        said.append(result.stdout)
    trials = optuna.load_study(study_name="smoke", storage=f"sqlite:///{out / 'optuna.db'}").trials
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4  # the baseline ran once, no config twice
    client, parents, children = runs_of(out)
    assert len(parents) == 2 and len(children) == 4
    first, second = sorted(parents, key=lambda r: r.info.start_time)
    assert second.data.tags["previous_parent_run_id"] == first.info.run_id
    assert first.data.tags["next_parent_run_id"] == second.info.run_id
    assert sum(c.data.tags["mlflow.parentRunId"] == second.info.run_id for c in children) == 2
    # one history: names go on (t0003 after t0002), exactly one best=true over both launches, and the
    # registry's `best` alias names it; a version is added only by a launch that improved on the best
    by_launch = {p.info.run_id: sorted(c.info.run_name.split()[0] for c in children
                                       if c.data.tags["mlflow.parentRunId"] == p.info.run_id) for p in (first, second)}
    assert by_launch == {first.info.run_id: ["t0001", "t0002"], second.info.run_id: ["t0003", "t0004"]}
    best = [c for c in children if c.data.tags.get("best") == "true"]
    assert len(best) == 1 and best[0].data.metrics["objective"] == min(c.data.metrics["objective"] for c in children)
    assert sorted(c.data.tags["rank"] for c in children) == ["01", "02", "03", "04"]  # over both launches, once each
    assert best[0].data.tags["rank"] == "01"
    first_best = min((c for c in children if c.data.tags["mlflow.parentRunId"] == first.info.run_id),
                     key=lambda c: c.data.metrics["objective"])
    versions = client.search_model_versions("name = 'catholic2gogh-smoke'")
    assert len(versions) == (1 if best[0].info.run_id == first_best.info.run_id else 2)
    # each launch's first line says what it is; the second names the history's trials and its answer so far
    assert "study smoke: starts a new study; 2 trials" in said[0]
    so_far = f"{first_best.data.tags['trial_id']}, fid={first_best.data.metrics['objective']:.4g}"
    assert f"study smoke: continues its history smoke (2 trial(s) so far; its answer so far: {so_far}); " in said[1]
    assert client.get_model_version_by_alias("catholic2gogh-smoke", "best").run_id == best[0].info.run_id
    # a continuation under other settings would mix incomparable trials: refused, naming the key, nothing run
    changed = run_cli("tuning.launch", *args, "model.ngf=12", timeout=120)
    assert changed.returncode == 2 and changed.stderr.count("\n") == 1, changed.stderr
    assert "model.ngf (8 -> 12)" in changed.stderr and "study.new_history=true" in changed.stderr
    assert len(optuna.load_study(study_name="smoke", storage=f"sqlite:///{out / 'optuna.db'}").trials) == 4
    # ... unless the user starts a new history: a new Optuna study and parent run, linked to the old ones
    renewed = run_cli("tuning.launch", *args, "model.ngf=12", "study.new_history=true", "study.num_samples=1",
                      timeout=600)
    assert renewed.returncode == 0, renewed.stdout[-3000:] + renewed.stderr[-3000:]
    assert "a new history, smoke#2" in renewed.stdout
    storage = f"sqlite:///{out / 'optuna.db'}"
    assert len(optuna.load_study(study_name="smoke", storage=storage).trials) == 4  # the old history as it was
    assert len(optuna.load_study(study_name="smoke#2", storage=storage).trials) == 1
    client, parents, children = runs_of(out)
    newest = max(parents, key=lambda r: r.info.start_time)
    assert newest.data.tags["history"] == "smoke#2" and newest.data.tags["previous_history"] == "smoke"
    assert newest.data.tags["previous_parent_run_id"] == second.info.run_id
    fresh = [c for c in children if c.data.tags["mlflow.parentRunId"] == newest.info.run_id]
    assert [c.info.run_name.split()[0] for c in fresh] == ["t0005"] and fresh[0].data.tags["history"] == "smoke#2"
    best = [c for c in children if c.data.tags.get("best") == "true"]
    assert [b.info.run_id for b in best] == [fresh[0].info.run_id]  # ranked within the new history only
    from dashboards.runs import load_runs
    shown = load_runs("smoke", f"sqlite:///{out / 'mlflow.db'}")
    assert shown.history == "smoke#2" and list(shown.table["run_id"]) == [fresh[0].info.run_id]
    # the next scheduled launch goes on with the newest history and its settings
    again = run_cli("tuning.launch", *args, timeout=120)
    assert again.returncode == 2 and "model.ngf (12 -> 8)" in again.stderr, again.stderr
    # another folder (another storage) on this study's MLflow store, other settings: refused before anything
    # is created, naming both storages; never one best=true over both (issue 21, item 5)
    other = tmp_path / "other"
    elsewhere = run_cli("tuning.launch", "study=smoke", f"study.out_dir={other}", f"mlflow.tracking_uri=sqlite:///{out / 'mlflow.db'}",
                        "model.ngf=12", timeout=120)
    assert elsewhere.returncode == 2 and elsewhere.stderr.count("\n") == 1, elsewhere.stderr
    assert f"{out / 'optuna.db'}" in elsewhere.stderr and f"{other / 'optuna.db'}" in elsewhere.stderr
    assert "mlflow.experiment=NAME" in elsewhere.stderr and not (other / "optuna.db").exists()


def test_a_race_interrupted_mid_look_resumes_where_it_stood(tmp_path):
    """Ctrl+C while the confirmation race's first look runs (issue 29, item 2): exit 130; resume=true goes on
    with the same race (the round's stored design), continues the interrupted confirmation trials from their
    checkpoints, runs every (configuration, fresh seed) once, and ends with one answer from the race."""
    out = tmp_path / "race"
    args = ["study=smoke", f"study.out_dir={out}", *SMALL, "train.epochs=2", "train.decay_epochs=2",
            "data.synthetic_train_size=96"]
    proc = subprocess.Popen([sys.executable, "-m", "tuning.launch", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:  # the 4 search trials ended, two confirmation trials past their first epoch
        wait_for(lambda: len(runs := peek_runs(out / "mlflow.db")) >= 6 and sum(
            r["status"] == "FINISHED" for r in runs) >= 4 and sum(r["epoch"] >= 1 and r["status"] == "RUNNING"
                                                                   for r in runs) >= 1, 600,
                 "a confirmation trial past its first epoch")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    interrupted = {c.data.tags["trial_id"] for c in runs_of(out)[2]
                   if c.data.tags.get("stage") == "confirm" and c.info.status == "KILLED"}
    assert interrupted, "the signal should have landed inside the race"
    again = run_cli("tuning.launch", "study=smoke", f"study.out_dir={out}", "resume=true", timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    client, parents, children = runs_of(out)
    assert all(c.info.status == "FINISHED" for c in children)
    confirmation = [c for c in children if c.data.tags.get("stage") == "confirm"]
    pairs = [(c.data.tags.get("baseline") == "true", c.data.tags["seed"]) for c in confirmation]
    assert len(pairs) == len(set(pairs))  # every configuration on every fresh seed exactly once
    for c in confirmation:  # every epoch once; the interrupted ones went on from their checkpoints
        assert [m.step for m in client.get_metric_history(c.info.run_id, "epoch")] == [1, 2, 3, 4]
        assert (out / "trials" / c.data.tags["trial_id"] / "resumes.txt").is_file() == (c.data.tags["trial_id"] in interrupted)
    assert len({c.data.tags["race"] for c in confirmation}) == 1  # one race, one design
    best = [c for c in children if c.data.tags.get("best") == "true"]
    assert len(best) == 1 and best[0].data.tags.get("stage") == "confirm"
    assert "the study's answer, from the confirmation race: " in again.stdout
