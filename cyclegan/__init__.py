"""Catholic2Gogh's CycleGAN engine: pure PyTorch (+ torchmetrics for FID/KID).

Entry points: `python -m cyclegan.train key=value ...` and `python -m cyclegan.translate ...`.
Library use: `Trainer(load_config([...])).epochs()` (from `cyclegan.trainer` and `cyclegan.config`)
yields one `EpochReport` per epoch. Importing this package imports nothing heavy, so readers of the
metric-name contract (`cyclegan.metric_names`) do not load torch. This package never imports ray,
optuna, mlflow, tuning or dashboards.
"""
