"""Catholic2Gogh's platform: Ray Tune trials of the `cyclegan` engine, Optuna search, MLflow tracking.

`python -m tuning.launch study=NAME` runs `studies/NAME.yaml`. The engine knows nothing of this package.
"""
