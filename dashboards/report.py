"""`python -m dashboards.report study=NAME [mlflow.tracking_uri=...] [out=DIR]`: one self-contained HTML
report answering "which settings paint my photos best", with its figures as PNG files. The report is
also logged as an artifact of the study's parent run; the last line printed is the report's path.

Sections: leaderboard (with each top trial's sample grid and the reference-settings baseline marked),
effect of each searched value, parameter importance (Optuna PED-ANOVA) and optimisation history, quality
against cost (Pareto), ablation arms with 95 % intervals and verdicts, and one row per painter for the
painters study. Trials whose metrics have different provenance are never ranked together.
"""
from __future__ import annotations

import base64
import html
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from cyclegan.cli import run_main
from cyclegan.configtools import UserError

from . import plots
from .runs import StudyRuns, grid_image, load_runs
from .stats import arm_table, pareto_front, summarize, verdict

TOP = 10
CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}tr.base{background:#fff7d6}img.grid{max-height:170px}
.note{background:#eef4ff;padding:8px 12px;border-left:4px solid #4a7bd0}figure{display:inline-block;margin:6px}"""


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
    return opts.get("mlflow.tracking_uri") or f"sqlite:///{out_dir / 'mlflow.db'}"


def img(path: Path | str, cls: str = "") -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img class="{cls}" src="data:image/png;base64,{data}">'


def fmt(value) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    return html.escape(str(value))


def leaderboard(runs: StudyRuns, group: pd.DataFrame, client: MlflowClient, tmp: str) -> str:
    ascending = runs.mode == "min"
    top = group.dropna(subset=["objective"]).sort_values("objective", ascending=ascending).head(TOP)
    direction = "a2b" if runs.metric.endswith("a2b") else "b2a"
    cols = [c for c in ["kid", "fid_a2b", "fid_b2a", "l1_a2b", "time_s"] if c in top and c != runs.metric]
    head = ("<tr><th>#</th><th class=l>trial</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in runs.searched)
            + f"<th>{runs.metric} (best)</th><th>epoch</th>" + "".join(f"<th>{c}</th>" for c in cols)
            + f"<th>sample grid ({direction}: original / translated / reconstructed)</th></tr>")
    rows = []
    for rank, (_, r) in enumerate(top.iterrows(), 1):
        grid = grid_image(client, r["run_id"], direction, int(r["best_epoch"]), tmp)
        name = html.escape(r["run_name"]) + (" <b>(reference settings)</b>" if r["baseline"] else "")
        rows.append(f"<tr class='{'base' if r['baseline'] else ''}'><td>{rank}</td><td class=l>{name}</td>"
                    + "".join(f"<td>{fmt(r.get(k))}</td>" for k in runs.searched)
                    + f"<td><b>{fmt(r['objective'])}</b></td><td>{int(r['best_epoch'])}</td>"
                    + "".join(f"<td>{fmt(r.get(c))}</td>" for c in cols)
                    + f"<td>{img(grid, 'grid') if grid else ''}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def importance_section(runs: StudyRuns, figures: Path) -> str:
    if not runs.storage:
        return "<p>No Optuna storage recorded for this study.</p>"
    try:
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=runs.name, storage=runs.storage)
        values = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    except Exception as exc:  # too few trials, a single searched key, storage elsewhere: say so
        return f"<p>Parameter importance not available: {html.escape(str(exc).splitlines()[0][:200])}</p>"
    if not values:
        return "<p>Parameter importance not available.</p>"
    path = plots.importance(values, figures / "importance.png")
    return f"<figure>{img(path)}</figure>"


def ablation_section(runs: StudyRuns, table: pd.DataFrame) -> str:
    factors = [k for k in runs.searched if table[k].nunique() > 0]
    arms = arm_table(table, factors)
    if arms["n"].max() < 2:
        return ""
    head = "".join(f"<th class=l>{html.escape(f)}</th>" for f in factors)
    body = "".join("<tr>" + "".join(f"<td class=l>{fmt(r[f])}</td>" for f in factors)
                   + f"<td>{int(r['n'])}</td><td>{fmt(r['mean'])} ± {fmt(r['std'])}</td><td>± {fmt(r['ci95'])}</td></tr>"
                   for _, r in arms.iterrows())
    lines = []
    arm_key = next((f for f in factors if "full" in set(table[f].astype(str))), None)
    if arm_key:
        others = [f for f in factors if f != arm_key]
        for _, r in arms.iterrows():
            if str(r[arm_key]) == "full":
                continue
            same = arms[(arms[arm_key].astype(str) == "full")]
            for f in others:
                same = same[same[f] == r[f]]
            if len(same):
                label = str(r[arm_key]).replace("_", " ") + "".join(f" ({r[f]})" for f in others)
                lines.append(verdict(r, same.iloc[0], runs.mode, runs.metric.upper(), label))
    verdicts = "".join(f"<li>{html.escape(v)}</li>" for v in lines)
    return (f"<h2>Ablation: each arm over its seeds</h2><table><tr>{head}<th>seeds</th><th>{runs.metric} mean ± std"
            f"</th><th>95 % interval</th></tr>{body}</table>"
            + (f"<h3>Against the full model</h3><ul>{verdicts}</ul>" if verdicts else ""))


def painters_section(runs: StudyRuns, table: pd.DataFrame, client: MlflowClient, tmp: str) -> str:
    if "data.name" not in runs.searched:
        return ""
    rows = []
    for dataset, group in table.groupby("data.name"):
        s = summarize(group["objective"].tolist())
        best = group.sort_values("objective", ascending=runs.mode == "min").iloc[0]
        grid = grid_image(client, best["run_id"], "b2a", int(best["best_epoch"]), tmp)
        rows.append(f"<tr><td class=l>{html.escape(str(dataset))}</td><td>{s['n']}</td><td>{fmt(s['mean'])} ± "
                    f"{fmt(s['std'])}</td><td>{fmt(best['objective'])}</td><td>{img(grid, 'grid') if grid else ''}</td></tr>")
    return ("<h2>Painters</h2><p class=note>Each painter's FID is measured against its own paintings, so "
            "compare seeds within a row, not numbers across rows.</p><table><tr><th class=l>dataset</th>"
            f"<th>seeds</th><th>{runs.metric} mean ± std</th><th>best</th><th>best grid (photo → painting)</th></tr>"
            + "".join(rows) + "</table>")


def build_report(runs: StudyRuns, out: Path) -> Path:
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(runs.tracking_uri)
    t = runs.table
    done = t[t["status"] == "FINISHED"] if not t.empty else t
    parts = [f"<h1>Study {html.escape(runs.name)}</h1>",
             f"<p>{html.escape(runs.parents[0].data.tags.get('mlflow.note.content', ''))}</p>",
             f"<p>{len(t)} trials: {len(done)} finished, {int((t['status'] == 'FAILED').sum()) if len(t) else 0} failed. "
             f"Objective: <b>{runs.metric}</b> ({'lower' if runs.mode == 'min' else 'higher'} is better), at each "
             f"trial's best evaluation.</p>"]
    with tempfile.TemporaryDirectory() as tmp:
        groups = list(done.groupby("provenance")) if len(done) else []
        parts.append("<h2>Leaderboard</h2>")
        if len(groups) > 1:
            parts.append(f"<p class=note>These trials' metrics have {len(groups)} different provenances (dataset, "
                         "backbone, weights, resize or image counts); numbers with different provenance are not "
                         "comparable, so each group is ranked on its own.</p>")
        for key, group in groups:
            if len(groups) > 1:
                parts.append(f"<h3>{html.escape(key)}</h3>")
            parts.append(leaderboard(runs, group, client, tmp))
        scored = done.dropna(subset=["objective"])
        if len(scored):
            parts.append("<h2>Effect of each searched setting</h2>")
            for i, key in enumerate(runs.searched):
                path = plots.effect(scored, key, runs.metric, figures / f"effect_{i}.png")
                parts.append(f"<figure>{img(path)}</figure>")
            parts.append("<h2>Parameter importance and optimisation history</h2>")
            parts.append(importance_section(runs, figures))
            path = plots.history(t.dropna(subset=["objective"]), runs.metric, runs.mode, figures / "history.png")
            parts.append(f"<figure>{img(path)}</figure>")
            if "time_s" in scored and len(groups) == 1:
                front = pareto_front(scored, "objective", "time_s", runs.mode)
                path = plots.pareto(scored, front, "objective", "time_s", figures / "pareto.png", runs.metric)
                names = ", ".join(html.escape(n) for n in front["run_name"])
                parts.append(f"<h2>Quality against cost</h2><figure>{img(path)}</figure><p>Pareto front: {names}</p>")
            parts.append(ablation_section(runs, scored))
            parts.append(painters_section(runs, scored, client, tmp))
        failed = t[t["status"] == "FAILED"] if len(t) else t
        if len(failed):
            items = "".join(f"<li>{html.escape(r['run_name'])}: {html.escape(r['error'])}</li>" for _, r in failed.iterrows())
            parts.append(f"<h2>Failed trials</h2><ul>{items}</ul>")
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>Study {html.escape(runs.name)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    path = out / "report.html"
    tmp_path = out / ".report.html.tmp"
    tmp_path.write_text(page, encoding="utf-8")
    tmp_path.replace(path)
    client.log_artifact(runs.parent_run_id, str(path), "report")
    client.log_artifacts(runs.parent_run_id, str(figures), "report/figures")
    return path


def main(args: list[str]) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stdout ends with the path
    opts = parse_args(args)
    runs = load_runs(opts["study"], default_tracking_uri(opts), opts.get("mlflow.experiment"))
    if "study.storage" in opts:
        runs.storage = opts["study.storage"]
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
