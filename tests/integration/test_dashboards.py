"""Reports from a real MLflow store written by the smoke study; the MLflow UI checked in headless Chromium."""
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from tests.helpers import run_cli


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """A finished smoke study in <tmp>/runs/studies/smoke (the default layout, relative to <tmp>)."""
    home = tmp_path_factory.mktemp("dash")
    out = home / "runs" / "studies" / "smoke"
    result = run_cli("tuning.launch", "study=smoke", f"study.out_dir={out}", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return home, out


def best_objectives(out):
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("smoke")
    children = [r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    return {r.info.run_name: min(m.value for m in client.get_metric_history(r.info.run_id, "fid")) for r in children}


def test_report_sections_and_numbers(smoke):
    home, out = smoke
    result = run_cli("dashboards.report", "study=smoke", f"study.out_dir={out}", cwd=home)
    assert result.returncode == 0, result.stderr[-3000:]
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path == out / "report" / "report.html" and path.is_file()
    page = path.read_text()
    for section in ("Leaderboard", "Effect of each searched setting", "Parameter importance and optimisation history",
                    "Quality against cost", "(reference settings)"):
        assert section in page, section
    assert "No Optuna storage" not in page and "not available" not in page  # importance was computed
    assert {p.name for p in (out / "report" / "figures").iterdir()} >= {"effect_0.png", "effect_1.png", "history.png",
                                                                         "importance.png", "pareto.png"}
    # every leaderboard row shows the trial's best fid as recorded in MLflow, in ranked order
    rows = re.findall(r"<td class=l>(t\d{4} [^<]*?)(?: <b>\(reference settings\)</b>)?</td>.*?<td><b>([^<]+)</b></td>", page)
    expected = best_objectives(out)
    assert len(rows) == 4
    for name, shown in rows:
        assert float(shown) == pytest.approx(expected[name], rel=1e-3)
    assert [float(v) for _, v in rows] == sorted(float(v) for _, v in rows)
    assert page.count('<img class="grid"') == 4
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("smoke")
    parent = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("kind") == "study"][0]
    assert "report/report.html" in [a.path for a in client.list_artifacts(parent.info.run_id, "report")]


def make_store(tmp_path, study, rows, searched="arm"):
    """A study store written straight through MLflow: rows of (value of the searched key, tags, fid history)."""
    out = tmp_path / "runs" / "studies" / study
    out.mkdir(parents=True)
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.create_experiment(study, artifact_location=(out / "art").as_uri())
    parent = client.create_run(exp, run_name=f"study {study}", tags={"kind": "study", "study": study})
    client.log_param(parent.info.run_id, "study.metric", "fid")
    client.log_param(parent.info.run_id, "search", f'["{searched}"]')
    for i, (arm, tags, history) in enumerate(rows):
        run = client.create_run(exp, run_name=f"t{i:04d} {searched}={arm}",
                                tags={"mlflow.parentRunId": parent.info.run_id, searched: arm, "trial_id": f"x{i}", **tags})
        for step, value in enumerate(history, 1):
            client.log_metric(run.info.run_id, "fid", value, step=step)
            client.log_metric(run.info.run_id, "time_s", 10.0 * step, step=step)
        client.set_terminated(run.info.run_id)
    client.set_terminated(parent.info.run_id)
    return out


def test_mixed_provenance_is_never_ranked_together(tmp_path):
    tiny = {"dataset": "synthetic", "eval.backbone": "tiny", "eval.weights_sha256": "aa"}
    inception = {"dataset": "synthetic", "eval.backbone": "inception", "eval.weights_sha256": "bb"}
    out = make_store(tmp_path, "mixed", [("a", tiny, [5, 4]), ("b", tiny, [6, 5]), ("c", inception, [90, 80]),
                                        ("d", inception, [95, 85])])
    result = run_cli("dashboards.report", "study=mixed", f"study.out_dir={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    page = Path(result.stdout.strip().splitlines()[-1]).read_text()
    assert "2 different provenances" in page and "ranked on its own" in page
    assert page.count("<table>") == 2  # one leaderboard per provenance, no joint ranking
    assert "Quality against cost" not in page  # a Pareto view would mix them too


def test_ablation_verdicts_against_hand_computation():
    import pandas as pd
    from dashboards.stats import arm_table, summarize, verdict
    table = pd.DataFrame({"arm": ["full"] * 3 + ["no_identity"] * 3, "objective": [10, 12, 11, 18, 19, 20]})
    arms = arm_table(table, ["arm"]).set_index("arm")
    assert arms.loc["full", "mean"] == pytest.approx(11.0) and arms.loc["full", "std"] == pytest.approx(1.0)
    assert arms.loc["no_identity", "mean"] == pytest.approx(19.0) and arms.loc["no_identity", "n"] == 3
    assert summarize([10, 12, 11])["ci95"] == pytest.approx(4.302653 * 1 / math.sqrt(3), rel=1e-5)
    # Welch: diff 8, se sqrt(1/3 + 1/3), dof 4 -> half width t(0.975, 4) * se
    half = 2.776445 * math.sqrt(2 / 3)
    text = verdict(arms.loc["no_identity"], arms.loc["full"], "min", "FID", "no identity")
    assert text == f"no identity: FID +8 ± {half:.2g}, worse, 3 seeds"
    same = verdict({"mean": 11.2, "std": 1.0, "n": 3}, arms.loc["full"], "min", "FID", "x")
    assert "no clear difference" in same


def test_ablation_section_in_a_report(tmp_path):
    tags = {"dataset": "synthetic", "eval.backbone": "tiny"}
    rows = [(arm, {**tags, "seed": str(s)}, [value]) for arm, values in
            {"full": [10, 12, 11], "no_identity": [18, 19, 20]}.items() for s, value in enumerate(values)]
    out = make_store(tmp_path, "abl", rows)
    result = run_cli("dashboards.report", "study=abl", f"study.out_dir={out}", cwd=tmp_path)
    page = Path(result.stdout.strip().splitlines()[-1]).read_text()
    assert "Ablation: each arm over its seeds" in page and "19 ± 1" in page
    assert "no identity: FID +8 ± 2.3, worse, 3 seeds" in page


def test_compare_and_best(smoke, tmp_path):
    home, out = smoke
    make_store(home, "other", [("a", {"dataset": "synthetic", "eval.backbone": "inception"}, [70, 60])])
    result = run_cli("dashboards.compare", "study=smoke", "study=other", f"out={tmp_path}", cwd=home)
    assert result.returncode == 0, result.stderr[-3000:]
    page = Path(result.stdout.strip().splitlines()[-1]).read_text()
    assert "smoke" in page and "other" in page and "different provenance" in page
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (50, 40), (200, 120, 40)).save(photos / "my campus.jpg")
    painted = tmp_path / "painted"
    result = run_cli("dashboards.best", "study=smoke", f"study.out_dir={out}", f"input={photos}", f"output={painted}",
                     cwd=home)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "direction b2a" in result.stdout
    assert Image.open(painted / "my campus.jpg").size == (50, 40)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BROWSER = shutil.which("chromium") and shutil.which("chromedriver")


@pytest.mark.skipif(not BROWSER, reason="Chromium and ChromeDriver are not installed (Debian: chromium chromium-driver)")
def test_mlflow_ui_shows_the_study_in_a_real_browser(smoke, tmp_path):
    pytest.importorskip("selenium", reason="selenium is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _, out = smoke
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                               f"sqlite:///{out / 'mlflow.db'}", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"], stdout=open(tmp_path / "server.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)  # its own process group: we stop exactly what we started
    driver = None
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
                time.sleep(1)
        client = MlflowClient(url)
        exp = client.get_experiment_by_name("smoke")
        runs = client.search_runs([exp.experiment_id])
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        options = Options()
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1600,1000",
                     f"--user-data-dir={tmp_path / 'profile'}"):
            options.add_argument(flag)
        options.binary_location = shutil.which("chromium")
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        wait = WebDriverWait(driver, 60)
        driver.get(f"{url}/#/experiments/{exp.experiment_id}/runs")
        parent = wait.until(ec.visibility_of_element_located((By.XPATH, "//a//*[text()='study smoke']")))
        parent.find_element(By.XPATH, "./ancestor::*[@role='gridcell'][1]//button").click()  # expand the nested trials
        for child in children:
            wait.until(ec.visibility_of_element_located((By.XPATH, f"//*[text()='{child.info.run_name}']")))
        driver.save_screenshot(str(tmp_path / "experiment.png"))
        image = [a.path for a in client.list_artifacts(children[0].info.run_id, "images") if a.path.endswith(".png")][0]
        driver.get(f"{url}/#/experiments/{exp.experiment_id}/runs/{children[0].info.run_id}/artifacts/{image}")
        grid = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "img[src^='blob:']")))
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", grid))
        width = driver.execute_script("return arguments[0].naturalWidth", grid)
        assert width == 2 + 3 * 34  # the smoke grid: 3 images of 32 px with 2 px padding
        driver.save_screenshot(str(tmp_path / "sample_grid.png"))
        assert (tmp_path / "experiment.png").stat().st_size > 10_000
    finally:
        if driver is not None:
            driver.quit()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def test_painters_get_one_row_each_and_no_joint_ranking(tmp_path):
    rows = [(painter, {"dataset": painter, "eval.backbone": "tiny", "seed": str(seed)}, [value])
            for painter, values in {"vangogh2photo": [50, 54], "monet2photo": [70, 72]}.items()
            for seed, value in enumerate(values)]
    out = make_store(tmp_path, "painters", rows, searched="data.name")
    result = run_cli("dashboards.report", "study=painters", f"study.out_dir={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    page = Path(result.stdout.strip().splitlines()[-1]).read_text()
    assert "<h2>Painters</h2>" in page
    assert "<td class=l>vangogh2photo</td><td>2</td><td>52 ± 2.828</td><td>50</td>" in page
    assert "<td class=l>monet2photo</td><td>2</td><td>71 ± 1.414</td><td>70</td>" in page
    assert "2 different provenances" in page  # each painter's FID uses its own real paintings
