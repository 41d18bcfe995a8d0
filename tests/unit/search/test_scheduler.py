"""ASHA's decisions survive a resume (issue 21, item 1): a launch interrupted at any moment and resumed
stops the same trials at the same epochs as one that ran through, because the resumed launch's scheduler
rebuilds its rungs from the trials' records in the storage and knows trials by key, not by Tune's id.

Simulated studies drive Ray's real ASHA scheduler with the calls Tune makes (no Ray cluster needed): the
same trials, learning curves and order of arrival with and without an interruption; after one, every
running trial is re-created with a new Tune id and first reports its checkpoint's epoch again, as
tuning/run/trainable.py does."""
import random
from types import SimpleNamespace

from tuning.search.scheduler import make_scheduler
from tuning.study.loading import load_study
from tuning.state.trial_records import TrialRecord
from tuning.study.trial_keys import TRIAL_KEY

STUDY = load_study("smoke", ["study.scheduler=asha", "study.grace_period=1", "study.reduction_factor=2",
                             "train.epochs=4", "train.decay_epochs=4"])
MAX_T = STUDY.base_config().total_epochs


def scheduler(stored=()):
    s = make_scheduler(STUDY, list(stored))
    s.set_search_properties("objective", "min")
    return s


def simulate(curves: dict[str, list[float]], concurrency: int, seed: int, interrupt_at: int | None,
             rebuild: bool = True) -> dict[str, int]:
    """{key: epoch at which ASHA stopped it}."""
    rng = random.Random(seed)
    sched, launch = scheduler(), 0
    waiting, live, stopped, records = sorted(curves), {}, {}, {}

    def trial(key):
        return SimpleNamespace(trial_id=f"{launch}-{key}", config={TRIAL_KEY: key, "loss.lambda_cyc": 3.0,
                                                                   "loss.lambda_id": 1.0})

    def result(key, epoch):
        value = curves[key][epoch - 1]
        records[key].values[str(epoch)] = value  # what KeyedTrials writes at each evaluation
        return {"objective": value, "epoch": epoch}

    events = 0
    while waiting or live:
        while len(live) < concurrency and waiting:
            key = waiting.pop(0)
            records[key] = TrialRecord(key, "L", "search", {TRIAL_KEY: key})
            live[key] = 1
            sched.on_trial_add(None, trial(key))
        key = rng.choice(sorted(live))
        epoch = live[key]
        r = result(key, epoch)
        if sched.on_trial_result(None, trial(key), r) == "STOP" or epoch == MAX_T:
            if epoch < MAX_T:
                stopped[key] = epoch
            sched.on_trial_complete(None, trial(key), r)
            records[key].status = "stopped" if epoch < MAX_T else "complete"
            del live[key]
        else:
            live[key] = epoch + 1
        events += 1
        if events == interrupt_at:  # Ctrl+C, then resume=true: a new scheduler, new Tune ids
            launch += 1
            sched = scheduler(records.values() if rebuild else ())
            for key in sorted(live):
                sched.on_trial_add(None, trial(key))
                if live[key] > 1:  # the checkpoint's evaluation, reported again
                    r = result(key, live[key] - 1)
                    if sched.on_trial_result(None, trial(key), r) == "STOP":  # judged twice: only without rebuild
                        assert not rebuild, (key, r)
                        stopped[key] = live.pop(key) - 1
                        sched.on_trial_complete(None, trial(key), r)
    return stopped


def curves_for(seed: int, trials: int = 12) -> dict[str, list[float]]:
    rng = random.Random(seed)
    curves = {}
    for i in range(trials):
        start, rate = rng.uniform(4, 6), rng.uniform(0.02, 0.4)
        curves[f"t{i + 1:04d}"] = [start - rate * e + rng.gauss(0, 0.05) for e in range(MAX_T)]
    return curves


def test_a_resumed_asha_study_stops_the_same_trials_as_one_that_ran_through():
    compared, differ_without_rebuild = 0, 0
    for seed in range(8):
        curves = curves_for(seed)
        through = simulate(curves, concurrency=3, seed=seed, interrupt_at=None)
        assert through, "ASHA stopped nothing: the simulation needs stops to compare"
        events = sum(min(MAX_T, through.get(k, MAX_T)) for k in curves)
        for moment in range(1, events):
            assert simulate(curves, 3, seed, interrupt_at=moment) == through, (seed, moment)
            differ_without_rebuild += simulate(curves, 3, seed, interrupt_at=moment, rebuild=False) != through
            compared += 1
    assert compared > 200
    assert differ_without_rebuild > compared // 10  # the rebuild is what keeps them equal
