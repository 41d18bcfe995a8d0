"""Where a trial's MLflow run keeps its artifacts, and which history it belongs to: one definition for the
tracker that writes them and the dashboards that read them (no Ray import here, so `dashboards` can use it).
"""
from __future__ import annotations

GENERATORS = "final_generators"  # artifact folder: G_A and G_B at the trial's final evaluation

# MLflow tags the platform writes (tuning/tracking/) and the launcher and dashboards read
TAG_STUDY = "study"              # every run of a study: its name
TAG_KIND = "kind"                # "study" on the parent run
TAG_HISTORY = "history"          # the Optuna study (history) the run belongs to
TAG_TRIAL = "trial_id"           # a trial's key (t0007)
TAG_SEED = "seed"                # the engine seed the trial ran
TAG_REFERENCE = "baseline"       # "true" on the reference settings' runs: their seeds are the noise floor
TAG_STAGE = "stage"              # "search" or "confirm"
TAG_ROUND = "confirm_round"      # which confirmation round
TAG_RACE = "race"                # the confirmation race's design, candidates/first/step/budget
TAG_BEST = "best"                # "true" on the study's answer
TAG_RANK = "rank"                # "01" on the study's answer, then its history's other complete runs by objective
TAG_ANSWER = "answer"            # on the parent run: the answer in brief (its description holds it in full)
ANSWER_VALUE = "answer_objective"  # metric of the answer's run: the value the study reports as its answer (for a
                                   # confirmed configuration its mean over the fresh seeds, not this run's own value)
TRUE = "true"


def is_reference_run(run) -> bool:
    return run.data.tags.get(TAG_REFERENCE) == TRUE


def history_of(run, study_name: str) -> str:
    """The history (Optuna study, tuning/state/history.py) a run belongs to; runs logged before histories were
    tagged belong to the first, named like the study."""
    return run.data.tags.get(TAG_HISTORY, study_name)


def image_step(artifact_path: str) -> int:
    """The step of an image logged with `log_image(..., step=N)` (`images/a2b+step+N+...png`), else 0."""
    head = artifact_path.split("+step+")
    return int(head[1].split("+")[0]) if len(head) > 1 else 0


def param_value(text):
    """An MLflow param (always stored as text) as the value it was: "3" -> 3, "6.46" -> 6.46, "lsgan" stays,
    None stays None."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
