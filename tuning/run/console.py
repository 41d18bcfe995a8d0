"""What a study prints: one line when a trial starts, one per evaluation, one when it ends, and a table of
all trials ranked by the objective at the end — with the trial names MLflow and the reports use (`t0007 …`).

Ray's own progress tables, worker output (ANSI-coloured) and hints appear only with `--verbose`.
"""
from __future__ import annotations

import math

from ray import tune

from tuning.results.objective import FINAL, OBJECTIVE, OUTCOME
from tuning.results.outcome import outcome_of
from tuning.results.run_layout import TAG_STAGE
from tuning.study.study import Study
from tuning.tracking.tune_trial import error_text, trial_number


def say(line: str) -> None:
    print(line, flush=True)  # flushed: a log file or a cluster job's output reads it live


class ConsoleReporter(tune.Callback):
    """Picklable Tune callback (stored with the experiment like every callback)."""

    def __init__(self, study: Study):
        self.study = study

    def name(self, trial) -> str:
        return self.study.run_name(trial_number(trial), trial.config)

    def on_trial_start(self, iteration, trials, trial, **info):
        mark = "  [reference settings]" if self.study.is_reference(trial.config) else ""
        say(f"{self.name(trial)}  started{mark}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        metric = self.study.launch.study.metric
        value, se = result.get(OBJECTIVE), result.get(f"{metric}_se")
        shown = "n/a" if not isinstance(value, (int, float)) else f"{value:.4g}"
        if isinstance(se, (int, float)) and math.isfinite(se):
            shown += f" ± {se:.2g}"
        total = self.study.base_config().total_epochs
        final = "  (final)" if result.get(FINAL) else ""
        say(f"{self.name(trial)}  epoch {int(result.get('epoch', 0))}/{total}  {metric} {shown}{final}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        last = trial.last_result or {}
        outcome = outcome_of(last)
        if outcome == "complete":
            say(f"{self.name(trial)}  FINISHED  {self.study.launch.study.metric} {last.get(OBJECTIVE, math.nan):.4g}")
        elif outcome == "stopped":
            say(f"{self.name(trial)}  STOPPED by ASHA at epoch {int(last.get('epoch', 0))} (behind the others at "
                "that point; not ranked against complete trials)")
        elif outcome == "interrupted":
            say(f"{self.name(trial)}  INTERRUPTED at epoch {int(last.get('epoch', 0))} (resume=true continues it)")
        else:
            say(f"{self.name(trial)}  FAILED: it ended without a finite {self.study.launch.study.metric}")

    def on_trial_error(self, iteration, trials, trial, **info):
        say(f"{self.name(trial)}  FAILED: {error_text(trial)}")


def summary(study: Study, runs: list) -> str:
    """The table printed at the end: every trial of this study's parent run, complete ones ranked by the
    objective, then stopped and failed ones."""
    metric, mode = study.launch.study.metric, study.launch.study.mode
    rows = []
    for run in runs:
        outcome = run.data.tags.get(OUTCOME, run.info.status.lower())
        if run.data.tags.get(TAG_STAGE) == "confirm":  # tuning/search/confirm.py: a fresh seed of a top configuration
            outcome += ", confirmation"
        value = run.data.metrics.get(OBJECTIVE)
        se = run.data.metrics.get(f"{metric}_se")
        rows.append((outcome != "complete", value if value is not None else math.inf, run.info.run_name, outcome,
                     value, se))
    rows.sort(key=lambda r: (r[0], r[1] if mode == "min" else -r[1]))
    lines = [f"  {'#':>3}  {'trial':40s} {metric + ' (final)':>16s}  outcome"]
    for rank, (_, _, name, outcome, value, se) in enumerate(rows, 1):
        shown = "" if value is None else f"{value:.4g}" + (f" ± {se:.2g}" if se is not None else "")
        lines.append(f"  {rank:>3}  {name[:40]:40s} {shown:>16s}  {outcome}")
    return "\n".join(lines)

