"""What one launch holds while it runs. Only the phases (check, acquire, execute, finish) set its fields.

The study (tuning/study/study.py) is the definition and never changes during a launch; which of its histories
this launch searches in, and whether that history already holds trials, belong to the launch."""
from __future__ import annotations

from dataclasses import dataclass, field

from tuning.study.study import Study


@dataclass
class Launch:
    name: str
    resumed: bool
    history: str             # the Optuna study of this launch's history (tuning/state/history.py)
    storage: object
    client: object
    own_launches: set[str]
    continuing: bool = False  # its history already held trials: the reference's seeds are not queued again
    lock: object = None
    reaper: object = None  # its pipe is held open for the life of this process
    experiment_id: str = ""
    parent_run_id: str = ""
    results: list = field(default_factory=list)   # Tune's results of each stage that ran
    complete: bool = False


def experiments(study: Study, launch: Launch) -> list[str]:
    """The Tune experiments (folders in out_dir) of this launch: its first, resumed and confirmation ones."""
    return sorted(p.name for p in study.out_dir.glob(f"{launch.name}*") if p.is_dir())
