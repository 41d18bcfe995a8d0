"""How results are judged: the objective and noise rule, seeds, equivalence, the race, a trial's outcome,
the run layout. No Ray, Optuna or MLflow: the dashboards import this part (and `study/`) only."""
