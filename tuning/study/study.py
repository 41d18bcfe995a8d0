"""A study: `studies/NAME.yaml` + command-line overrides, validated before anything starts.

A study file holds a `description`, base values for engine keys (`data:`, `model:`, `loss:`, ...), a
`search:` block and platform keys (`study:`, `trial:`, `mlflow:`, `ray:`). The search block maps an engine
key to one distribution:
    loss.lambda_cyc: {loguniform: [1, 30]}      # also uniform, int
    optim.beta1: {categorical: [0.0, 0.5, 0.9]}
    loss.gan_mode: {grid: [lsgan, vanilla, hinge]}
or names a set of *arms*, each a mapping of engine keys (for conditional spaces and ablations):
    arm: {grid: {full: {}, no_identity: {loss.lambda_id: 0}}}
A trial's config is the flat dict of searched names -> values (plus Ray's repeat index); `engine_config`
turns it into the engine's `Config`. Nothing here imports Ray, Optuna or MLflow.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cyclegan.config import Config, load_config
from cyclegan.configtools import (
    flatten,
    merge,
    to_dict,
    unflatten,
)
from tuning.study.comparators import comparator_text
from tuning.study.platform import LaunchConfig
from tuning.study.trial_keys import REPEAT_INDEX

ENGINE_SECTIONS = ("data", "model", "loss", "optim", "train", "eval")
KINDS = ("uniform", "loguniform", "int", "categorical", "grid")
SHORT_NAMES = {"loss.lambda_cyc": "lcyc", "loss.lambda_id": "lid", "loss.lambda_gan": "lgan", "optim.lr_g": "lrg",
               "optim.lr_d": "lrd", "optim.beta1": "b1", "model.generator": "gen", "model.g_depth": "depth",
               "model.ngf": "ngf", "loss.gan_mode": "gan", "data.name": "data", "train.diffaugment": "aug",
               "data.train_images": "n"}


def short_name(key: str) -> str:
    """`loss.lambda_cyc` -> `lcyc`: a searched key as run names and the MLflow view show it."""
    return SHORT_NAMES.get(key, key.split(".")[-1])


@dataclass
class Distribution:
    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: list = field(default_factory=list)     # categorical / grid values, or arm names
    arms: dict[str, dict] | None = None             # arm name -> flat engine overrides

    def values_to_check(self) -> list:
        return [self.low, self.high] if self.kind in ("uniform", "loguniform", "int") else list(self.choices)


@dataclass
class Study:
    name: str
    description: str
    engine: dict                                    # nested engine base values
    search: dict[str, Distribution]
    launch: LaunchConfig
    compare: dict[str, str] = field(default_factory=dict)  # arm -> the arm one term away (tuning/study/comparators.py)
    source: str = ""                                # the study= it was loaded from: a name, or a path to its YAML
    _base: Config | None = field(default=None, repr=False, compare=False)

    # -- paths and names --------------------------------------------------------------------------
    @property
    def out_dir(self) -> Path:
        return Path(self.launch.study.out_dir or Path("runs") / "studies" / self.name).expanduser().resolve()

    @property
    def storage_url(self) -> str:
        return self.launch.study.storage or f"sqlite:///{self.out_dir / 'optuna.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.launch.mlflow.tracking_uri or f"sqlite:///{self.out_dir / 'mlflow.db'}"

    @property
    def experiment(self) -> str:
        return self.launch.mlflow.experiment or self.name

    @property
    def is_grid(self) -> bool:
        return bool(self.search) and all(d.kind == "grid" for d in self.search.values())

    @property
    def grid_size(self) -> int:
        return math.prod(len(d.choices) for d in self.search.values()) if self.is_grid else 0

    @property
    def num_configurations(self) -> int:
        return self.launch.study.num_samples or self.grid_size

    @property
    def reference_repeats(self) -> int:
        """How often the searcher queues the reference settings: `baseline_seeds` times, each with its own
        seed; once with `study.seeds > 1`, where Ray's Repeater already runs every configuration `seeds` times."""
        return self.launch.study.baseline_seeds if self.launch.study.seeds == 1 else 1

    @property
    def num_trials(self) -> int:
        """Trials of the study's first launch: the configurations times their seeds, plus the reference's
        extra seeds. The budget the race and TPE's start-up are sized from."""
        return self.launch_trials(continuing=False)

    def launch_trials(self, continuing: bool) -> int:
        """Trials of one launch; a launch that continues a history (tuning/run/launch_context.py) does not
        queue the reference's extra seeds again."""
        extra = self.reference_repeats - 1 if not continuing and self.baseline_point() else 0
        return self.num_configurations * self.launch.study.seeds + extra

    # -- trial configs ----------------------------------------------------------------------------
    def engine_overrides(self, trial_config: dict) -> dict:
        """Flat engine overrides of one trial: searched values, expanded arms and the repeat's seed."""
        flat: dict[str, Any] = {}
        for name, dist in self.search.items():
            if name not in trial_config:
                continue
            value = trial_config[name]
            if dist.arms is not None:
                flat.update(dist.arms[value])
            else:
                flat[name] = value
        base_seed = self.base_config().train.seed
        flat["train.seed"] = base_seed + int(trial_config.get(REPEAT_INDEX, 0))
        return flat

    def engine_config(self, trial_config: dict, extra: dict | None = None) -> Config:
        flat = {**self.engine_overrides(trial_config), **(extra or {})}
        return load_config(base=merge(self.engine, unflatten(flat)))

    def base_config(self) -> Config:
        """The study's engine config before any searched value; validated once, then reused (read-only)."""
        if self._base is None:
            self._base = load_config(base=self.engine)
        return self._base

    def baseline_point(self) -> dict | None:
        """The reference settings (the engine defaults) as a point of this search space, if they are in it."""
        defaults = flatten(to_dict(Config()))
        point = {}
        for name, dist in self.search.items():
            if dist.kind == "grid":
                return None  # a grid already contains its baseline arm
            if dist.arms is not None:
                match = [a for a, over in dist.arms.items() if all(defaults.get(k) == v for k, v in over.items())]
                if not match:
                    return None
                point[name] = match[0]
                continue
            value = defaults.get(name)
            if dist.kind == "categorical":
                if value not in dist.choices:
                    return None
            elif value is None or not dist.low <= value <= dist.high:
                return None
            point[name] = value
        return point

    def is_reference(self, trial_config: dict) -> bool:
        """True for a trial of the reference settings: every searched value equals the engine default
        (the baseline point of a sampled study, or an arm such as `full_lsgan: {}` of a grid)."""
        defaults = flatten(to_dict(Config()))
        over = {k: v for k, v in self.engine_overrides(trial_config).items() if k != "train.seed"}
        searched = [n for n in self.search if n in trial_config]
        return bool(searched) and all(defaults.get(k) == v for k, v in over.items())

    def seed_of(self, trial_config: dict) -> int:
        return self.engine_overrides(trial_config)["train.seed"]

    def shown_values(self, trial_config: dict) -> dict[str, str]:
        """The searched values as a person reads them: short name -> value to 3 significant digits
        (`{"lcyc": "8.2", "lid": "0.5"}`), as the run name and the MLflow view show them."""
        shown = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
        return {short_name(name): shown(trial_config[name]) for name in self.search if name in trial_config}

    def run_name(self, number: int, trial_config: dict) -> str:
        """`t0007 lcyc=8.2 lid=0.5`: `number` is the trial's number in the study (its key, t0007; the first
        trial of a launch that continues four is t0005: tuning/search/resume.py)."""
        parts = [f"t{number:04d}"] + [f"{short}={shown}" for short, shown in self.shown_values(trial_config).items()]
        if self.launch.study.seeds > 1 or REPEAT_INDEX in trial_config:
            parts.append(f"seed={self.seed_of(trial_config)}")
        return " ".join(parts)




def base_changes(study: Study) -> dict:
    """The study's base engine config where it differs from the engine defaults."""
    defaults, base = flatten(to_dict(Config())), flatten(to_dict(study.base_config()))
    return {k: v for k, v in base.items() if defaults.get(k) != v and k != "train.out_dir"}


def grid_cells(study: Study) -> list[dict]:
    """Every configuration of a grid study, in the order GridSampler's space lists them."""
    names = list(study.search)
    return [dict(zip(names, combo)) for combo in itertools.product(*(study.search[n].choices for n in names))]


def cell_label(cell: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in cell.items())


def planned_trials(study: Study) -> list[dict]:
    """What `--dry-run` prints: the trials known before the search starts, each with its label, seed and
    the engine keys that differ from the study's base config (which differs from the engine defaults by
    `base_changes`). Grids list every cell x seed; sampled studies
    list their reference seeds (the rest is proposed by TPE as results arrive)."""
    base = flatten(to_dict(study.base_config()))
    seeds = study.launch.study.seeds
    if study.is_grid:
        configs = [dict(cell, **({REPEAT_INDEX: i} if seeds > 1 else {})) for cell in grid_cells(study)
                   for i in range(seeds)]
    else:
        point = study.baseline_point()
        if point is None:
            configs = []
        elif seeds > 1:  # Ray's Repeater runs the reference, like every configuration, `seeds` times
            configs = [dict(point, **{REPEAT_INDEX: i}) for i in range(seeds)]
        else:            # the searcher queues it `baseline_seeds` times, seed offsets 0, 1, ...
            configs = [dict(point, **({REPEAT_INDEX: i} if i else {})) for i in range(study.reference_repeats)]
    plan = []
    for config in configs:
        flat = flatten(to_dict(study.engine_config(config)))
        changed = {k: v for k, v in flat.items() if base.get(k) != v and k not in ("train.out_dir", "train.seed")}
        label = cell_label({k: v for k, v in config.items() if k != REPEAT_INDEX})
        arm = next((config[name] for name, dist in study.search.items() if dist.arms is not None), None)
        plan.append({"label": label, "seed": flat["train.seed"], "changed": changed,
                     "epochs": flat["train.epochs"] + flat["train.decay_epochs"],
                     "reference": study.is_reference(config), "vs": comparator_text(study, arm) if arm else ""})
    return plan
