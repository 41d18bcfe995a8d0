"""What a study is: the study file, its checks, the platform keys, comparators. No Ray, Optuna or MLflow."""
