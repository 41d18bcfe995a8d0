"""The checks a study file and its overrides pass before anything starts (tuning.study.study.load_study): a safe
name, a well-formed `search:` block, and every value a trial can take a valid engine config."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from cyclegan import metric_names
from cyclegan.config import Config, load_config
from cyclegan.configtools import UserError, flatten, merge, to_dict, unflatten, unknown_key_message
from tuning.study.platform import StudyConfig
from tuning.study.study import KINDS, Distribution, Study, cell_label, grid_cells

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


def check_confirmation_keys(s: StudyConfig) -> None:
    """The confirmation race's keys (`study.confirm_*`, `study.target_effect`, `study.margin`)."""
    if s.confirm_top < 0 or (s.confirm_top and s.confirm_seeds < 2):
        raise UserError(f"study.confirm_top={s.confirm_top} must be >= 0 (0 = no confirmation) and study.confirm_seeds="
                        f"{s.confirm_seeds} >= 2 (a paired verdict needs two seeds; 3 or more to call one)")
    if s.confirm_top and (s.confirm_step < 1 or s.confirm_budget < 0):
        raise UserError(f"study.confirm_step={s.confirm_step} must be >= 1 and study.confirm_budget="
                        f"{s.confirm_budget} >= 0 (0 = sized from the search's trials)")
    if s.confirm_top and 0 < s.confirm_budget < (s.confirm_top + 1) * s.confirm_seeds:
        raise UserError(f"study.confirm_budget={s.confirm_budget} does not reach the race's first look: "
                        f"{s.confirm_top} candidate(s) and the reference on {s.confirm_seeds} seeds need "
                        f"{(s.confirm_top + 1) * s.confirm_seeds} runs; raise it or lower study.confirm_top")
    for key, value in [("study.target_effect", s.target_effect), ("study.margin", s.margin)]:
        if not math.isfinite(value) or value < 0:
            raise UserError(f"{key}={value} must be a gain in {s.metric}'s units, >= 0 (0 = not set)")
    if s.target_effect > 0 and s.confirm_budget > 0:
        raise UserError(f"study.target_effect={s.target_effect:g} sizes the confirmation budget and "
                        f"study.confirm_budget={s.confirm_budget} fixes it: set one of them (the other to 0)")


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
    check_confirmation_keys(s)
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
