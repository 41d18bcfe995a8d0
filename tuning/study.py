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
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cyclegan import metric_names
from cyclegan.config import Config, load_config
from cyclegan.configtools import (UserError, build, flatten, load_yaml, merge, parse_overrides, to_dict,
                                  unflatten, unknown_key_message)

from .comparators import comparator_text, parse_compare
from .config import PLATFORM_SECTIONS, LaunchConfig

STUDIES_DIR = Path(__file__).resolve().parent.parent / "studies"
ENGINE_SECTIONS = ("data", "model", "loss", "optim", "train", "eval")
KINDS = ("uniform", "loguniform", "int", "categorical", "grid")
REPEAT_INDEX = "__trial_index__"  # set by Ray's Repeater: which seed of a repeated configuration
SHORT_NAMES = {"loss.lambda_cyc": "lcyc", "loss.lambda_id": "lid", "loss.lambda_gan": "lgan", "optim.lr_g": "lrg",
               "optim.lr_d": "lrd", "optim.beta1": "b1", "model.generator": "gen", "model.g_depth": "depth",
               "model.ngf": "ngf", "loss.gan_mode": "gan", "data.name": "data", "train.diffaugment": "aug",
               "data.train_images": "n"}


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
    continuing: bool = False                        # the storage already holds trials of this study
    trials_before: int = 0                          # trials of earlier launches: names go on from there
    history: str = ""                               # the Optuna study of this launch's history (tuning/history.py)
    compare: dict[str, str] = field(default_factory=dict)  # arm -> the arm one term away (tuning/comparators.py)
    _base: Config | None = field(default=None, repr=False, compare=False)

    # -- paths and names --------------------------------------------------------------------------
    @property
    def optuna_name(self) -> str:
        """The Optuna study this launch searches in: its history (the study name for the first one)."""
        return self.history or self.name

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
        """Trials of this launch: the configurations times their seeds, plus the reference's extra seeds
        (the first launch only: a continuation does not queue the reference again)."""
        extra = self.reference_repeats - 1 if not self.continuing and self.baseline_point() else 0
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

    def run_name(self, number: int, trial_config: dict) -> str:
        """`t0007 lcyc=8.2 lid=0.5`: `number` is the trial's number in the study (its key, t0007; the first
        trial of a launch that continues four is t0005: tuning/resume.py)."""
        parts = [f"t{number:04d}"]
        for name in self.search:
            if name in trial_config:
                value = trial_config[name]
                shown = f"{value:.3g}" if isinstance(value, float) else str(value)
                parts.append(f"{SHORT_NAMES.get(name, name.split('.')[-1])}={shown}")
        if self.launch.study.seeds > 1 or REPEAT_INDEX in trial_config:
            parts.append(f"seed={self.seed_of(trial_config)}")
        return " ".join(parts)


# -- loading --------------------------------------------------------------------------------------
def available_studies() -> list[str]:
    return sorted(p.stem for p in STUDIES_DIR.glob("*.yaml"))


def load_study(name: str, overrides: list[str] = ()) -> Study:
    """Read `studies/<name>.yaml`, apply `key=value` overrides, validate everything (UserError on any mistake)."""
    path = Path(name).expanduser() if name.endswith((".yaml", ".yml")) else STUDIES_DIR / f"{name}.yaml"
    if not name or not path.is_file():
        raise UserError(f"unknown study {name!r}; available: {', '.join(available_studies())} "
                        "(or study=path/to/file.yaml)")
    name = path.stem
    raw = load_yaml(path)
    known = ("description", "search", "compare", *ENGINE_SECTIONS, *PLATFORM_SECTIONS)
    for key in raw:
        if key not in known:
            raise UserError(f"{path}: " + unknown_key_message(str(key), list(known)))
    cli = parse_overrides(list(overrides))
    for key in cli:
        if key not in (*ENGINE_SECTIONS, *PLATFORM_SECTIONS):
            raise UserError(unknown_key_message(str(key), list(flatten(to_dict(Config()))) + ["study.name", "resume"]))
    engine = merge({k: raw[k] for k in ENGINE_SECTIONS if k in raw}, {k: cli[k] for k in ENGINE_SECTIONS if k in cli})
    platform = merge({k: raw[k] for k in PLATFORM_SECTIONS if k in raw}, {k: cli[k] for k in PLATFORM_SECTIONS if k in cli})
    for section, key in (("data", "root"), ("eval", "inception_weights"), ("eval", "cache_dir")):
        value = engine.get(section, {}).get(key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            engine[section][key] = str(Path(value).expanduser().resolve())  # trials run in other folders
    launch = build(LaunchConfig, platform)
    launch.study.name = launch.study.name or name
    check_name(launch.study.name)
    load_config(base=engine)  # the base engine config must be valid on its own
    search = parse_search(raw.get("search") or {}, path)
    study = Study(name=launch.study.name, description=str(raw.get("description", "")).strip(), engine=engine,
                  search=search, launch=launch)
    validate(study, path)
    study.compare = parse_compare(raw.get("compare"), study, path)
    return study


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name(name: str) -> None:
    """A study name becomes an MLflow experiment, tag value and filter, a registered model name
    (`catholic2gogh-<name>`: no '/' or ':'), an Optuna study and a folder: allow only what is safe in all."""
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(f"study name {name!r} may hold only letters, digits, '.', '_' and '-' (starting with a letter "
                        "or digit, at most 100); rename the file or set study.name=...")


def parse_search(block: dict, path: Path) -> dict[str, Distribution]:
    if not isinstance(block, dict):
        raise UserError(f"{path}: search must be a mapping of key -> {{distribution: values}}")
    engine_keys = set(flatten(to_dict(Config())))
    out = {}
    for name, spec in block.items():
        where = f"{path.name}: search.{name}"
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
            raise UserError(f"{where} must be one of {{{', '.join(k + ': ...' for k in KINDS)}}}")
        kind, values = next(iter(spec.items()))
        if isinstance(values, dict):  # named arms
            if kind not in ("categorical", "grid") or not values:
                raise UserError(f"{where}: arms (a mapping of name -> overrides) need categorical or grid")
            arms = {str(a): flatten(over or {}) for a, over in values.items()}
            for arm, over in arms.items():
                for key in over:
                    if key not in engine_keys:
                        raise UserError(f"{where}.{arm}: " + unknown_key_message(key, sorted(engine_keys)))
            out[name] = Distribution(name, kind, choices=list(arms), arms=arms)
            continue
        if name not in engine_keys:
            raise UserError(f"{where}: " + unknown_key_message(name, sorted(engine_keys)))
        if kind in ("uniform", "loguniform", "int"):
            if not (isinstance(values, list) and len(values) == 2 and all(isinstance(v, (int, float)) for v in values)):
                raise UserError(f"{where}: {kind} needs [low, high], got {values!r}")
            low, high = values
            if low > high:
                raise UserError(f"{where}: low {low} > high {high}; swap them")
            if kind == "loguniform" and low <= 0:
                raise UserError(f"{where}: loguniform needs low > 0, got {low}; use uniform to include 0")
            out[name] = Distribution(name, kind, low=low, high=high)
        else:
            if not isinstance(values, list) or not values:
                raise UserError(f"{where}: {kind} needs a non-empty list of values")
            out[name] = Distribution(name, kind, choices=list(values))
    return out


def validate(study: Study, path: Path) -> None:
    s = study.launch.study
    kinds = {d.kind for d in study.search.values()}
    if "grid" in kinds and kinds != {"grid"}:
        raise UserError(f"{path.name}: grid cannot be mixed with sampled distributions; use categorical instead")
    if s.num_samples is not None and s.num_samples < 1:
        raise UserError(f"study.num_samples={s.num_samples} must be at least 1")
    if s.num_samples is None and not study.is_grid:
        raise UserError(f"study.num_samples is required for {study.name}: set it in the study or as study.num_samples=N")
    for key, value in [("study.seeds", s.seeds), ("study.max_concurrent", s.max_concurrent),
                       ("study.grace_period", s.grace_period), ("study.baseline_seeds", s.baseline_seeds)]:
        if value < 1:
            raise UserError(f"{key}={value} must be at least 1")
    if s.confirm_top < 0 or (s.confirm_top and s.confirm_seeds < 1):
        raise UserError(f"study.confirm_top={s.confirm_top} must be >= 0 (0 = no confirmation) and study.confirm_seeds="
                        f"{s.confirm_seeds} >= 1")
    if s.scheduler == "asha" and s.seeds > 1:
        raise UserError("study.scheduler=asha cannot stop repeated seeds fairly (Ray's Repeater averages them); "
                        "set study.scheduler=none or study.seeds=1")
    if s.reduction_factor < 2:
        raise UserError(f"study.reduction_factor={s.reduction_factor} must be at least 2")
    if s.max_failures < 0:
        raise UserError(f"study.max_failures={s.max_failures} must not be negative")
    t = study.launch.trial
    if t.cpus <= 0 or t.gpus < 0:
        raise UserError(f"trial.cpus={t.cpus} must be > 0 and trial.gpus={t.gpus} must be >= 0")
    if t.gpus > 1 and t.gpus != int(t.gpus):
        raise UserError(f"trial.gpus={t.gpus}: above 1 use whole GPUs")
    base = study.base_config()
    if base.eval.every == 0:
        raise UserError("eval.every=0: a study needs evaluations to rank trials; set eval.every >= 1")
    measured = metric_names.QUALITY + metric_names.GROUND_TRUTH
    if s.metric not in measured:
        raise UserError(f"study.metric={s.metric} is not an evaluation metric; use one of {', '.join(measured)}")
    if s.metric in metric_names.GROUND_TRUTH and base.data.name != "synthetic":
        raise UserError(f"study.metric={s.metric} needs ground truth, which only data.name=synthetic has; "
                        "use fid, kid, fid_b2a, ...")
    # Every value a trial can take must make a valid engine config (types, ranges, sizes).
    for dist in study.search.values():
        for value in dist.values_to_check():
            over = dist.arms[value] if dist.arms is not None else {dist.name: value}
            try:
                load_config(base=merge(study.engine, unflatten(over)))
            except UserError as exc:
                raise UserError(f"{path.name}: search.{dist.name} value {value!r} is invalid: {exc}") from None
    if study.is_grid:
        seen: dict[str, str] = {}
        for cell in grid_cells(study):
            trained = json.dumps(study.engine_config(cell).effective(), sort_keys=True, default=str)
            label = cell_label(cell)
            if trained in seen:  # e.g. gan_mode crossed with an arm that has no adversarial term
                raise UserError(f"{path.name}: grid cells {seen[trained]} and {label} train the same model "
                                "(keys the trainer never reads differ); list the arms explicitly without duplicates")
            seen[trained] = label


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
