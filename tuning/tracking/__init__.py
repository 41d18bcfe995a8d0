"""MLflow: the one writer (a Tune callback), the parent run, the study note, catch-up. Never imports `search/`."""
