"""The study's parent run in MLflow (SPEC §5): opened (or found again) by the launcher before the trials,
and closed after them: child runs left RUNNING are marked, the best complete trial is tagged and its final
generators registered. The per-trial child runs are written by `tracking.MlflowTracker`.
"""
from __future__ import annotations

import json
import math

from mlflow.entities import Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from cyclegan.metric_names import standard_error_of
from tuning.redact import redact
from tuning.results.noise import NoiseModel
from tuning.results.objective import OBJECTIVE, OUTCOME
from tuning.results.race_design import design_of, race_of
from tuning.results.run_layout import (
    ANSWER_VALUE,
    GENERATORS,
    TAG_ANSWER,
    TAG_BEST,
    TAG_HISTORY,
    TAG_KIND,
    TAG_RACE,
    TAG_RANK,
    TAG_ROUND,
    TAG_SEED,
    TAG_STAGE,
    TAG_STUDY,
    TAG_TRIAL,
    history_of,
    is_reference_run,
)
from tuning.results.seeds import configuration_key, configuration_scores
from tuning.study.study import Study
from tuning.tracking.mlflow_writer import BEHIND, git_commit
from tuning.tracking.study_note import answer_in_brief, runs_view, study_note

BEST_ALIAS = "best"  # the registry alias of the study's best generators (dashboards.best paints with it)


def child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list:
    return client.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              max_results=10000)


def study_trial_runs(client: MlflowClient, experiment_id: str, study_name: str) -> list:
    """The trial runs of every launch of the study (the parent runs, kind=study, left out)."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.{TAG_STUDY} = '{study_name}'", max_results=50000)
    return [run for run in runs if run.data.tags.get(TAG_KIND) != "study"]


def close_open_runs(client: MlflowClient, experiment_id: str, study_name: str, parent_run_id: str,
                    status: str = "KILLED") -> int:
    """Mark the study's runs still RUNNING (an interrupted launch) so that no run is left RUNNING: this
    launch's trial runs, those of earlier launches whose trials it ran again, and the parent runs of
    launchers killed outright (the study's lock is held: no other launch of it runs now)."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.{TAG_STUDY} = '{study_name}' and attributes.status = 'RUNNING'",
                              max_results=50000)
    open_runs = [r for r in runs if r.info.run_id != parent_run_id]
    for run in open_runs:
        client.set_terminated(run.info.run_id, status=status)
    return len(open_runs)


def trial_objective(run) -> float | None:
    """A child run's objective: its latest `objective` (tuning/results/objective.py), None if it never reported."""
    value = run.data.metrics.get(OBJECTIVE)
    return value if value is not None and math.isfinite(value) else None


def history_so_far(client: MlflowClient, experiment_id: str, study: Study, history: str) -> tuple[int, str | None]:
    """What a continuing launch's first line says: the trials the study's current history holds in MLflow, and
    its answer so far ("t0003, fid=4.278": the run marked best=true, with the value the launch that marked it
    logged; the mean over fresh seeds when a confirmation race chose it), None before any launch ended."""
    runs = [r for r in study_trial_runs(client, experiment_id, study.name)
            if history_of(r, study.name) == history]
    trials = {r.data.tags.get(TAG_TRIAL) for r in runs if r.data.tags.get(TAG_STAGE, "search") == "search"} - {None}
    best = next((r for r in runs if r.data.tags.get(TAG_BEST) == "true"), None)
    if best is None:
        return len(trials), None
    marked = client.search_runs([experiment_id], filter_string=f"tags.best_run_id = '{best.info.run_id}'",
                                order_by=["attributes.start_time DESC"], max_results=1)
    value = marked[0].data.metrics.get(f"best_{OBJECTIVE}") if marked else trial_objective(best)
    name = "the reference settings" if is_reference_run(best) else best.data.tags.get(TAG_TRIAL, best.info.run_name)
    shown = f", {study.launch.study.metric}={value:.4g}" if value is not None else ""
    return len(trials), f"{name}{shown}"


def open_parent_run(client: MlflowClient, study: Study, resume: bool, history: str | None = None) -> tuple[str, str]:
    """(experiment_id, parent_run_id): the study's experiment and its parent run (reused on resume), tagged
    with the launch's `history` (the study's first, named after it, by default)."""
    history = history or study.name
    experiment = client.get_experiment_by_name(study.experiment)
    if experiment is None:
        # A local store (the default, or an explicit sqlite:///...) keeps the study's artifacts in its out_dir,
        # never in ./mlruns of whatever folder the launcher was started from; a server stores its own.
        server = study.tracking_uri.startswith(("http://", "https://", "databricks"))
        artifacts = None if server else (study.out_dir / "mlartifacts").as_uri()
        experiment_id = client.create_experiment(study.experiment, artifact_location=artifacts)
    else:
        experiment_id = experiment.experiment_id
    # MLflow 3's UI opens GenAI experiments on a traces overview; ours are model training: show the runs.
    client.set_experiment_tag(experiment_id, "mlflow.experimentKind", "custom_model_development")
    client.set_experiment_tag(experiment_id, *runs_view(study))  # the runs table the printed address opens
    if resume:
        parents = client.search_runs([experiment_id], filter_string=f"tags.{TAG_STUDY} = '{study.name}' and tags.{TAG_KIND} = 'study'",
                                     order_by=["attributes.start_time DESC"], max_results=1)
        if parents:
            run_id = parents[0].info.run_id
            client.update_run(run_id, status="RUNNING")
            client.set_tag(run_id, "resumed", "true")
            return experiment_id, run_id
    earlier = client.search_runs([experiment_id], filter_string=f"tags.{TAG_STUDY} = '{study.name}' and tags.{TAG_KIND} = 'study'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    tags = {TAG_STUDY: study.name, TAG_KIND: "study", TAG_HISTORY: history, "git_commit": git_commit(),
            "mlflow.note.content": study.description, "description": study.description[:4900]}
    if earlier:  # a continuation (e.g. tonight's scheduled launch), or a new history: link it to the last launch
        tags["previous_parent_run_id"] = earlier[0].info.run_id
        previous_history = history_of(earlier[0], study.name)
        if previous_history != history:
            tags["previous_history"] = previous_history
    run = client.create_run(experiment_id, run_name=f"study {study.name}", tags=tags)
    if earlier:
        client.set_tag(earlier[0].info.run_id, "next_parent_run_id", run.info.run_id)
    params = {"study.metric": study.launch.study.metric, "study.mode": study.launch.study.mode,
              "study.num_samples": study.num_configurations, "study.seeds": study.launch.study.seeds,
              "study.scheduler": study.launch.study.scheduler, "study.storage": redact(study.storage_url),
              "search": json.dumps(list(study.search)),
              **({"compare": json.dumps(study.compare)} if study.compare else {})}  # the report's comparators
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    return experiment_id, run.info.run_id


def rank_runs(client: MlflowClient, runs: list, current: list, answer: tuple[str, float], study: Study) -> None:
    """The order the study's MLflow view opens in (tag `rank`, tuning/tracking/study_note.runs_view): the answer
    first, then the other complete runs of the current history by their objective (search and confirmation
    runs alike; the `stage` column tells them apart). Runs of earlier histories lose their rank. Each ranked run
    also gets a tag named after the study metric with the value the view shows, to 4 significant digits (MLflow
    3.17 shows a metric's every digit and cuts it at the column's width): its objective, and for the answer the
    value the study reports (`answer`: its run id and that value, e.g. the confirmed mean over fresh seeds)."""
    answer_id, answer_value = answer
    s = study.launch.study
    others = sorted((pair for pair in current if pair[1].info.run_id != answer_id), key=lambda pair: pair[0],
                    reverse=s.mode == "max")
    order = [(answer_id, answer_value)] + [(run.info.run_id, value) for value, run in others]
    width = max(2, len(str(len(order))))  # zero-padded: MLflow sorts tags as text
    shown = {run_id: (f"{i:0{width}d}", shown_number(value)) for i, (run_id, value) in enumerate(order, 1)}
    for run in runs:
        tags = run.data.tags
        rank, value = shown.get(run.info.run_id, (None, None))
        if rank is None:
            for key in (TAG_RANK, s.metric):
                if key in tags:
                    client.delete_tag(run.info.run_id, key)
            continue
        for key, text in ((TAG_RANK, rank), (s.metric, value)):
            if tags.get(key) != text:
                client.set_tag(run.info.run_id, key, text)


def shown_number(value: float) -> str:
    """4 significant digits, the precision the launcher's table and the report print."""
    return f"{value:.4g}"


def mark_best(client: MlflowClient, study: Study, parent_run_id: str, history: str) -> tuple[str, float] | None:
    """Mark the study's best complete trial over every launch of its current history (by `objective`: the
    study metric at the final evaluation; trials stopped early are not ranked; an earlier history ran under
    other settings and is not ranked with it): exactly one run of the experiment is `best=true`, the
    parent run of this launch notes it, and its final generators are registered in the Model Registry under
    the alias `best` -- as a new version only when it is not the registered best already, so a launch that
    does not improve on an earlier one adds nothing to the registry. With `study.seeds > 1` the ranked unit
    is the configuration (mean over its seeds; `best=true` and the registry on its most typical seed)."""
    s = study.launch.study
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    runs = study_trial_runs(client, experiment_id, study.name)
    current = [(trial_objective(run), run) for run in runs
               if run.data.tags.get(OUTCOME) == "complete" and trial_objective(run) is not None
               and history_of(run, study.name) == history]
    scored = [(v, r) for v, r in current if r.data.tags.get(TAG_STAGE, "search") == "search"]
    if not scored:
        return None
    # The unit is a configuration: with study.seeds > 1 its objective is the mean over its complete seeds,
    # the value Optuna holds (tuning/results/seeds.py), and its generators those of its most typical seed.
    ranked = ([(mean, typical) for mean, typical, _ in configuration_scores(scored, list(study.search))]
              if s.seeds > 1 else scored)
    value, run = (min if s.mode == "min" else max)(ranked, key=lambda pair: pair[0])
    confirmation = latest_confirmation(current, list(study.search), s.mode) if s.confirm_top else None
    if confirmation is not None and confirmation.status != "running" and confirmation.winner is not None:
        value, run = confirmation.winner.mean, confirmation.winner.run  # the answer: what fresh seeds confirmed
    run_id = run.info.run_id
    for other in runs:
        if other.data.tags.get(TAG_BEST) == "true" and other.info.run_id != run_id:
            client.delete_tag(other.info.run_id, TAG_BEST)
    client.set_tag(run_id, TAG_BEST, "true")
    client.log_metric(run_id, ANSWER_VALUE, value)
    rank_runs(client, runs, current, (run_id, value), study)
    client.set_tag(parent_run_id, "best_run_id", run_id)
    client.set_tag(parent_run_id, TAG_ANSWER, answer_in_brief(s.metric, value, run, confirmation))
    client.set_tag(parent_run_id, "mlflow.note.content",
                   study_note(study.description, s.metric, s.mode, scored, standard_error_of(s.metric),
                              list(study.search) if s.seeds > 1 else None, confirmation,
                              noise_model(current, list(study.search))))
    client.log_metric(parent_run_id, f"best_{OBJECTIVE}", value)
    if study.launch.mlflow.register_best:
        register_best(client, study, history, run, value)
    return run_id, value


def noise_model(scored: list, searched: list[str]) -> NoiseModel:
    """The study's noise model (tuning/results/noise.py) from every complete run of the current history, search and
    confirmation alike, grouped by configuration."""
    groups: dict[tuple, list] = {}
    reference_key = None
    for value, run in scored:
        key = configuration_key(run, searched)
        groups.setdefault(key, []).append(value)
        reference_key = key if is_reference_run(run) else reference_key
    return NoiseModel.of(groups, reference_key)


def latest_confirmation(scored: list, searched: list[str], mode: str):
    """The race of the newest confirmation round among `scored` (complete runs of the current history),
    replayed by tuning.results.race_design.race_of with the design its runs carry; None if no confirmation ran."""
    confirm = [(v, r) for v, r in scored if r.data.tags.get(TAG_STAGE) == "confirm"]
    if not confirm:
        return None
    latest = max(int(r.data.tags.get(TAG_ROUND, 0)) for _, r in confirm)
    chosen = [(v, r) for v, r in confirm if int(r.data.tags.get(TAG_ROUND, 0)) == latest]
    race = next((d for d in (design_of(r.data.tags.get(TAG_RACE, "")) for _, r in chosen) if d is not None), None)
    if race is None:
        return None
    rows = [(configuration_key(r, searched), int(r.data.tags.get(TAG_SEED, 0)), v, r, is_reference_run(r))
            for v, r in chosen]
    return race_of(rows, mode, race)


def register_best(client: MlflowClient, study: Study, history: str, run, value: float) -> None:
    name = f"catholic2gogh-{study.name}"
    try:
        client.create_registered_model(
            name, description=f"Best generators (G_A: A->B, G_B: B->A) of study {study.name}")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    try:
        if client.get_model_version_by_alias(name, BEST_ALIAS).run_id == run.info.run_id:
            return  # already the registered best
    except MlflowException:
        pass  # no best registered yet
    version = client.create_model_version(name, source=f"{run.info.artifact_uri}/{GENERATORS}", run_id=run.info.run_id,
                                          tags={TAG_STUDY: study.name, TAG_HISTORY: history,
                                                TAG_TRIAL: run.data.tags.get(TAG_TRIAL, ""),
                                                OBJECTIVE: str(value)})
    client.set_registered_model_alias(name, BEST_ALIAS, version.version)


def check_all_logged(study: Study) -> None:
    """Raise (as MLflow would) when the tracker could not log everything this launch's trials reported: their
    results wait in Tune's files for a resume (tuning/tracking/catch_up.py), and nothing may be marked yet."""
    behind = study.out_dir / BEHIND
    if behind.is_file():
        raise MlflowException(f"results of trials {behind.read_text()} are not logged yet")


def close_launch(client: MlflowClient, study: Study, history: str, experiment_id: str, parent_run_id: str,
                 complete: bool) -> tuple[str, float] | None:
    """The launch's end in MLflow: no run left RUNNING; a complete launch marks the study's best (its
    return value) and its parent run FINISHED, an interrupted one KILLED."""
    close_open_runs(client, experiment_id, study.name, parent_run_id)
    best = mark_best(client, study, parent_run_id, history) if complete else None
    client.set_terminated(parent_run_id, status="FINISHED" if complete else "KILLED")
    return best
