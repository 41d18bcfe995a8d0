"""What a person sees first in MLflow: the study's address, and its parent run's description.

MLflow 3's UI picks its view from the URL's `workflowType` (default: the GenAI overview of traces), so the
address the launcher prints asks for the model-training view of the experiment's runs table. Its runs
table shows no metric column until a person picks one; the address therefore also names a view the
launcher stores with the experiment (MLflow's shared views: the experiment tag
`mlflow.sharedViewState.<key>`, opened by `viewStateShareKey=<key>`): every run with its objective, its
evaluation SE, the searched values and its outcome, ranked by the objective. The parent
run's description (`mlflow.note.content`, markdown) holds the answer at a glance: the best trial (a link),
whether it beats the reference settings beyond noise (tuning.results.objective, the one noise rule), the noise
floor, and the top trials.
"""
from __future__ import annotations

import json

from cyclegan.metric_names import standard_error_of
from tuning.results.objective import OBJECTIVE, OUTCOME, NoiseFloor, compare, family_text, holm
from tuning.results.race_text import answer_text, gain_interval
from tuning.results.run_layout import ANSWER_VALUE, TAG_BEST, TAG_RANK, TAG_SEED, TAG_STAGE, is_reference_run
from tuning.results.seeds import configuration_scores
from tuning.study.study import short_name

TOP = 5
VIEW_KEY = "study"
RUNS_VIEW = f"runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"


def experiment_url(base: str, experiment_id: str) -> str:
    """`http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning&viewStateShareKey=study`."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/{RUNS_VIEW}"


def runs_view(study) -> tuple[str, str]:
    """(experiment tag, value): the runs table as the printed address opens it. The study's answer first (`rank`
    01, `best` true), then the other complete runs by objective. The first columns are what a person reads
    without scrolling, rounded: the rank, the stage each run belongs to (search or confirmation), the value the
    study reports for it (a tag named after the metric, 4 significant digits: for the answer the confirmed mean,
    tuning/tracking/parent_run.rank_runs), the searched values under their short names (3 digits, as in the run
    names), the seed and the outcome; then the exact metrics: `answer_objective` (on the answer's run, the value
    every other place reports), the objective and its standard error. The value is the UI state MLflow 3.17's
    share button writes (plain JSON, the keys of its runs page)."""
    s = study.launch.study
    se = standard_error_of(s.metric)
    columns = [f"tags.`{TAG_RANK}`", f"tags.`{TAG_STAGE}`", f"tags.`{s.metric}`", f"tags.`{TAG_BEST}`"]
    for name, dist in study.search.items():  # arms are tags of the trial runs under their names; other searched
        columns.append(f"tags.`{name}`" if dist.arms is not None  # keys rounded under their short names
                       else f"tags.`{short_name(name)}`")
    columns += [f"tags.`{TAG_SEED}`", f"tags.`{OUTCOME}`", f"metrics.`{ANSWER_VALUE}`", f"metrics.`{OBJECTIVE}`"]
    columns += [f"metrics.`{se}`"] if se else []
    # columnOrder: MLflow shows metrics, then params, then tags; this order puts the rounded tags first, so the
    # part of a 1440-px window the table gets shows which run is the answer, its stage and value (Chromium test)
    state = {"searchFilter": "", "orderByKey": f"tags.`{TAG_RANK}`", "orderByAsc": True,
             "startTime": "ALL", "lifecycleFilter": "Active", "datasetsFilter": [], "modelVersionFilter": "All Runs",
             "selectedColumns": columns, "columnOrder": ["attributes.`Run Name`", *columns]}
    return f"mlflow.sharedViewState.{VIEW_KEY}", json.dumps(state)


def run_link(run) -> str:
    return f"[{run.info.run_name}](#/experiments/{run.info.experiment_id}/runs/{run.info.run_id})"


def study_note(description: str, metric: str, mode: str, scored: list, se_metric: str | None,
               configurations: list[str] | None = None, confirmation=None, noise=None) -> str:
    """Markdown for the parent run. `scored`: (objective, run) of the complete trials of the current history;
    `configurations`: the searched keys when each configuration ran on several seeds (tuning/results/seeds.py): rows
    are then configurations, with the mean over their seeds, and the noise floor the reference's seeds;
    `confirmation`: the confirmation race (tuning/results/race.py RaceResult), which then gives the answer, the search
    stage's best being labelled as not confirmed; `noise`: the study's noise model (tuning/results/noise.py), which
    judges the search stage when it knows more than the reference's seeds."""
    reference = [(v, r) for v, r in scored if is_reference_run(r)]
    floor = NoiseFloor.of([v for v, _ in reference],
                          [r.data.metrics.get(se_metric) for _, r in reference] if se_metric else [], noise)
    if configurations:
        rows = [(mean, run, len(members)) for mean, run, members in configuration_scores(scored, configurations)]
    else:
        rows = [(v, r, 1) for v, r in scored]
    ranked = sorted(rows, key=lambda row: row[0], reverse=mode == "max")
    best_value, best, _ = ranked[0]
    # the best of N trials is judged as one of the family of every non-reference trial (Holm)
    others = [row for row in ranked if not is_reference_run(row[1])]
    family = holm([compare(v, r.data.metrics.get(se_metric) if se_metric and n == 1 else None, floor, mode, n)
                   for v, r, n in others], mode)
    verdict = family[0] if others and others[0][1] is best else compare(best_value, None, floor, mode)
    if is_reference_run(best):
        against = "it is a run of the reference settings: no other setting did better"
    elif verdict.verdict in ("better", "worse", "indistinguishable"):
        word = {"indistinguishable": "not shown different from"}.get(verdict.verdict, f"{verdict.verdict} than")
        against = f"{word} the reference settings ({metric} {verdict.text()}, {family_text(family)})"
    else:
        against = f"not judged against the reference settings ({verdict.verdict})"
    headline = f"**Best trial:** {run_link(best)}, {metric} {best_value:.4g} at its final evaluation; {against}."
    if confirmation is not None and confirmation.winner is not None:
        headline = confirmed_lines(metric, mode, confirmation, floor.sigma) + [
            "", f"Search stage (not confirmed): best {run_link(best)}, {metric} {best_value:.4g}; {against}."]
        headline = "\n".join(headline)
    lines = [description.strip(), "", headline, "",
             f"**Noise:** {floor.describe(metric)}.", "",
             f"| # | trial | {metric} (final) | |", "|---|---|---|---|"]
    for rank, (value, run, seeds) in enumerate(ranked[:TOP], 1):
        mark = "reference settings" if is_reference_run(run) else ""
        mark += f"{'; ' if mark else ''}mean over {seeds} seeds" if seeds > 1 else ""
        lines.append(f"| {rank} | {run_link(run)} | {value:.4g} | {mark} |")
    lines += ["", f"{len(ranked)} complete trials; sort the runs table by the `{OBJECTIVE}` column to see them all. "
              "The full report, with every verdict and sample grid: `python -m dashboards.report study=...` "
              "(it is then logged under this run's artifacts, report/report.html)."]
    return "\n".join(lines)


def confirmed_lines(metric: str, mode: str, race, sigma: float) -> list[str]:
    """The confirmation race in the note: the answer first, then each candidate's verdict."""
    lines = [f"**Confirmation:** {answer_text(race, metric, mode, sigma, name=lambda e: run_link(e.run))}."]
    for c in race.candidates:
        if c.comparison is None:
            continue
        gain, low, high = gain_interval(c.comparison, mode)
        bounds = f" [{low:.3g}, {high:.3g}]" if c.comparison.half_width == c.comparison.half_width else ""
        lines.append(f"- {run_link(c.run)}: {metric} {c.mean:.4g} on {len(c.values)} fresh seeds; gain over the "
                     f"reference {gain:+.3g}{bounds}: {STATUS_WORDS.get(c.status, c.status)}")
    return lines


STATUS_WORDS = {"better": "shown better", "dropped": "dropped (not ahead of the reference)",
                "not shown": "not shown better within the budget"}


def answer_in_brief(metric: str, value: float, run, confirmation=None) -> str:
    """The study run's `answer` tag: the answer where MLflow 3.17's run page shows it on its first screen (the
    tags), the description with the full answer lying below the fold there. Name and value first: the page
    cuts a long tag. `run`, `value`: the run marked best=true and the value the study reports for it."""
    name = run.info.run_name
    raced = confirmation is not None and confirmation.status != "running"  # the race decided the answer
    if raced and confirmation.status == "confirmed":
        how = f"confirmed better than the reference settings on {len(confirmation.seeds)} fresh seeds"
    elif is_reference_run(run):
        how = "the reference settings: " + ("no candidate was shown better on fresh seeds" if raced
                                            else "no trial did better")
    elif raced:  # a candidate's mean, with no run of the reference settings in the race to judge it against
        how = "not confirmed: the confirmation ran no reference settings to judge it against"
    else:
        how = "best of the search stage, not confirmed on fresh seeds"
    return f"{name}, {metric} {value:.4g}: {how}"
