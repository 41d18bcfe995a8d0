"""`python -m dashboards.report study=NAME [mlflow.tracking_uri=...] [out=DIR]`: one self-contained HTML
report answering "which settings paint my photos best", with its figures as PNG files. The report is
also logged as an artifact of the study's parent run; the last line printed is the report's path.

Every comparison follows the noise rule of `tuning.results.objective`: the report opens with the noise floor
(evaluation standard error and the reference settings' seed-to-seed spread) and says in words which
trials are better than the reference settings, worse, or not shown different from them.
Sections: leaderboard of complete trials by objective (the study metric at the final evaluation), each
with its difference from the reference ± noise, its verdict and its final sample grid (best over epochs
shown, labelled optimistic); trials stopped early; effect of each searched value, parameter importance
(Optuna PED-ANOVA) and optimisation history, quality against full-budget cost (Pareto), each with a
caveat when nothing is beyond noise; ablation arms with paired verdicts against the full model; for a
data-efficiency study (data.train_images x train.diffaugment) the objective against training images and
where DiffAugment stops helping; one row per painter for the painters study. Trials whose metrics have different provenance are never ranked
together.
"""
from __future__ import annotations

import html
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from cyclegan.cli import run_main
from cyclegan.configtools import UserError
from tuning.redact import take_credentials

from . import confirmation, data_efficiency, plots
from .ablation import ablation_section
from .leaderboard import fmt, img, leaderboard, noise_summary, stopped_section  # fmt, img: compare.py too
from .runs import StudyRuns, check_sqlite_file, grid_image, load_runs, run_artifacts
from .stats import pareto_front, summarize

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:13px;max-width:100%}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left;overflow-wrap:anywhere}tr.base{background:#fff7d6}
td.name{white-space:nowrap;overflow-wrap:normal}td.verdict{font-weight:600}tr.detail td{border-top:none}
figure.grid{display:inline-block;margin:4px 12px 4px 0}figure.grid figcaption{font-size:12px;color:#555}
img.grid{height:280px;width:auto;max-width:100%;image-rendering:pixelated;cursor:zoom-in}
img.grid.full{height:auto;max-width:none;cursor:zoom-out}.small{font-size:12px;color:#555}.legend{font-size:12px;color:#444}
.note{background:#eef4ff;padding:8px 12px;border-left:4px solid #4a7bd0}figure{display:inline-block;margin:6px}"""
# A click on a sample grid toggles it between the leaderboard size and its full size (no page to leave).
SCRIPT = ("<script>document.addEventListener('click',e=>{if(e.target.matches('img.grid'))"
          "e.target.classList.toggle('full')})</script>")


def parse_args(args: list[str]) -> dict:
    allowed = {"study", "mlflow.tracking_uri", "mlflow.experiment", "out", "study.storage", "study.out_dir"}
    opts = {}
    for item in args:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise UserError(f"unknown argument {item!r}; use {', '.join(sorted(k + '=' for k in allowed))}")
        opts[key] = value
    if "study" not in opts:
        raise UserError("study=NAME is required")
    return opts


def default_tracking_uri(opts: dict) -> str:
    out_dir = Path(opts.get("study.out_dir") or Path("runs") / "studies" / opts["study"]).resolve()
    uri = opts.get("mlflow.tracking_uri") or f"sqlite:///{out_dir / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        # opening it would create an empty store: a report must leave the file tree as it was
        raise UserError(f"no MLflow store at {uri.removeprefix('sqlite:///')}: run the study first "
                        f"(python -m tuning.launch study={opts['study']}) or pass study.out_dir=... / mlflow.tracking_uri=...")
    if uri.startswith("sqlite:///"):
        check_sqlite_file(Path(uri.removeprefix("sqlite:///")), "mlflow.tracking_uri", "experiments")
    # a password in the URI goes to MLFLOW_TRACKING_PASSWORD, never into a message or the report
    return take_credentials({"mlflow.tracking_uri": uri})["mlflow.tracking_uri"]


def importance_section(runs: StudyRuns, figures: Path) -> str:
    if not runs.storage:
        return "<p>No Optuna storage recorded for this study.</p>"
    try:
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=runs.history or runs.name, storage=runs.storage)
        values = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    except Exception as exc:  # too few trials, a single searched key, storage elsewhere: say so
        return f"<p>Parameter importance not available: {html.escape(str(exc).splitlines()[0][:200])}</p>"
    if not values:
        return "<p>Parameter importance not available.</p>"
    path = plots.importance(values, figures / "importance.png")
    return f"<figure>{img(path)}</figure>"


def painters_section(runs: StudyRuns, table: pd.DataFrame, client: MlflowClient, tmp: str) -> str:
    if "data.name" not in runs.searched:
        return ""
    rows = []
    for dataset, group in table.groupby("data.name"):
        s = summarize(group["objective"].tolist())
        best = group.sort_values("objective", ascending=runs.mode == "min").iloc[0]
        grid = grid_image(client, runs, best["run_id"], "b2a", int(best["final_epoch"]), tmp)
        rows.append(f"<tr><td class=l>{html.escape(str(dataset))}</td><td>{s['n']}</td><td>{fmt(s['mean'])} ± "
                    f"{fmt(s['std'])}</td><td>{fmt(best['objective'])}</td><td>{img(grid, 'grid') if grid else ''}</td></tr>")
    return ("<h2>Painters</h2><p class=note>Each painter's FID is measured against its own paintings, so "
            "compare seeds within a row, not numbers across rows.</p><table><tr><th class=l>dataset</th>"
            f"<th>seeds</th><th>{runs.metric} mean ± std</th><th>best</th><th>best grid (photo → painting)</th></tr>"
            + "".join(rows) + "</table>")


def study_description(tags: dict) -> str:
    """The study file's description: the parent run's `description` tag, or for a run written before it the
    first paragraph of its MLflow note (the rest of the note is markdown for MLflow's UI: links into the UI,
    tables; the report renders the same answer itself, in HTML, in its confirmation section)."""
    if tags.get("description"):
        return tags["description"]
    return tags.get("mlflow.note.content", "").split("\n\n", 1)[0]


def build_report(runs: StudyRuns, out: Path) -> Path:
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(runs.tracking_uri)
    t = runs.table
    done = runs.complete()
    count = lambda outcome: int((t["outcome"] == outcome).sum()) if len(t) else 0  # noqa: E731
    parts = [f"<h1>Study {html.escape(runs.name)}</h1>",
             f"<p>{html.escape(study_description(runs.parents[0].data.tags))}</p>",
             f"<p>{len(t)} trials: {count('complete')} complete, {count('stopped')} stopped early, {count('failed')} "
             f"failed. Objective: <b>{runs.metric}</b> at each trial's final evaluation "
             f"({'lower' if runs.mode == 'min' else 'higher'} is better).</p>"]
    if runs.history and runs.history != runs.name:
        parts.append(f"<p class=note>History <b>{html.escape(runs.history)}</b> (started with study.new_history=true): "
                     "the trials of earlier histories ran under other settings and are not ranked here.</p>")
    with tempfile.TemporaryDirectory() as tmp:
        groups = list(done.groupby("provenance")) if len(done) else []
        findings = False
        if len(groups) > 1:
            parts.append(f"<p class=note>These trials' metrics have {len(groups)} different provenances (dataset, "
                         "backbone, weights, resize, image counts or amp); numbers with different provenance are not "
                         "comparable, so each group is ranked on its own, against its own reference runs.</p>")
        confirmed = confirmation.section(runs, fmt)  # the study's answer, before the search stage's board
        board = [confirmed, "<h2>Leaderboard (search stage, not confirmed)</h2>" if confirmed else "<h2>Leaderboard</h2>"]
        for key, group in groups:
            headline, comparisons = noise_summary(runs, group)
            findings = findings or any(c.is_finding for c in comparisons)
            if len(groups) > 1:
                board.append(f"<h3>{html.escape(key)}</h3>")
            board += [headline, leaderboard(runs, group, comparisons, client, tmp)]
        parts += board + [stopped_section(runs)]
        if len(done):
            caveat = ("" if findings else "<p class=note>Caveat: no trial differs from the reference settings beyond "
                      "noise, so these plots show noise, not effects.</p>")
            parts.append("<h2>Effect of each searched setting</h2>" + caveat)
            for i, key in enumerate(runs.searched):
                path = plots.effect(done, key, runs.metric, figures / f"effect_{i}.png")
                parts.append(f"<figure>{img(path)}</figure>")
            parts.append("<h2>Parameter importance and optimisation history</h2>" + caveat)
            parts.append(importance_section(runs, figures))
            path = plots.history(done, runs.metric, runs.mode, figures / "history.png")
            parts.append(f"<figure>{img(path)}</figure>")
            if len(groups) == 1:
                front = pareto_front(done, "objective", "cost_s", runs.mode)
                path = plots.pareto(done, front, "objective", "cost_s", figures / "pareto.png", runs.metric)
                names = ", ".join(html.escape(n) for n in front["run_name"])
                parts.append(f"<h2>Quality against cost</h2><p>Complete trials only; cost = training seconds for the "
                             f"whole budget.</p>{caveat}<figure>{img(path)}</figure><p>Pareto front: {names}</p>")
            efficiency = data_efficiency.section(done, runs.metric, runs.mode, figures, img, runs.margin)
            # a data-efficiency grid has its own per-size comparisons; its cells are not ablation arms
            parts.append(efficiency or ablation_section(done, runs.searched, runs.mode, runs.metric, fmt, runs.comparators,
                                                        runs.margin))
            parts.append(painters_section(runs, done, client, tmp))
        failed = t[t["status"] == "FAILED"] if len(t) else t
        if len(failed):
            items = "".join(f"<li>{html.escape(r['run_name'])}: {html.escape(r['error'])}</li>" for _, r in failed.iterrows())
            parts.append(f"<h2>Failed trials</h2><ul>{items}</ul>")
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>Study {html.escape(runs.name)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}{SCRIPT}</body></html>")
    path = out / "report.html"
    tmp_path = out / ".report.html.tmp"
    tmp_path.write_text(page, encoding="utf-8")
    tmp_path.replace(path)
    local = run_artifacts(client, runs.tracking_uri, runs.parent_run_id)
    if local is not None:  # the study folder's own artifacts, wherever the folder now is
        (local / "report").mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, local / "report" / path.name)
        shutil.copytree(figures, local / "report" / "figures", dirs_exist_ok=True)
    else:
        client.log_artifact(runs.parent_run_id, str(path), "report")
        client.log_artifacts(runs.parent_run_id, str(figures), "report/figures")
    return path


def main(args: list[str]) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stdout ends with the path
    opts = parse_args(args)
    runs = load_runs(opts["study"], default_tracking_uri(opts), opts.get("mlflow.experiment"))
    if "study.storage" in opts:
        runs.storage = opts["study.storage"]
    if runs.storage and runs.storage.startswith("sqlite:///") and Path(runs.storage.removeprefix("sqlite:///")).is_file():
        check_sqlite_file(Path(runs.storage.removeprefix("sqlite:///")), "study.storage", "studies")
    uri = default_tracking_uri(opts)
    if "out" in opts:
        out = Path(opts["out"])
    elif uri.startswith("sqlite:///"):
        out = Path(uri.removeprefix("sqlite:///")).parent / "report"  # beside the study's store
    else:
        out = Path("runs") / "reports" / opts["study"]
    path = build_report(runs, out.resolve())
    print(path)


if __name__ == "__main__":
    sys.exit(run_main(main, usage=__doc__))
