"""The two stages of a launch as Ray Tune experiments: the search (Optuna proposes, ASHA may stop) and the
confirmation (tuning/confirm.py: the top configurations and the reference on fresh seeds, every trial to its
end). Both log through their own `MlflowTracker` into the study's parent run; trial names go on from the
trials already in MLflow."""
from __future__ import annotations

import time

from ray import tune
from ray.tune.schedulers import FIFOScheduler
from ray.tune.search import ConcurrencyLimiter

from .confirm import plan, record_round
from .console import ConsoleReporter
from .history import trials_before
from .objective import OBJECTIVE
from .parent_run import study_trial_runs
from .search import FixedTrials, make_scheduler, make_searcher, stored_study
from .study import Study
from .tracking import MlflowTracker
from .tune_state import StateSigner


def run_config(study: Study, name: str, tracker: MlflowTracker, verbose: bool, signed: bool) -> tune.RunConfig:
    callbacks = [tracker, ConsoleReporter(study)] + ([StateSigner(study.out_dir / name)] if signed else [])
    return tune.RunConfig(name=name, storage_path=str(study.out_dir), callbacks=callbacks,
                          verbose=1 if verbose else 0,  # Ray's progress tables only with --verbose
                          failure_config=tune.FailureConfig(max_failures=study.launch.study.max_failures),
                          checkpoint_config=tune.CheckpointConfig(num_to_keep=2))


def search_tuner(study: Study, trainable, storage, name: str, client, experiment_id: str, parent_run_id: str,
                 verbose: bool) -> tune.Tuner:
    study.trials_before = trials_before(study_trial_runs(client, experiment_id, study.name))
    tracker = MlflowTracker(study, study.tracking_uri, experiment_id, parent_run_id)
    return tune.Tuner(trainable,
                      tune_config=tune.TuneConfig(search_alg=make_searcher(study, storage, name),
                                                  scheduler=make_scheduler(study), num_samples=study.num_trials,
                                                  metric=OBJECTIVE, mode=study.launch.study.mode),
                      run_config=run_config(study, name, tracker, verbose, signed=True))


def confirm(study: Study, trainable, storage, name: str, client, experiment_id: str, parent_run_id: str,
            verbose: bool, interrupted: dict) -> tuple[object, bool]:
    """Run this launch's confirmation round, if one is due: (Tune's results or None, complete)."""
    optuna_study = stored_study(storage, study.optuna_name)
    due = plan(study, optuna_study) if optuna_study is not None else None
    if due is None:
        return None, True
    round_, top, configs = due
    s = study.launch.study
    print(f"study {study.name}: confirming the top {len(top)} configuration(s) and the reference settings on "
          f"{s.confirm_seeds} fresh seed(s) the search never used: {len(configs)} trials (round {round_})", flush=True)
    study.trials_before = trials_before(study_trial_runs(client, experiment_id, study.name))
    tracker = MlflowTracker(study, study.tracking_uri, experiment_id, parent_run_id)
    searcher = ConcurrencyLimiter(FixedTrials(configs, OBJECTIVE, s.mode), max_concurrent=s.max_concurrent)
    tuner = tune.Tuner(trainable,
                       tune_config=tune.TuneConfig(search_alg=searcher, scheduler=FIFOScheduler(),
                                                   num_samples=len(configs), metric=OBJECTIVE, mode=s.mode),
                       # its own Tune experiment per attempt: a resumed launch runs an interrupted round again
                       # whole, beside (never over) the attempt that was interrupted
                       run_config=run_config(study, f"{name}-confirm{round_}-{time.strftime('%H%M%S')}", tracker,
                                             verbose, signed=False))
    results = tuner.fit()
    complete = results.num_terminated + results.num_errors >= len(configs) and interrupted["signal"] is None
    if complete:
        record_round(optuna_study, round_, top, name)
    return results, complete
