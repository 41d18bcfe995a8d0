"""Catholic2Gogh's platform: Ray Tune trials of the `cyclegan` engine, Optuna search, MLflow tracking.

`python -m tuning.launch study=NAME` runs `studies/NAME.yaml`. The engine knows nothing of this package.

Six parts, each importing only those after it (docs/platform.md, "Layout"; checked by `lint-imports`):
- `run/`      the launcher process: phases, stages, the trainable, interrupts, a private Ray, what it prints;
- `search/`   Tune's search algorithm and scheduler: Optuna, seeds, resumed trials, ASHA, confirmation;
- `tracking/` MLflow: the one writer, the parent run, the study note, catch-up (never imports `search/`);
- `state/`    what a resume reads, in the Optuna storage: trial records, launches, history, the lock;
- `results/`  how results are judged (the only platform part the dashboards use): the objective and noise
              rule, seeds, the race, a trial's outcome, the run layout;
- `study/`    what a study is: the study file, its checks, platform keys, comparators.
Entry points: `launch` (the command line), `submit` (a study as a Ray job); `redact` is used by all.
"""
