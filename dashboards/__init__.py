"""Reports built from MLflow runs and the Optuna storage of a study. Imports no training code."""
