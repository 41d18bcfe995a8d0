"""Platform configuration (SPEC §2): study, trial resources, MLflow tracking and Ray keys.

These sit beside the engine's keys in a study YAML and on the `tuning.launch` command line; they are
checked by the same strict rules as the engine's (`cyclegan.configtools`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional


@dataclass
class StudyConfig:
    name: str = ""
    metric: str = "fid"                 # a metric of cyclegan/metric_names.py reported at evaluations (fid, kid, fid_b2a, ...)
    mode: Literal["min", "max"] = "min"
    num_samples: Optional[int] = None   # configurations to try (grid studies: default = the whole grid)
    max_concurrent: int = 2             # trials running at once (ConcurrencyLimiter)
    seeds: int = 1                      # repeats of each configuration with train.seed = seed + 0, 1, ...
    baseline_seeds: int = 3             # seeds of the reference settings (the training-noise floor); with
                                        # seeds > 1 every configuration, the reference too, runs `seeds` seeds
    scheduler: Literal["asha", "none"] = "asha"
    grace_period: int = 1               # ASHA: evaluations before a trial may be stopped
    reduction_factor: int = 3
    sampler_seed: int = 0               # TPESampler / GridSampler seed
    confirm_top: int = 2                # after the search, the top N configurations race the reference on fresh
                                        # seeds (tuning/search/confirm.py, tuning/results/race.py); 0 = no confirmation
    confirm_seeds: int = 3              # ... the race's first look after this many fresh seeds
    confirm_step: int = 3               # ... each later look after this many more
    confirm_budget: int = 0             # ... runs at most, the reference's included; 0 = 0.65 x the search's trials
                                        # (benchmarks/power.py measured what each budget buys)
    target_effect: float = 0.0          # the smallest gain (objective units) worth finding: confirm_budget=0 is then
                                        # sized so the race detects it with 80 % power (tuning/results/race.py budget_for)
    margin: float = 0.0                 # equivalence margin (objective units) for "no difference" / "stops helping";
                                        # 0 = one seed-to-seed σ (tuning/results/equivalence.py)
    n_startup_trials: int = 0           # TPE's random proposals before it models; 0 = sized to the study's budget
                                        # (tuning/search/optuna_search.py startup_trials; benchmarks/tuner_check.py measured it)
    storage: Optional[str] = None       # Optuna RDB URL (default: sqlite:///<out_dir>/optuna.db)
    out_dir: Optional[str] = None       # default: runs/studies/<name>
    max_failures: int = 2               # restarts of a crashed trial from its last checkpoint
    shared_out_dir: bool = False        # out_dir is on storage every node mounts (NFS): required on a multi-node cluster
    new_history: bool = False           # start a new history (Optuna study + parent run, linked to the old) when
                                        # the base config or search space changed; see tuning/state/history.py


@dataclass
class TrialConfig:
    cpus: float = 1.0
    gpus: float = 0.0                   # fractions pack several trials on one GPU, e.g. 0.25


@dataclass
class MlflowConfig:
    tracking_uri: Optional[str] = None  # default: sqlite:///<out_dir>/mlflow.db, written by the launcher only
    experiment: Optional[str] = None    # default: the study name
    register_best: bool = True          # register the best trial's generators in the Model Registry


@dataclass
class RayConfig:
    address: Optional[str] = None       # default: start a local Ray; "auto" or "ray://host:10001" joins one
    num_cpus: Optional[int] = None      # local Ray only (default: all cores)


@dataclass
class LaunchConfig:
    study: StudyConfig = field(default_factory=StudyConfig)
    trial: TrialConfig = field(default_factory=TrialConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    resume: bool = False


PLATFORM_SECTIONS = ("study", "trial", "mlflow", "ray", "resume")
