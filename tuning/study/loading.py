"""Loading a study: `studies/<name>.yaml` (or a path), then `key=value` overrides, then every check
(tuning/study/checks.py). The one way a `Study` is made from files and a command line."""
from __future__ import annotations

import difflib
from pathlib import Path

from cyclegan.config import Config, load_config
from cyclegan.configtools import (
    UserError,
    build,
    flatten,
    load_yaml,
    merge,
    parse_overrides,
    to_dict,
    unknown_key_message,
)
from tuning.study.checks import check_name, parse_search, validate
from tuning.study.comparators import parse_compare
from tuning.study.platform import PLATFORM_SECTIONS, LaunchConfig
from tuning.study.study import ENGINE_SECTIONS, Study

STUDIES_DIR = Path(__file__).resolve().parents[2] / "studies"


def available_studies() -> list[str]:
    return sorted(p.stem for p in STUDIES_DIR.glob("*.yaml"))


def load_study(name: str, overrides: list[str] = ()) -> Study:
    """Read `studies/<name>.yaml`, apply `key=value` overrides, validate everything (UserError on any mistake)."""
    path = Path(name).expanduser() if name.endswith((".yaml", ".yml")) else STUDIES_DIR / f"{name}.yaml"
    if not name or not path.is_file():
        close = difflib.get_close_matches(name, available_studies(), n=1, cutoff=0.6)
        hint = f"did you mean study={close[0]}? " if close else ""
        raise UserError(f"unknown study {name!r}; {hint}available: {', '.join(available_studies())} "
                        "(or study=path/to/file.yaml)")
    source, name = name, path.stem
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
    # a searched key set on the command line is fixed there: `loss.lambda_id=5` searches the others alone
    fixed = set(flatten({k: cli[k] for k in ENGINE_SECTIONS if k in cli})) & set(search)
    for key in fixed:
        if search[key].arms is None:
            del search[key]
    if fixed and not search:
        raise UserError(f"{', '.join(sorted(fixed))} fixed on the command line leaves nothing to search in "
                        f"{path.name}; drop one of them or run the engine directly (python -m cyclegan.train)")
    study = Study(name=launch.study.name, description=str(raw.get("description", "")).strip(), engine=engine,
                  search=search, launch=launch, source=source)
    validate(study, path)
    study.compare = parse_compare(raw.get("compare"), study, path)
    return study
