"""A study's trials as a pandas table, read from MLflow (no training code is imported).

One row per child run: run id and name, status, outcome (complete / stopped / failed), the searched
values (params, or the arm tags), the objective (tuning/results/objective.py: the study metric at the trial's
final evaluation) with its evaluation standard error, the best value over epochs (shown as optimistic,
never ranked), the last values of the other SPEC §3 metrics, the full-budget cost, and a provenance key. FIDs are only comparable
when they were computed against the same real images with the same network and resize, so the
provenance key is (dataset, backbone, weights hash, resize mode, real image counts).
"""
from __future__ import annotations

import json
import math
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
from mlflow.tracking import MlflowClient

from cyclegan.configtools import UserError
from cyclegan.metric_names import standard_error_of
from tuning.results.noise import NoiseModel
from tuning.results.objective import OBJECTIVE, OUTCOME, NoiseFloor
from tuning.results.run_layout import (
    TAG_BEST,
    TAG_KIND,
    TAG_RACE,
    TAG_REFERENCE,
    TAG_ROUND,
    TAG_SEED,
    TAG_STAGE,
    TAG_STUDY,
    TAG_TRIAL,
    history_of,
    image_step,
    param_value,
)
from tuning.results.seeds import most_typical

PROVENANCE_TAGS = ("dataset", "eval.backbone", "eval.weights_sha256", "eval.resize", "eval.real_a", "eval.real_b",
                   "eval.amp")


@dataclass
class StudyRuns:
    name: str
    tracking_uri: str
    experiment_id: str
    parents: list               # parent runs (one per launch), newest first
    metric: str
    mode: str
    searched: list[str]         # searched keys (engine keys or arm names)
    storage: str | None         # Optuna storage URL
    table: pd.DataFrame
    history: str = ""           # the Optuna study of the history shown (tuning/state/history.py)
    comparators: dict = field(default_factory=dict)  # ablation arm -> the arm one term away (tuning/study/comparators.py)
    confirmation: pd.DataFrame = field(default_factory=pd.DataFrame)  # stage=confirm runs (tuning/search/confirm.py)

    @property
    def parent_run_id(self) -> str:
        return self.parents[0].info.run_id

    def complete(self, table: pd.DataFrame | None = None) -> pd.DataFrame:
        """Trials that reached their final evaluation: the only ones ranked by the objective."""
        t = self.table if table is None else table
        if t.empty:
            return t
        return t[(t["outcome"] == "complete") & (t["status"] == "FINISHED")].dropna(subset=["objective"])

    @property
    def seeds(self) -> int:
        """Seeds per configuration (study.seeds of the newest launch)."""
        return int(param_value(self.parents[0].data.params.get("study.seeds", "1")) or 1)

    def ranked_units(self, table: pd.DataFrame | None = None) -> pd.DataFrame:
        """What the leaderboard ranks: complete trials, or with study.seeds > 1 configurations (one row per set
        of searched values: the mean over its complete seeds, the same number Optuna and `best=true` hold)."""
        done = self.complete(table)
        return by_configuration(done, self.searched) if self.seeds > 1 and not done.empty else done

    @property
    def margin(self) -> float:
        """study.margin of the newest launch (0: one seed σ, tuning/results/equivalence.py)."""
        return float(param_value(self.parents[0].data.params.get("study.margin", "0")) or 0)

    def noise_floor(self, table: pd.DataFrame | None = None) -> NoiseFloor:
        """The reference settings' complete runs in `table` (default: all): the study's noise floor, with the
        study's noise model (tuning/results/noise.py: every repeated configuration, confirmation runs included)."""
        ref = self.complete(table)
        ref = ref[ref["baseline"]] if not ref.empty else ref
        return NoiseFloor.of(ref["objective"].tolist() if len(ref) else [],
                             ref["objective_se"].tolist() if len(ref) else [], self.noise_model())

    def noise_model(self) -> NoiseModel:
        """Seed noise pooled over every configuration the study ran on several seeds (search and confirmation)."""
        frames = [self.complete(t) for t in (self.table, self.confirmation) if t is not None and not t.empty]
        groups: dict[tuple, list] = {}
        reference = None
        keys = [k for k in self.searched]
        for frame in frames:
            for _, r in frame.iterrows():
                key = tuple(str(r[k]) if k in r else "" for k in keys)
                groups.setdefault(key, []).append(float(r["objective"]))
                reference = key if r["baseline"] else reference
        return NoiseModel.of(groups, reference)


def best_of(history, mode: str) -> tuple[float, int]:
    points = [(m.value, m.step) for m in history if math.isfinite(m.value)]
    if not points:
        return math.nan, -1
    return (min if mode == "min" else max)(points, key=lambda p: p[0])


def check_sqlite_file(path: Path, key: str, table: str) -> None:
    """A truncated or foreign SQLite file is one line (exit 2), found read-only: opening it with MLflow or
    Optuna would run their schema migrations on it, and then fail with a page of SQLAlchemy."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            problems = [row[0] for row in con.execute("PRAGMA quick_check(1)")]
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.Error as exc:
        problems, tables = [str(exc)], set()
    if problems != ["ok"]:
        raise UserError(f"{key}: {path} is damaged or not a database ({problems[0][:120]}); restore it from a "
                        "backup, or run the study again into a new study.out_dir")
    if table not in tables:
        raise UserError(f"{key}: {path} is an SQLite file but not the study's store (no {table} table); point "
                        f"{key} at the study's own file")


def load_runs(study: str, tracking_uri: str, experiment: str | None = None) -> StudyRuns:
    client = MlflowClient(tracking_uri)
    try:
        exp = client.get_experiment_by_name(experiment or study)
    except Exception as exc:
        raise UserError(f"cannot read MLflow at {tracking_uri} ({str(exc).splitlines()[0][:160]}); "
                        "fix mlflow.tracking_uri") from None
    if exp is None:
        raise UserError(f"no MLflow experiment {experiment or study!r} at {tracking_uri}; run the study first "
                        "or pass mlflow.tracking_uri=... / mlflow.experiment=...")
    runs = client.search_runs([exp.experiment_id], max_results=50000, order_by=["attributes.start_time DESC"])
    parents = [r for r in runs if r.data.tags.get(TAG_KIND) == "study" and r.data.tags.get(TAG_STUDY) == study]
    if not parents:
        raise UserError(f"experiment {exp.name!r} has no parent run of study {study!r}; check study=")
    # The newest history only: an earlier one (study.new_history=true) ran under other settings.
    history = history_of(parents[0], study)
    parents = [p for p in parents if history_of(p, study) == history]
    parent_ids = {p.info.run_id for p in parents}
    params = parents[0].data.params
    metric, mode = params.get("study.metric", "fid"), params.get("study.mode", "min")
    searched = json.loads(params.get("search", "[]"))
    rows = []
    for run in runs:
        if run.data.tags.get("mlflow.parentRunId") not in parent_ids:
            continue
        tags, p = run.data.tags, run.data.params
        best, best_epoch = best_of(client.get_metric_history(run.info.run_id, metric), mode)
        m = run.data.metrics
        se_name = standard_error_of(metric)
        outcome = tags.get(OUTCOME) or ("failed" if run.info.status == "FAILED" else "complete")
        epoch = m.get("epoch", math.nan)
        total = param_value(p.get("train.epochs", "nan")) + param_value(p.get("train.decay_epochs", "0")) if p else math.nan
        row = {"run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status,
               "outcome": outcome, "trial_id": tags.get(TAG_TRIAL), "seed": int(tags.get(TAG_SEED, 0)),
               "baseline": tags.get(TAG_REFERENCE) == "true", "best": tags.get(TAG_BEST) == "true",
               "error": tags.get("error", ""), "objective": m.get(OBJECTIVE, m.get(metric, math.nan)),
               "objective_se": m.get(se_name, math.nan) if se_name else math.nan, "final_epoch": epoch,
               "best_over_epochs": best, "best_epoch": best_epoch, "dataset": tags.get("dataset", ""),
               "start_time": run.info.start_time,
               # what the trial costs for its whole budget: seconds per epoch so far x all its epochs
               "cost_s": m.get("time_s", math.nan) / epoch * total if epoch and epoch > 0 else math.nan,
               "provenance": " | ".join(f"{k}={tags.get(k, '?')}" for k in PROVENANCE_TAGS), "params": dict(p),
               "stage": tags.get(TAG_STAGE, "search"), "confirm_round": int(tags.get(TAG_ROUND, 0)),
               "race": tags.get(TAG_RACE, "")}
        for key in searched:
            row[key] = tags[key] if key in tags else param_value(p.get(key))
        row.update({k: v for k, v in m.items() if k not in row})
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values("start_time").reset_index(drop=True)
        # the number in the trial's name (t0007 ...), the name the leaderboard and MLflow show; start order
        # for runs named otherwise. Across continued launches the names restart, so fall back to order.
        named = table["run_name"].str.extract(r"^t(\d+)\b", expand=False)
        numbers = pd.to_numeric(named, errors="coerce")
        unique = numbers.notna().all() and numbers.is_unique
        table["trial_number"] = numbers.astype(int) if unique else range(1, len(table) + 1)
    # Confirmation runs (tuning/search/confirm.py) are kept apart: every search-stage view (leaderboard, noise floor,
    # importance, ablation) reads `table`, the confirmation section reads `confirmation`.
    confirmation = table[table["stage"] == "confirm"].reset_index(drop=True) if not table.empty else table
    table = table[table["stage"] != "confirm"].reset_index(drop=True) if not table.empty else table
    return StudyRuns(study, tracking_uri, exp.experiment_id, parents, metric, mode, searched,
                     params.get("study.storage"), table, history, json.loads(params.get("compare", "{}")), confirmation)


def by_configuration(done: pd.DataFrame, searched: list[str]) -> pd.DataFrame:
    """One row per configuration of `done` (complete runs): `objective` the mean over its seeds, `objective_se`
    sd / sqrt(n), `seeds` n; the other columns (name, run id, grids) from its most typical seed, the one whose
    objective is closest to the mean (tuning.results.seeds.most_typical, as for the registered generators)."""
    keys = [k for k in searched if k in done]
    rows = []
    for _, group in done.groupby(keys, dropna=False, sort=False) if keys else [(None, done)]:
        mean = group["objective"].mean()
        typical = group.loc[most_typical(list(zip(group["objective"], group.index)))].copy()
        typical["run_name"] = re.sub(r"\s*seed=\d+", "", str(typical["run_name"])) + f" ({len(group)} seeds)"
        typical["objective"] = mean
        typical["objective_se"] = group["objective"].std(ddof=1) / math.sqrt(len(group)) if len(group) > 1 else math.nan
        typical["seeds"] = len(group)
        rows.append(typical)
    return pd.DataFrame(rows).reset_index(drop=True)


def local_artifacts(tracking_uri: str, artifact_uri: str) -> Path | None:
    """Where a run's artifacts are now, for a local SQLite store. None for a server (it serves its own).

    MLflow records absolute paths. A study folder holds `mlflow.db` beside `mlartifacts/`; when that folder
    is copied or moved, its artifacts are the ones beside its mlflow.db (`<db dir>/mlartifacts/<rest>`),
    never those of the folder it was copied from. A store kept apart from the study folder
    (`mlflow.tracking_uri=sqlite:///X/mlflow.db` with `study.out_dir=X/study`) records its artifacts under
    the study folder, which holds no mlflow.db of its own: there the recorded location is used as it is."""
    if not tracking_uri.startswith("sqlite:///") or not artifact_uri.startswith("file:"):
        return None
    recorded = Path(unquote(urlparse(artifact_uri).path))
    parts = recorded.parts
    if "mlartifacts" not in parts:
        return None
    after = len(parts) - parts[::-1].index("mlartifacts")  # the parts after the last "mlartifacts"
    db_dir = Path(tracking_uri.removeprefix("sqlite:///")).parent
    home = Path(*parts[:after - 1])  # the folder the recorded mlartifacts/ is in
    if home != db_dir and not (home / "mlflow.db").exists() and recorded.parents[1].is_dir():
        return recorded
    return db_dir.joinpath("mlartifacts", *parts[after:])


def run_artifacts(client: MlflowClient, tracking_uri: str, run_id: str) -> Path | None:
    """The run's local artifact folder (see `local_artifacts`); UserError if the study's artifacts are gone."""
    folder = local_artifacts(tracking_uri, client.get_run(run_id).info.artifact_uri)
    if folder is not None and not folder.parents[1].is_dir():  # <db dir>/mlartifacts/<experiment> is missing
        raise UserError(f"the study's artifacts are missing ({folder.parents[1]}); restore the mlartifacts folder "
                        "beside mlflow.db (sample grids, generators and reports live there)")
    return folder


def grid_image(client: MlflowClient, runs: StudyRuns, run_id: str, direction: str, step: int, dst: str) -> str | None:
    """Local path of the run's sample grid for `direction` at `step` (or its latest)."""
    folder = run_artifacts(client, runs.tracking_uri, run_id)
    if folder is not None:
        images = [f"images/{p.name}" for p in (folder / "images").glob("*.png")]
    else:
        images = [a.path for a in client.list_artifacts(run_id, "images") if a.path.endswith(".png")]
    mine = [p for p in images if p.split("/")[-1].startswith(f"{direction}+step+")]
    if not mine:
        return None
    steps = {p: image_step(p) for p in mine}
    pick = [p for p in mine if steps[p] == step] or [max(mine, key=steps.get)]
    return str(folder / pick[0]) if folder is not None else client.download_artifacts(run_id, pick[0], dst)
