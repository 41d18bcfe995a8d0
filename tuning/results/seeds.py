"""A configuration run on several seeds (`study.seeds > 1`) is one observation: its objective is the mean.

The unit of a study is a configuration, one set of searched values. With `study.seeds = n` each one runs
n times (train.seed offsets 0..n-1, Ray's `Repeater`) and everything that ranks configurations uses the
same number, the mean of the objective over its seeds that completed:
- Optuna: `tuning.search.optuna_search.SeedRepeater` tells the configuration's Optuna trial that mean as its value (Ray's Repeater
  does), and, which Ray's does not, its intermediate values: at each evaluation epoch, the mean over the
  seeds once every seed has reached that epoch, so Optuna's history and pruning-style analyses see the
  configuration learn, as with one seed;
- MLflow: `configuration_scores` groups the trial runs by their searched values; the parent's
  `best_objective`, `best=true`, the registry and the study note use the mean (tuning/tracking/parent_run.py);
- the report ranks configurations with mean ± sd/sqrt(n) (dashboards/runs.py `by_configuration`).
A seed that fails counts in neither (MLflow: only `outcome=complete` runs). The rule, the same whichever
seed fails or ends last (`configuration_value`): once every seed has ended, the configuration is COMPLETE
with the mean over the seeds that reached their final evaluation, and FAIL only when none did.
"""
from __future__ import annotations

import math
from collections import defaultdict


def configuration_value(finals: list[float | None]) -> float | None:
    """A repeated configuration's one objective from its seeds' final objectives (None: the seed failed):
    the mean over the seeds that completed, None (FAIL) when none did. Independent of their order."""
    done = [v for v in finals if v is not None and math.isfinite(v)]
    return sum(done) / len(done) if done else None


def configuration_key(run, searched: list[str]) -> tuple:
    """The searched values of a trial run as MLflow holds them (arms are tags, other keys params)."""
    return tuple(run.data.tags.get(k, run.data.params.get(k)) for k in searched)


def most_typical(members: list[tuple[float, object]]) -> object:
    """The item of (objective, item) pairs whose objective is closest to their mean (the first such): the seed
    that stands for a configuration (its generators are registered, its grids shown)."""
    mean = sum(v for v, _ in members) / len(members)
    return min(members, key=lambda pair: abs(pair[0] - mean))[1]


def configuration_scores(scored: list[tuple[float, object]], searched: list[str]) -> list[tuple[float, object, list]]:
    """(mean objective, representative run, [(objective, run) of every seed]) per configuration of `scored`
    (complete runs). The representative is the seed whose objective is closest to the mean: the generator
    a user gets is a typical draw of that configuration, not its luckiest seed (which would bring back the
    winner's curse the mean only divides by sqrt(n))."""
    groups: dict[tuple, list] = defaultdict(list)
    for value, run in scored:
        groups[configuration_key(run, searched)].append((value, run))
    out = []
    for members in groups.values():
        out.append((sum(v for v, _ in members) / len(members), most_typical(members), members))
    return out
