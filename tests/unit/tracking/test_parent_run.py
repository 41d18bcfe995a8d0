"""The study's parent run in a real SQLite MLflow store."""
import pytest
from mlflow.tracking import MlflowClient

from tuning.tracking.parent_run import open_parent_run
from tuning.study.loading import load_study


def test_an_explicit_sqlite_store_keeps_the_artifacts_in_the_study_folder(tmp_path, monkeypatch):
    """Not in ./mlruns of whatever folder the launcher was started from (issue 14, item 7)."""
    elsewhere = tmp_path / "started-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "study"
    uri = f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}"
    (tmp_path / "shared").mkdir()
    study = load_study("smoke", [f"study.out_dir={out}", f"mlflow.tracking_uri={uri}"])
    client = MlflowClient(uri)
    experiment_id, run_id = open_parent_run(client, study, resume=False)
    assert client.get_experiment(experiment_id).artifact_location == (out / "mlartifacts").as_uri()
    assert client.get_run(run_id).info.artifact_uri.startswith((out / "mlartifacts").as_uri())
    assert not (elsewhere / "mlruns").exists()


def test_the_ablation_report_judges_each_arm_against_the_comparator_the_study_named(tmp_path):
    """The study's `compare:` travels with the parent run to the report, which pairs each arm with it, says
    how many seeds a verdict rests on and corrects the arms as one family."""
    from dashboards.ablation import ablation_section
    from dashboards.runs import load_runs
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = load_study("loss_ablation", [f"study.out_dir={tmp_path}", f"mlflow.tracking_uri={uri}"])
    client = MlflowClient(uri)
    experiment_id, parent = open_parent_run(client, study, resume=False)
    values = {"full_lsgan": [10.0, 11.0, 12.0], "no_identity_lsgan": [12.0, 13.1, 13.9],
              "gan_alone_lsgan": [20.0, 21.2, None]}  # gan_alone's seed 2 did not finish
    for arm, per_seed in values.items():
        for seed, value in enumerate(per_seed):
            run = client.create_run(experiment_id, run_name=f"arm={arm} seed={seed}",
                                    tags={"mlflow.parentRunId": parent, "study": study.name, "arm": arm,
                                          "seed": str(seed), "outcome": "complete" if value else "failed"})
            if value:
                client.log_metric(run.info.run_id, "objective", value)
            client.set_terminated(run.info.run_id, "FINISHED" if value else "FAILED")
    runs = load_runs(study.name, uri)
    assert runs.comparators == study.compare
    page = ablation_section(runs.complete(), runs.searched, "min", runs.metric, str, runs.comparators)
    # gan_alone has no verdict (2 pairs), so the family is no_identity's comparison alone
    assert "Against the arm one term away, seed by seed (a single comparison, no correction needed)" in page
    assert "no_identity_lsgan vs full_lsgan: FID_B2A +2" in page and "(paired over 3 seeds)" in page
    assert ("gan_alone_lsgan vs no_identity_lsgan: FID_B2A" in page and "not enough seeds for a verdict (2 shared, "
            "at least 3 needed; 1 seed(s) left out: finished in only one of the two arms)" in page)
    assert "gan_alone_lsgan vs full_lsgan" not in page  # two terms away: never compared


def test_when_no_candidate_reached_the_race_the_answer_is_the_reference_and_what_it_could_see(tmp_path, capsys):
    """The null tuner check (loss.lambda_id fixed at 5): ASHA stopped every candidate behind the reference's
    seeds, so nothing was raced. The launcher says the reference settings are the answer and the smallest
    gain the race would have detected, not 'best trial: <a lucky reference seed>'."""
    from tuning.run.closing import report_best
    from tuning.state.storage import optuna_storage
    from tuning.state.trial_records import TrialRecord, TrialRecords
    out = tmp_path / "null"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = load_study("tuner_check", ["loss.lambda_id=5", f"study.out_dir={out}", f"mlflow.tracking_uri={uri}"])
    out.mkdir()
    records = TrialRecords(optuna_storage(study.storage_url), study.name)
    for i, v in enumerate((2.45, 2.32, 2.10), 1):  # the reference's three seeds: sigma 0.176
        records.put(TrialRecord(f"t{i:04d}", "l", "search", {"loss.lambda_cyc": 10.0}, status="complete",
                                values={"8": v}))
    client = MlflowClient(uri)
    experiment_id, parent = open_parent_run(client, study, resume=False)
    child = client.create_run(experiment_id, run_name="t0003 lcyc=10 seed=2",
                              tags={"mlflow.parentRunId": parent, "baseline": "true", "stage": "search"})
    report_best(study, client, parent, (child.info.run_id, 2.10), 0)
    printed = capsys.readouterr().out
    assert "the study's answer: the reference settings. No other configuration reached its final evaluation" in printed
    assert "its race would detect a gain of" in printed and "fid or more (80 % power)" in printed
    assert "best trial:" not in printed and "whether it beats" not in printed


@pytest.mark.parametrize("data, noise_note", [([], True), (["data.name=folder", "data.root=/photos/campus"], False)],
                         ids=["synthetic", "real images"])
def test_the_closing_lines_fit_the_answer_and_the_data(tmp_path, capsys, data, noise_note):
    """After a smoke study the note says its 2 epochs paint noise; after a study on a folder of real images it
    does not (issue 31, item 3). An answer that is a search-stage candidate sends the reader to the report for
    whether it beats the reference; an answer that is the reference does not."""
    from tuning.run.closing import report_best
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = load_study("smoke", [f"study.out_dir={tmp_path / 'out'}", f"mlflow.tracking_uri={uri}", *data])
    client = MlflowClient(uri)
    experiment_id, parent = open_parent_run(client, study, resume=False)
    candidate = client.create_run(experiment_id, run_name="t0002 lcyc=6.47 lid=7.15",
                                  tags={"mlflow.parentRunId": parent, "stage": "search"})
    reference = client.create_run(experiment_id, run_name="t0001 lcyc=10 lid=5",
                                  tags={"mlflow.parentRunId": parent, "stage": "search", "baseline": "true"})
    report_best(load_study("smoke", [f"mlflow.tracking_uri={uri}", "study.confirm_top=0", *data]), client, parent,
                (candidate.info.run_id, 4.15), 0)
    printed = capsys.readouterr().out
    assert "best trial: t0002" in printed and "whether it beats the reference settings beyond noise" in printed
    assert ("epochs paint noise" in printed) == noise_note
    report_best(study, client, parent, (reference.info.run_id, 4.17), 0)
    printed = capsys.readouterr().out
    assert "the study's answer: the reference settings" in printed and "whether it beats" not in printed
    assert ("epochs paint noise" in printed) == noise_note


def test_the_study_run_carries_its_answer_in_brief_where_mlflow_shows_it_first(tmp_path):
    """The `answer` tag on the study's run (MLflow 3.17 shows tags on the run page's first screen, its
    description below the fold): the run marked best, its value, and whether fresh seeds confirmed it."""
    from tuning.tracking.parent_run import mark_best
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = load_study("smoke", [f"study.out_dir={tmp_path}", f"mlflow.tracking_uri={uri}", "study.confirm_top=0",
                                 "mlflow.register_best=false"])
    client = MlflowClient(uri)
    experiment_id, parent = open_parent_run(client, study, resume=False)

    def trial(name, value, reference):
        run = client.create_run(experiment_id, run_name=name, tags={
            "mlflow.parentRunId": parent, "study": study.name, "trial_id": name.split()[0], "outcome": "complete",
            "stage": "search", **({"baseline": "true"} if reference else {})})
        client.log_metric(run.info.run_id, "objective", value)
        client.set_terminated(run.info.run_id, "FINISHED")

    for seed, value in enumerate((5.0, 5.1, 4.9)):
        trial(f"t000{seed + 1} reference seed={seed}", value, reference=True)
    trial("t0004 lcyc=7.1 lid=3.2", 5.3, reference=False)
    mark_best(client, study, parent, study.name)
    assert client.get_run(parent).data.tags["answer"] == (
        "t0003 reference seed=2, fid 4.9: the reference settings: no trial did better")
    trial("t0005 lcyc=6.5 lid=7.1", 4.25, reference=False)
    mark_best(client, study, parent, study.name)
    assert client.get_run(parent).data.tags["answer"] == (
        "t0005 lcyc=6.5 lid=7.1, fid 4.25: best of the search stage, not confirmed on fresh seeds")


def test_the_answer_in_brief_says_what_the_confirmation_race_found():
    from types import SimpleNamespace

    from tuning.results.race import RaceResult
    from tuning.tracking.study_note import answer_in_brief

    def run(name, reference):
        return SimpleNamespace(info=SimpleNamespace(run_name=name), data=SimpleNamespace(
            tags={"baseline": "true"} if reference else {}))
    confirmed = RaceResult("confirmed", 2, [11, 12, 13, 14, 15, 16], None)
    assert answer_in_brief("fid", 4.2031, run("t0005 lcyc=6.5", False), confirmed) == (
        "t0005 lcyc=6.5, fid 4.203: confirmed better than the reference settings on 6 fresh seeds")
    not_shown = RaceResult("not shown", 3, [11, 12, 13], None)
    assert answer_in_brief("fid", 4.278, run("t0007 reference", True), not_shown) == (
        "t0007 reference, fid 4.278: the reference settings: no candidate was shown better on fresh seeds")


def test_the_mlflow_view_shows_each_ranked_run_rounded_and_the_answer_with_the_value_the_study_reports(tmp_path):
    """MLflow 3.17 shows a metric's every digit, cut at the column's width. The study's view therefore opens on
    tags a person reads: each ranked run's value to 4 significant digits under the metric's name (the answer's
    run: the value the study reports for it), the searched values to 3 under their short names; the exact
    metrics follow (issue 31, item 2)."""
    import json

    from tuning.tracking.mlflow_writer import MlflowTracker
    from tuning.tracking.parent_run import mark_best
    from tuning.tracking.study_note import runs_view
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = load_study("smoke", [f"study.out_dir={tmp_path}", f"mlflow.tracking_uri={uri}", "study.confirm_top=0",
                                 "mlflow.register_best=false"])
    client = MlflowClient(uri)
    experiment_id, parent = open_parent_run(client, study, resume=False)
    tracker = MlflowTracker(study, study.name, uri, experiment_id, parent)
    ids = {}
    for key, lcyc, value in (("t0001", 10.0, 5.0123456), ("t0002", 6.4660932, 4.98765432), ("t0003", 3.3, 7.5)):
        ids[key] = tracker.create_run(key, {"loss.lambda_cyc": lcyc, "loss.lambda_id": 5.0})
        client.set_tag(ids[key], "outcome", "complete" if key != "t0003" else "failed")
        client.log_metric(ids[key], "objective", value)
    mark_best(client, study, parent, study.name)
    tags = {key: client.get_run(run_id).data.tags for key, run_id in ids.items()}
    assert tags["t0002"]["rank"] == "01" and tags["t0002"]["fid"] == "4.988" and tags["t0002"]["lcyc"] == "6.47"
    assert tags["t0001"]["rank"] == "02" and tags["t0001"]["fid"] == "5.012" and tags["t0001"]["lid"] == "5"
    assert "rank" not in tags["t0003"] and "fid" not in tags["t0003"]  # failed: not ranked, no value shown
    _, state = runs_view(study)
    columns = json.loads(state)["columnOrder"]
    assert columns[:6] == ["attributes.`Run Name`", "tags.`rank`", "tags.`stage`", "tags.`fid`", "tags.`best`",
                           "tags.`lcyc`"]
    assert columns.index("tags.`outcome`") < columns.index("metrics.`answer_objective`")  # exact values after
