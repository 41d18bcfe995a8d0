"""The two stages of a launch as Ray Tune experiments: the search (Optuna proposes, ASHA may stop) and the
confirmation (tuning/search/confirm.py: the top configurations and the reference on fresh seeds, every trial to its
end). Both name and record their trials in the study's storage (tuning/search/resume.py) and log through their own
`MlflowTracker` into the study's parent run.

Each Tune experiment is new (`<launch>`, `<launch>-resumed-HHMMSS`, `<launch>-confirmR-HHMMSS`): Tune runs
the trials, the storage remembers them. A resumed launch gives each stage the records of the interrupted
one: the search re-runs its unfinished trials and proposes the rest; the confirmation re-runs the round's
unfinished trials and skips those that ended.
"""
from __future__ import annotations

import math
import time

from ray import tune
from ray.tune.schedulers import FIFOScheduler
from ray.tune.search import ConcurrencyLimiter

from tuning.results.objective import OBJECTIVE
from tuning.results.outcome import STOPPING, interrupted
from tuning.results.race import replay
from tuning.results.race_design import confirm_offsets, design, noise_of, stored_design
from tuning.run.console import ConsoleReporter
from tuning.run.launch_context import Launch
from tuning.search.confirm import look_configs, plan, record_round
from tuning.search.optuna_search import FixedTrials, make_searcher
from tuning.search.resume import KeyedTrials, ResumedTrials, first_number, missing_seeds
from tuning.search.scheduler import make_scheduler
from tuning.state.history import trials_before
from tuning.state.storage import stored_study
from tuning.state.trial_records import TrialRecords, config_signature
from tuning.study.study import Study
from tuning.study.trial_keys import REPEAT_INDEX, ROUND, TRIAL_KEY
from tuning.tracking.mlflow_writer import MlflowTracker
from tuning.tracking.parent_run import study_trial_runs


def run_config(study: Study, name: str, tracker: MlflowTracker, verbose: bool) -> tune.RunConfig:
    return tune.RunConfig(name=name, storage_path=str(study.out_dir), callbacks=[tracker, ConsoleReporter(study)],
                          stop=StopOnInterrupt(),
                          verbose=1 if verbose else 0,  # Ray's progress tables only with --verbose
                          failure_config=tune.FailureConfig(max_failures=study.launch.study.max_failures),
                          checkpoint_config=tune.CheckpointConfig(num_to_keep=2))


class StopOnInterrupt(tune.Stopper):
    """Ends the Tune experiment once STOPPING is set: it catches a signal that arrived after the launcher
    checked STOPPING but before Tune listened for SIGUSR1. (Pickled by reference: Tune stores its stopper.)"""

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return STOPPING.is_set()


def tune_config(study: Study, searcher, scheduler, trials: int) -> tune.TuneConfig:
    """Both stages' Tune settings. Decision: actors are reused (Tune's default is not to). A new trial then
    starts in a worker that has already imported torch and warmed up its kernels instead of a fresh process:
    on the smoke study (2 concurrent, 10 trials of 2 tiny epochs) the launch took 28.7 s instead of 48.8 s,
    with the same objective to the last digit. It is safe because `run_trial` keeps no state between trials
    (it seeds, sets its threads and builds its Trainer each time); when Tune cannot reset an actor (a
    stopped trial's thread still running after 2 s) it starts a fresh one."""
    return tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=trials, metric=OBJECTIVE,
                           mode=study.launch.study.mode, trial_dirname_creator=tune_folder, reuse_actors=True)


def tune_folder(trial) -> str:
    """Tune's folder of a trial (in its experiment's folder): the trial's key, then Tune's id (a Tune cache;
    the trial's own folder is `<out_dir>/trials/<key>/`)."""
    return f"{trial.config.get(TRIAL_KEY, 'trial')}_{trial.trial_id}"


def experiment_name(launch: str, resumed: bool) -> str:
    return f"{launch}-resumed-{time.strftime('%H%M%S')}" if resumed else launch


def named_and_limited(study: Study, searcher, records: TrialRecords, launch: Launch):
    """The searcher as Tune gets it: trials named and recorded, at most `max_concurrent` at once."""
    earlier = trials_before(study_trial_runs(launch.client, launch.experiment_id, study.name))  # names go on
    named = KeyedTrials(searcher, records, launch.name, first_number(earlier, records))
    return ConcurrencyLimiter(named, max_concurrent=study.launch.study.max_concurrent)


def search_stage(study: Study, launch: Launch, trainable, verbose: bool) -> tuple[object, bool]:
    """Run the search stage (or what an interrupted launch left of it): (Tune's results or None, complete).
    A new launch first takes over the unfinished trials of earlier launches whose launchers are gone (the
    study's lock is held: none runs now) and runs them from their checkpoints, then proposes its own."""
    s, storage = study.launch.study, launch.storage
    records = TrialRecords(storage, launch.history, s.mode)
    before = [r for r in records.of_launch(launch.name) if r.stage == "search"] if launch.resumed else []
    adopted = [r for r in records.all() if r.stage == "search" and not r.ended and r.launch != launch.name]
    for record in adopted:  # from now on this launch's: its end, its compaction
        record.launch = launch.name
        records.put(record)
    numbers = {r.number for r in adopted if r.number is not None}
    siblings = [r for r in records.all() if r.ended and r.number in numbers and r not in before]  # ended seeds
    left = max(0, study.launch_trials(launch.continuing) - len(before))  # what the interrupted launch had not started
    proposals = max(0, left - len(missing_seeds(before, s.seeds)))
    searcher = make_searcher(study, storage, launch.name, launch.history) if proposals else None
    if before or adopted:
        searcher = ResumedTrials(searcher, before + adopted + siblings, s.seeds, stored_study(storage, launch.history))
    count = (len(searcher.queue) + proposals) if isinstance(searcher, ResumedTrials) else proposals
    if adopted:
        print(f"study {study.name}: {len(adopted)} unfinished trial(s) of an earlier launch run first, each from "
              "its checkpoint", flush=True)
    if count == 0:
        return None, not interrupted()
    tracker = MlflowTracker(study, launch.history, study.tracking_uri, launch.experiment_id, launch.parent_run_id)
    tuner = tune.Tuner(trainable,
                       tune_config=tune_config(study, named_and_limited(study, searcher, records, launch),
                                               make_scheduler(study, before + adopted), count),
                       run_config=run_config(study, experiment_name(launch.name, launch.resumed), tracker, verbose))
    results = tuner.fit()
    return results, not interrupted() and all(r.ended for r in records.of_launch(launch.name) if r.stage == "search")


def confirmation_stage(study: Study, launch: Launch, trainable, verbose: bool) -> tuple[list, bool]:
    """Run this launch's confirmation race, if one is due (tuning/search/confirm.py, tuning/results/race.py): look by look,
    the reference and the surviving candidates on the next fresh seeds, until the race ends. (Tune's results
    of each look that ran, complete.) The race's state is replayed from the study's records at every
    look, so a resumed launch re-runs the look's trials that had not ended (each from its checkpoint),
    skips those that had, and goes on exactly where the interrupted one stood."""
    optuna_study = stored_study(launch.storage, launch.history)
    due = plan(study, optuna_study) if optuna_study is not None else None
    if due is None:
        return [], True
    round_, top, reference = due
    records = TrialRecords(launch.storage, launch.history, study.launch.study.mode)
    held = records.all()
    race = stored_design(held, round_)
    if race is None:  # a new round: sized now, from the noise its history has measured
        noise = noise_of(study, held)
        race = design(study, len(top), noise.sigma if noise else math.nan)
    configurations = ([reference] if reference else []) + top
    print(f"study {study.name}: confirming the top {len(top)} configuration(s) against the reference settings on "
          f"fresh seeds the search never used, as a race (looks after {', '.join(map(str, race.looks))} seeds; at "
          f"most {race.budget} runs; round {round_})", flush=True)
    results, seeds = [], 0
    while True:
        state = race_state(study, records, round_, race, configurations, seeds)
        if state.status != "running" or interrupted():
            break
        survivors = [c for c in configurations if c is reference or key_of(study, c) in
                     {e.key for e in state.survivors}]
        results.append(run_look(study, launch, trainable, verbose, records,
                                look_configs(study, round_, race, survivors, state.next_seeds), round_))
        if interrupted():
            break
        seeds = state.next_seeds
    complete = state.status != "running" and not interrupted()
    if complete:
        print(f"study {study.name}: {race_line(state)}", flush=True)
        record_round(optuna_study, round_, top, launch.name)
    return results, complete


def key_of(study: Study, config: dict) -> tuple:
    return tuple(config.get(k) for k in study.search)


def race_state(study: Study, records: TrialRecords, round_: int, race, configurations: list[dict], seeds: int):
    """The race replayed from the round's complete trials, over its first `seeds` fresh seeds (a trial that
    failed is a missing pair)."""
    offsets = confirm_offsets(study, round_, seeds)
    values = {key_of(study, c): {} for c in configurations}
    reference = next((key_of(study, c) for c in configurations if study.is_reference(c)), None)
    for r in records.all():
        if (r.stage == "confirm" and r.config.get(ROUND) == round_ and r.status == "complete" and r.values
                and r.config.get(REPEAT_INDEX) in offsets and key_of(study, r.config) in values):
            values[key_of(study, r.config)][r.config[REPEAT_INDEX]] = r.epochs()[-1][1]
    candidates = {k: v for k, v in values.items() if k != reference}
    return replay(values[reference] if reference is not None else None, candidates, race, study.launch.study.mode,
                  offsets, reference_key=reference if reference is not None else ("reference",))


def run_look(study: Study, launch: Launch, trainable, verbose: bool, records: TrialRecords, configs: list[dict],
             round_: int):
    """One look's trials that have not ended yet (an unfinished one continues from its checkpoint)."""
    s = study.launch.study
    earlier = {config_signature(r.config): r for r in records.all() if r.stage == "confirm"}
    todo = []
    for config in configs:
        record = earlier.get(config_signature(config))
        if record is None:
            todo.append(config)
        elif not record.ended:
            todo.append(dict(config, **{TRIAL_KEY: record.key}))  # continues from its checkpoint
    if not todo:
        return None
    tracker = MlflowTracker(study, launch.history, study.tracking_uri, launch.experiment_id, launch.parent_run_id)
    searcher = named_and_limited(study, FixedTrials(todo, OBJECTIVE, s.mode), records, launch)
    tuner = tune.Tuner(trainable,
                       tune_config=tune_config(study, searcher, FIFOScheduler(), len(todo)),
                       run_config=run_config(study, f"{launch.name}-confirm{round_}-{time.strftime('%H%M%S')}",
                                             tracker, verbose))
    return tuner.fit()


def race_line(state) -> str:
    """What the race found, in one line (the launcher's; the report and the note say more)."""
    n = len(state.seeds)
    if state.status == "confirmed":
        c = state.winner.comparison
        return (f"the race confirmed a candidate better than the reference settings after {n} fresh seeds "
                f"(difference {c.difference:+.4g}, one-sided bound {c.difference + c.half_width:+.4g})")
    return f"the race showed no candidate better than the reference settings ({n} fresh seeds)"
