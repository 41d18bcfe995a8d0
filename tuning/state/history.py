"""One history per study across launches (SPEC §5): what a scheduled continuation must agree with, and how
its trials are named.

- The study's Optuna storage records the settings its trials were run under (`HISTORY_ATTR`: the resolved
  base engine config, the objective and the search space, flat). A later launch whose settings differ
  would mix incomparable trials into one TPE model and one leaderboard, so it is refused naming the keys.
  Keys that say where or how fast, not what is computed (paths, threads, device, compile), may change.
- Trial names continue across launches: the fifth trial of a study is t0005 whichever launch ran it.
- `study.new_history=true` starts a new history instead: a new Optuna study (`NAME#2`, `NAME#3`, ...: TPE
  learns only from trials run under the new settings, and the reference seeds run again for a new noise
  floor) and a new parent run linked to the previous one. Trial names still continue; the MLflow runs carry
  a `history` tag; best=true, the registry and the reports rank within the current (newest) history.
"""
from __future__ import annotations

import json
import re

from cyclegan.configtools import UserError, flatten, to_dict
from tuning.redact import redact
from tuning.study.study import Study

HISTORY_ATTR = "catholic2gogh.settings"
# Where and how fast, not what: a continuation may change these (another node's paths, a GPU tonight).
NEUTRAL_KEYS = {"data.root", "data.url", "data.download", "data.max_pixels", "data.placement", "train.out_dir", "train.threads",
                "train.device", "train.compile", "train.channels_last", "train.checkpoint_every",
                "eval.cache_dir", "eval.inception_weights", "eval.inception_url", "eval.batch_size", "resume"}
TRIAL_NAME = re.compile(r"^t(\d+)\b")
SEPARATOR = "#"  # NAME#2: the study's second history (Optuna study names may hold any character)


def history_names(storage, name: str) -> list[str]:
    """The Optuna studies of a study's histories in the storage, oldest first: NAME, NAME#2, NAME#3, ..."""
    found = {}
    for summary in storage.get_all_studies():
        base, sep, number = summary.study_name.rpartition(SEPARATOR)
        if summary.study_name == name:
            found[1] = name
        elif sep and base == name and number.isdigit():
            found[int(number)] = summary.study_name
    return [found[k] for k in sorted(found)]


def choose_history(study: Study, storage) -> str:
    """The history this launch continues, or with `study.new_history=true` the one it starts."""
    names = history_names(storage, study.name)
    if not study.launch.study.new_history or not names:
        return names[-1] if names else study.name
    last = names[-1]
    number = int(last.rpartition(SEPARATOR)[2]) if last != study.name else 1
    return f"{study.name}{SEPARATOR}{number + 1}"


def settings(study: Study) -> dict[str, str]:
    """The settings a study's trials are comparable under, flat and JSON-safe (values as JSON text)."""
    s = study.launch.study
    flat = {k: v for k, v in flatten(to_dict(study.base_config())).items() if k not in NEUTRAL_KEYS}
    flat.update({"study.metric": s.metric, "study.mode": s.mode, "study.seeds": s.seeds})
    for name, d in study.search.items():
        flat[f"search.{name}"] = {"kind": d.kind, "low": d.low, "high": d.high, "choices": d.choices, "arms": d.arms}
    return {k: json.dumps(v, sort_keys=True) for k, v in flat.items()}


def differing_keys(stored: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(k for k in stored.keys() | current.keys() if stored.get(k) != current.get(k))


def check_continuation(study: Study, optuna_study) -> None:
    """UserError if the stored history was run under other settings; `optuna_study` None: a new history."""
    if study.launch.study.new_history:
        return  # this launch starts a new history: it records its own settings
    stored = optuna_study.user_attrs.get(HISTORY_ATTR) if optuna_study is not None else None
    if not stored:
        return  # a new study, or one stored before settings were recorded: this launch records them
    current = settings(study)
    keys = differing_keys(stored, current)
    if keys:
        shown = ", ".join(f"{k} ({_short(stored.get(k))} -> {_short(current.get(k))})" for k in keys[:6])
        more = f" and {len(keys) - 6} more" if len(keys) > 6 else ""
        raise UserError(f"study {study.name} in {redact(study.storage_url)} was run with other settings: {shown}"
                        f"{more}; its trials would not be comparable. Launch with the stored settings, or start a "
                        "new history with study.new_history=true")


def _short(value: str | None) -> str:
    if value is None:
        return "unset"
    return value if len(value) <= 40 else value[:37] + "..."


def record_settings(study: Study, optuna_study) -> None:
    if not optuna_study.user_attrs.get(HISTORY_ATTR):
        optuna_study.set_user_attr(HISTORY_ATTR, settings(study))


def trials_before(runs: list) -> int:
    """The highest trial number among the study's MLflow runs (t0004 -> 4); 0 for a new study."""
    numbers = [int(m.group(1)) for run in runs if (m := TRIAL_NAME.match(run.info.run_name or ""))]
    return max(numbers, default=0)
