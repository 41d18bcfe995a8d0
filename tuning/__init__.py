"""Catholic2Gogh's platform: Ray Tune trials of the `cyclegan` engine, Optuna search, MLflow tracking.

`python -m tuning.launch study=NAME` runs `studies/NAME.yaml`. The engine knows nothing of this package.

The parts, and their modules:
- entry points: `launch` (the command line), `launch_phases` (check → acquire → run → finish), `submit`
  (a study as a Ray job), `launch_text` (what a launch prints), `console` (its live lines);
- the study and its search: `study`, `study_checks`, `config` (platform keys), `objective` (the one
  objective and noise rule), `noise` (the study's pooled seed noise), `race` (the
  confirmation race and what it can detect), `search` (Optuna through Ray Tune), `scheduler` (ASHA), `seeds`, `confirm`,
  `comparators`, `stages` (the search and confirmation as Tune experiments), `trainable` (one trial);
- state in the storage: `trial_records` (every trial), `launch_state` (every launch, the storage's
  identity), `resume` (trials named, recorded and resumed), `study_lock`, `history`, `launches`
  (launch arguments), `interrupts`, `cleanup`, `reaper`, `local_ray`, `trial_storage` (disk);
- tracking: `tracking` (the MLflow writer), `parent_run`, `study_note`, `run_layout`, `redact`.
"""
