"""Catholic2Gogh's CycleGAN engine: pure PyTorch (+ torchmetrics for FID/KID).

Entry points: `python -m cyclegan.train key=value ...` and `python -m cyclegan.translate ...`.
Library use: `Trainer(load_config([...])).epochs()` yields one `EpochReport` per epoch.
This package never imports ray, optuna, mlflow, tuning or dashboards.
"""
from .config import Config, load_config
from .configtools import UserError
from .trainer import EpochReport, Trainer, TrainingDiverged

__all__ = ["Config", "load_config", "UserError", "Trainer", "EpochReport", "TrainingDiverged"]
