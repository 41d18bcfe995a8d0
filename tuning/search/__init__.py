"""Tune's search algorithm and scheduler: Optuna through Ray Tune, seeds, resumed trials, ASHA, confirmation
planning. Never imports `tracking/`."""
