"""The study's `search:` block as an Optuna search for Ray Tune (the scheduler is tuning/search/scheduler.py).

Optuna proposes (through Ray's `OptunaSearch`) with a seeded `TPESampler`, or a `GridSampler` for
grid studies (ablations), and keeps every trial in the study's RDB storage so `optuna-dashboard` and
parameter importance can read it later; the value it optimises is the study's `objective`
(tuning/results/objective.py). Repeats (`study.seeds`) are `SeedRepeater` (Ray's Repeater; tuning/results/seeds.py says why), which
hands the searcher the mean over seeds, per epoch and at the end; `ConcurrencyLimiter` bounds the trials in
flight. The space function
only declares distributions; it computes nothing.
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict

import optuna
from ray.tune.search import Repeater, Searcher
from ray.tune.search.optuna import OptunaSearch

from tuning.results.objective import FINAL, OBJECTIVE
from tuning.results.outcome import outcome_of
from tuning.results.seeds import configuration_value
from tuning.state.storage import existing_trials, optuna_storage
from tuning.study.study import Study
from tuning.study.trial_keys import OPTUNA_NUMBER, REPEAT_INDEX

LAUNCH_ATTR = "launch"  # Optuna trial user attribute: the Tune experiment (launch) that asked for the trial


class SearchSpace:
    """Optuna define-by-run space. A class, not a closure: Ray pickles the searcher with the experiment."""

    def __init__(self, study: Study):
        self.search = study.search

    def __call__(self, trial) -> None:
        for name, d in self.search.items():
            if d.kind == "uniform":
                trial.suggest_float(name, d.low, d.high)
            elif d.kind == "loguniform":
                trial.suggest_float(name, d.low, d.high, log=True)
            elif d.kind == "int":
                trial.suggest_int(name, int(d.low), int(d.high))
            else:
                trial.suggest_categorical(name, d.choices)


class StudySearch(OptunaSearch):
    """Ray's OptunaSearch with the study's objective (tuning/results/objective.py) and reference seeds.

    - Intermediate values are reported at step = epoch (Ray's default is its iteration counter), so
      Optuna's history and optuna-dashboard show the objective against the epoch the trial reached.
    - A trial that ends without its final evaluation was stopped by the scheduler (ASHA): it is told
      PRUNED, and Optuna records its last intermediate value, the objective at the stop. Ray would store
      it COMPLETE with an early, unfinished value that TPE would then learn from as if it were final.
    - The reference settings are enqueued `baseline_seeds` times, each carrying a `seed_index` user
      attribute that becomes the trial's seed offset: their spread is the study's training-noise floor.
    - Every trial config carries its Optuna trial number (`__optuna_number__`), which the trial's record in
      the storage keeps (tuning/state/trial_records.py); the Optuna trial names its trial's key (`trial_key`, the
      MLflow runs' `trial_id` tag). With `study.seeds > 1` one Optuna trial stands for its seeds (Ray's
      Repeater): it names the first seed's trial and holds the mean over the seeds.
    - Every Optuna trial records the launch (Tune experiment) that asked for it (`launch`), so a launch
      only ever marks its own orphans, never the running trials of another launch of the study.
    - A trial ended by Ctrl+C / SIGTERM is told nothing: it stays RUNNING for `resume=true` to continue.
    """

    def __init__(self, *args, baseline_points: list[dict] | None = None, launch: str = "", **kwargs):
        self._baseline_points = baseline_points or []
        self._launch = launch  # the Tune experiment asking; its orphans are the only ones it may fail
        super().__init__(*args, **kwargs)

    def _setup_study(self, mode):
        super()._setup_study(mode)
        for index, point in enumerate(self._baseline_points):
            self._ot_study.enqueue_trial(point, user_attrs={"seed_index": index})
        self._baseline_points = []  # enqueued once, in the storage; never again on a restore

    def suggest(self, trial_id: str):
        config = super().suggest(trial_id)
        ot_trial = self._ot_trials[trial_id]
        ot_trial.set_user_attr(LAUNCH_ATTR, self._launch)
        index = ot_trial.user_attrs.get("seed_index")
        if config is not None:
            config[OPTUNA_NUMBER] = ot_trial.number  # the trial's record names it (tuning/state/trial_records.py)
            if index:
                config[REPEAT_INDEX] = int(index)
        return config

    def on_trial_result(self, trial_id: str, result: dict):
        if trial_id in self._completed_trials or OBJECTIVE not in result:
            return
        report_value(self._ot_trials[trial_id], result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        self._completed_trials.add(trial_id)
        tell_outcome(self._ot_study, self._ot_trials[trial_id], result, error)


def report_value(ot_trial, result: dict) -> None:
    """An evaluation as the Optuna trial's intermediate value at step = epoch (once per step)."""
    with warnings.catch_warnings():  # a step reported before a restart is kept, not reported again
        warnings.simplefilter("ignore")
        try:
            ot_trial.report(float(result[OBJECTIVE]), int(result.get("epoch", 0)))
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # the storage already holds this trial's final value


# What Optuna is told of each way a trial ends (tuning/results/outcome.py classifies the end); an interrupted
# trial is told nothing: it stays RUNNING and resume=true continues it (tuning/run/interrupts.py).
OPTUNA_STATE = {"complete": optuna.trial.TrialState.COMPLETE, "stopped": optuna.trial.TrialState.PRUNED,
                "failed": optuna.trial.TrialState.FAIL}


def tell_outcome(ot_study: optuna.Study, ot_trial, result: dict | None, error: bool) -> None:
    """Finish an Optuna trial from the result that ended its Tune trial: COMPLETE with its final objective,
    PRUNED when the scheduler stopped it (Optuna keeps its last intermediate value), FAIL on error; nothing
    when the launcher's stop interrupted it."""
    outcome = outcome_of(result, error)
    if outcome == "interrupted":
        return
    if outcome != "failed" and "epoch" in result:
        # Ray hands a result that ends the trial (a scheduler's stop, max_t) to on_trial_complete only:
        # it is an evaluation like the others, and for a stopped trial the value Optuna keeps.
        report_value(ot_trial, result)
    value = float(result[OBJECTIVE]) if outcome == "complete" else None
    try:
        ot_study.tell(ot_trial, value, state=OPTUNA_STATE[outcome])
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
        pass  # already finished


def fail_orphans(storage: optuna.storages.BaseStorage, name: str, launches: set[str]) -> int:
    """After a complete launch, Optuna trials still RUNNING that `launches` asked for (this launch, and one
    whose launcher was killed and whose lock it took over) were asked for before a SIGKILL and after Tune's
    last state snapshot; nothing will ever finish them. Mark them FAIL so the history says what happened
    and TPE does not wait on them. Trials of other launches are left alone: they may be running now.
    Trials stored before launches were recorded (no `launch` attribute) count as orphans, as they did."""
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return 0
    orphans = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
               if t.user_attrs.get(LAUNCH_ATTR, "") in launches | {""}]
    for trial in orphans:
        study._storage.set_trial_system_attr(trial._trial_id, "fail_reason", "orphaned: its launcher was killed")
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    return len(orphans)


def make_sampler(study: Study, done: int = 0) -> optuna.samplers.BaseSampler:
    """Seeded for repeatable studies. A continuation offsets the seed by the trials already in the
    storage: the same seed would replay the same random start-up proposals, i.e. rerun finished configs."""
    seed = study.launch.study.sampler_seed + done
    if study.is_grid:
        return optuna.samplers.GridSampler({n: d.choices for n, d in study.search.items()}, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials(study))


def startup_trials(study: Study) -> int:
    """How many finished trials TPE waits for before it models (random proposals until then; Optuna counts
    the reference seeds, which all sit at one point): `study.n_startup_trials`, or when 0 one per 8 trials of
    the launch, at least 4 and at most Optuna's default 10. Decided on a family of 32 landscapes
    (benchmarks/landscapes.py: the stored tuner-check grid with its λ_id columns and λ_cyc rows relabelled in
    every order, and smooth functions with the optimum inside the range; figures in benchmarks/README.md): at
    8 trials with 3 reference seeds only a start-up of 4 lets TPE model at all, and it beats random search on
    average (regret 0.030 vs 0.041 of the range); at 16 and 32 trials the start-up of 4, 8 or 10 changes the
    regret by at most 0.002, so the default stays 4 below 40 trials, growing to Optuna's 10 for long studies
    (not measured here)."""
    s = study.launch.study
    return s.n_startup_trials if s.n_startup_trials > 0 else min(10, max(4, study.num_trials // 8))


def make_searcher(study: Study, storage: optuna.storages.BaseStorage | None = None, launch: str = "",
                  history: str | None = None):
    """The searcher of a launch in `history` (the study's first, named after it, by default). A launch whose
    history already has trials continues it: TPE learns from all of them, and the baseline, evaluated by the
    first launch, is not queued again. Optuna optimises the study's `objective` (tuning/results/objective.py),
    the value every report ranks by."""
    s = study.launch.study
    history = history or study.name
    storage = storage or optuna_storage(study.storage_url)
    done = existing_trials(storage, history)
    baseline = None if done else study.baseline_point()
    searcher = StudySearch(space=SearchSpace(study), metric=OBJECTIVE, mode=s.mode, sampler=make_sampler(study, done),
                           study_name=history, storage=storage,
                           baseline_points=[baseline] * study.reference_repeats if baseline else None,
                           launch=launch)
    if s.seeds > 1:
        searcher = SeedRepeater(searcher, repeat=s.seeds, set_index=True)  # one objective: the mean (tuning/results/seeds.py)
    return searcher  # the launch wraps it (tuning/run/stages.py): keys and records, then the concurrency limit


class FixedTrials(Searcher):
    """Hands out a fixed list of trial configs, then says it is finished (the confirmation stage,
    tuning/search/confirm.py: known settings on fresh seeds, nothing to search and nothing told to Optuna)."""

    def __init__(self, configs: list[dict], metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self.queue = [dict(c) for c in configs]

    def suggest(self, trial_id: str):
        return self.queue.pop(0) if self.queue else Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass


class SeedRepeater(Repeater):
    """Ray's Repeater, plus the per-epoch mean over seeds as the configuration's intermediate values."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._by_epoch: dict[str, dict[int, dict[str, float]]] = {}   # primary trial -> epoch -> trial -> value
        self._told: dict[str, set[int]] = defaultdict(set)            # primary trial -> epochs reported

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._note(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False, **kwargs) -> None:
        """Once every seed has ended, the configuration is told its one value by tuning.results.seeds.
        configuration_value: the same state and value whichever seed failed or ended last (Ray's Repeater
        passes on the last seed's error flag, so one failed seed made the configuration FAIL only if it
        ended last)."""
        outcome = outcome_of(result, error)
        if outcome == "interrupted":
            return  # its configuration stays RUNNING in Optuna; resume=true finishes it (tuning/search/resume.py)
        if result:  # the last result of a trial can arrive here only
            self._note(trial_id, result)
        group = self._trial_id_to_group.get(trial_id)
        if group is None:
            return
        group.report(trial_id, float(result[OBJECTIVE]) if outcome == "complete" else math.nan)
        if group.finished_reporting():
            value = configuration_value([None if math.isnan(v) else v for v in group.scores()])
            self.searcher.on_trial_complete(group.primary_trial_id,
                                            result={OBJECTIVE: value, FINAL: True} if value is not None else None,
                                            error=value is None)

    def _note(self, trial_id: str, result: dict) -> None:
        group = self._trial_id_to_group.get(trial_id)
        if group is None or OBJECTIVE not in result or "epoch" not in result:
            return
        value, epoch = float(result[OBJECTIVE]), int(result["epoch"])
        primary = group.primary_trial_id
        seen = self._by_epoch.setdefault(primary, {}).setdefault(epoch, {})
        seen[trial_id] = value
        if len(seen) == self.repeat and epoch not in self._told[primary] and all(map(math.isfinite, seen.values())):
            self._told[primary].add(epoch)
            self.searcher.on_trial_result(primary, {OBJECTIVE: sum(seen.values()) / len(seen), "epoch": epoch})
