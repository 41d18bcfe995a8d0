"""What a resume reads: the Optuna storage (trial records, launches, history, the lock) and trial folders.
No Ray, no MLflow."""
