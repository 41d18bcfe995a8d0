"""The leaderboard of a report: the headline verdicts against the reference settings (one family, Holm),
each ranked unit (a trial, or a configuration with study.seeds > 1) with its sample grids, and the trials the
scheduler stopped. Also the small HTML helpers every page uses."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from tuning.results.objective import SEED_NOISE_UNKNOWN, family_text

from .runs import StudyRuns, grid_image
from .stats import against_reference

TOP = 10


def img(path: Path | str, cls: str = "") -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img class="{cls}" src="data:image/png;base64,{data}">'


def fmt(value) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    return html.escape(str(value))


def noise_summary(runs: StudyRuns, group: pd.DataFrame) -> tuple[str, list]:
    """The headline: the noise floor, and in words which trials beat or lose to the reference beyond it.
    Returns the HTML and each ranked unit's comparison (same order as `runs.ranked_units(group)`)."""
    done = runs.ranked_units(group)
    floor = runs.noise_floor(group)
    comparisons = against_reference(done, floor, runs.mode)
    others = [(r, c) for (_, r), c in zip(done.iterrows(), comparisons) if not r["baseline"]]
    family = html.escape(family_text([c for _, c in others]))
    found = {"better": [r["run_name"] for r, c in others if c.verdict == "better"],
             "worse": [r["run_name"] for r, c in others if c.verdict == "worse"]}
    floor_text = html.escape(floor.describe(runs.metric))
    if not floor.seeds:
        headline = ("No run of the reference settings finished, so there is no noise floor: this report names no "
                    "trial better or worse than another.")
    elif not found["better"] and not found["worse"]:
        unmeasured = sum(c.verdict == SEED_NOISE_UNKNOWN for _, c in others)
        extra = (f" {unmeasured} trial(s) differ by more than the evaluation noise, but with one seed of the "
                 "reference settings the training noise is unknown, so none is called better or worse; set "
                 "study.baseline_seeds=3 to measure it." if unmeasured else "")
        hint = (" A trial is one seed: to tell whether the top settings are really better, run them again with "
                "several seeds (study.seeds) — the interval for a mean over n seeds is about √n times narrower."
                if floor.seeds >= 2 else "")
        headline = (f"No setting in this study was shown to change {html.escape(runs.metric)} beyond noise "
                    f"({floor_text}; {family}). That is not evidence that none does: the rankings, effects and "
                    f"importances below are within noise.{extra}{hint}")
    else:
        parts = [f"{len(v)} {word} than the reference settings beyond noise ({html.escape(', '.join(v))})"
                 for word, v in found.items() if v]
        rest = len(others) - len(found["better"]) - len(found["worse"])
        headline = (f"{'; '.join(parts)}; {rest} not shown different from them ({family}; not shown is not "
                    f"the same as equal). Noise floor: {floor_text}.")
    return f"<p class=note id=noise>{headline}</p>", comparisons


def leaderboard(runs: StudyRuns, group: pd.DataFrame, comparisons: list, client: MlflowClient, tmp: str) -> str:
    """Complete trials ranked by objective: one line of numbers per trial (verdict first), then a row with
    its final sample grids in both directions (large enough to read; a click shows them at full size)."""
    done = runs.ranked_units(group)
    done = done.assign(_order=range(len(done)))
    top = done.sort_values("objective", ascending=runs.mode == "min").head(TOP)
    extra = [c for c in ["kid", "fid_a2b", "fid_b2a", "l1_a2b", "l1_b2a"] if c in top and c != runs.metric]
    searched = [k for k in runs.searched if k in top]
    width = 6 + len(searched)
    head = ("<tr><th>#</th><th class=l>trial</th><th>verdict</th>"
            f"<th>{html.escape(runs.metric)} ± SE¹</th><th>vs reference ± noise²</th>"
            + "".join(f"<th>{html.escape(k)}</th>" for k in searched)
            + "<th>best over epochs³</th></tr>")
    rows = []
    for rank, (_, r) in enumerate(top.iterrows(), 1):
        c = comparisons[int(r["_order"])]
        reference = " <b>(reference settings)</b>" if r["baseline"] else ""
        verdict = "reference" if r["baseline"] else c.verdict
        se = f" ± {fmt(r['objective_se'])}" if pd.notna(r["objective_se"]) else ""
        others = " · ".join(f"{k} {fmt(r.get(k))}" for k in extra + ["time_s"] if k in r and pd.notna(r.get(k)))
        rows.append(f"<tr class='trial {'base' if r['baseline'] else ''}'><td>{rank}</td>"
                    f"<td class='l name' title='{html.escape(r['provenance'])}'>{html.escape(r['run_name'])}{reference}</td>"
                    f"<td class=verdict>{verdict}</td><td><b>{fmt(r['objective'])}</b>{se}</td>"
                    f"<td>{html.escape(c.text())}</td>" + "".join(f"<td>{fmt(r.get(k))}</td>" for k in searched)
                    + f"<td>{fmt(r['best_over_epochs'])} (epoch {int(r['best_epoch'])})</td></tr>")
        grids = []
        for direction in ("a2b", "b2a"):
            grid = grid_image(client, runs, r["run_id"], direction, int(r["final_epoch"]), tmp)
            if grid:
                grids.append(f"<figure class=grid><figcaption>{direction} (original / translated / reconstructed)"
                             f"</figcaption>{img(grid, 'grid')}</figure>")
        rows.append(f"<tr class=detail><td></td><td colspan={width - 1} class=l><div class=small>{others}</div>"
                    f"{''.join(grids)}</td></tr>")
    first = ("¹ the configuration's mean over its seeds ± their standard deviation / √seeds (the number Optuna "
             "and best=true hold; name, grids and best epoch are its most typical seed's). " if runs.seeds > 1 else
             "¹ the trial's value ± its evaluation standard error over the test images. ")
    legend = (f"<p class=legend>{first}"
              "² its difference from the mean of the reference settings ± the noise half-width (seed spread "
              "and evaluation noise), a per-comparison interval at the level Holm tested it at: each covers its own "
              "difference with ≥ 95 %, but they are not simultaneous (together they cover less often); a "
              "difference inside it is not shown, which is not the same as absent. ³ the best value over the trial's epochs, "
              "optimistic: that epoch was chosen on the test split; trials are ranked by the final value. "
              "Hover a trial's name for its provenance; click a sample grid to see it at full size.</p>")
    return f"<table class=board>{head}{''.join(rows)}</table>{legend}"


def stopped_section(runs: StudyRuns) -> str:
    t = runs.table
    stopped = t[t["outcome"] == "stopped"] if len(t) else t
    if not len(stopped):
        return ""
    items = "".join(f"<li>{html.escape(r['run_name'])}: stopped at epoch {fmt(r['final_epoch'])}, {runs.metric} "
                    f"{fmt(r['objective'])} there</li>" for _, r in stopped.iterrows())
    return ("<h3>Stopped early by the scheduler (not ranked: their learning rate never decayed)</h3>"
            f"<ul>{items}</ul>")
