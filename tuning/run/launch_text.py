"""What the launcher prints before a study (`--dry-run`: every trial known in advance) and after it (the
best configuration, confirmed on fresh seeds where the study confirms, and where to open the results)."""
from __future__ import annotations

import math

from tuning.redact import redact
from tuning.results.race import detectable_gain
from tuning.results.race_design import CONFIRM_SEED_BASE, budget_source, design
from tuning.results.race_text import could_see
from tuning.run.history_check import check_stored_history
from tuning.search.confirm import history_noise
from tuning.study.study import Study, base_changes, planned_trials


def race_could_see(study: Study, history: str | None = None) -> str:
    """What the study's confirmation race would have detected (80 % power), from the seed noise its `history`
    measured (by default the history a launch now would continue)."""
    noise = history_noise(study, history)
    sigma = noise.sigma if noise is not None else math.nan
    metric = study.launch.study.metric
    return could_see(sigma, design(study, sigma=sigma), metric, "its race would detect") or (
        f"its race would detect a gain of {detectable_gain(1.0, design(study)):.3g} σ or more (80 % power; "
        "σ, the seed noise, was not measured)")


def dry_run(study: Study) -> None:
    """Print every trial known before the search starts, and the count; start nothing. Then check the study's
    stored history as the launch would: a launch that would be refused (other settings than its history's,
    a damaged storage) is refused here too, with the same line and exit 2."""
    s = study.launch.study
    plan = planned_trials(study)
    epochs = sorted({trial["epochs"] for trial in plan}) or [study.base_config().total_epochs]
    per_trial = f"{epochs[0]} epochs per trial" if len(epochs) == 1 else \
        f"{'/'.join(str(e) for e in epochs)} epochs per trial, by cell"
    print(f"study {study.name}: objective {s.metric} at the final evaluation ({s.mode}); {per_trial}")
    base = " ".join(f"{k}={v}" for k, v in sorted(base_changes(study).items())) or "(engine defaults)"
    print(f"base (engine keys the study sets): {base}")
    print("trials (engine keys that differ from the base):")
    for number, trial in enumerate(plan, 1):
        changed = " ".join(f"{k}={v}" for k, v in sorted(trial["changed"].items())) or "(the base)"
        mark = "  [reference]" if trial["reference"] else ""
        vs = f"  {trial['vs']}" if trial.get("vs") else ""
        print(f"  {number:4d}  {trial['label'] or '-':32s} seed={trial['seed']:<3d} {changed}{mark}{vs}")
    if study.is_grid:
        print(f"{len(plan)} trials ({study.num_configurations} configurations x {s.seeds} seed(s)), no duplicates")
    else:
        space = ", ".join(f"{n}~{d.kind}[{d.low}, {d.high}]" if d.kind in ("uniform", "loguniform", "int")
                          else f"{n}~{d.kind}{d.choices}" for n, d in study.search.items())
        print(f"{study.num_trials} trials: the {len(plan)} above, then {study.num_trials - len(plan)} proposed by "
              f"TPE from {space}")
    if s.confirm_top > 0:
        print(confirmation_plan(study))
    else:
        print("no confirmation stage (study.confirm_top=0): the best trial is reported on the evaluation that "
              "picked it")
    check_stored_history(study)


def confirmation_plan(study: Study, noise=None) -> str:
    """The race the study will run and the smallest gain it detects (80 % power), in the objective's units
    when the study's history has measured its seed noise, else in units of that noise."""
    s = study.launch.study
    noise = noise if noise is not None else history_noise(study)
    sigma = noise.sigma if noise is not None else math.nan
    race = design(study, sigma=sigma)
    base = study.base_config().train.seed + CONFIRM_SEED_BASE
    head = (f"then confirmation: the top {s.confirm_top} configuration(s) race the reference settings on fresh seeds "
            f"({base}, {base + 1}, ...; a later round of a continuation uses the next hundred), looking after "
            f"{', '.join(map(str, race.looks))} seeds; at most {race.budget} runs "
            f"({budget_source(study, sigma, race.budget)}); the answer (best=true, registry) comes from them")
    if math.isfinite(sigma):
        gain = detectable_gain(sigma, race)
        return (f"{head}\nsmallest improvement it detects (80 % power): {gain:.3g} {s.metric}, from this study's "
                f"{noise.describe(s.metric)}")
    return (f"{head}\nsmallest improvement it detects (80 % power): {detectable_gain(1.0, race):.3g} σ, σ being the "
            f"seed-to-seed spread of one run's {s.metric} (not measured yet: the reference's seeds measure it; on "
            "the synthetic tuner-check task σ = 0.14 FID, benchmarks/README.md)")


def announce(study: Study, launch, so_far: tuple[int, str | None] = (0, None)) -> None:
    """The launch's first line: whether it starts a study, continues its history (`so_far`: the trials the
    history holds and its answer, tuning.tracking.parent_run.history_so_far) or resumes an interrupted launch
    (issue 30); for a new history, also what became of the earlier ones."""
    if study.launch.study.new_history and not launch.resumed:
        print(f"study {study.name}: a new history, {launch.history} (the earlier ones stay in the storage and "
              "in MLflow, linked from this launch's parent run)", flush=True)
    trials, answer = so_far
    if launch.resumed:
        what = f"resumes the interrupted launch {launch.name}"
    elif launch.continuing:
        what = (f"continues its history {launch.history} ({trials} trial(s) so far; its answer so far: "
                f"{answer or 'none yet'})")
    else:
        what = "starts a new study" if not study.launch.study.new_history else "starts the new history"
    print(f"study {study.name}: {what}; {study.launch_trials(launch.continuing)} trials, objective: "
          f"{study.launch.study.metric} at the final evaluation ({study.launch.study.mode}); "
          f"MLflow {redact(study.tracking_uri)} run "
          f"{launch.parent_run_id}", flush=True)
