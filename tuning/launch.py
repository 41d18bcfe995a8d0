"""`python -m tuning.launch study=NAME [key=value ...]`: run a study of CycleGAN trials.

The entry point: parses the command line, then `run_study` (tuning/run/phases.py) validates the study and
every override first (exit 2, one line), takes the study's lock in its Optuna storage, starts a local Ray (or
joins `ray.address`), runs the trials with Ray Tune, and ends by printing the best trial and the command that
opens the MLflow UI on this store.
"""
from __future__ import annotations

if __name__ == "__main__":  # Ctrl+C / SIGTERM are the launch's from its first moment, not after the imports below
    from tuning.run.interrupts import listen
    listen()

import logging
import os
import re
import signal
import sys

from cyclegan.cli import run_main
from cyclegan.config import Config
from cyclegan.configtools import UserError
from cyclegan.keyhelp import describe
from tuning.run.environment import quiet_and_private
from tuning.run.interrupts import SIGNALS
from tuning.run.launch_text import dry_run
from tuning.state.launches import with_stored_overrides
from tuning.state.study_lock import release_held
from tuning.study.loading import available_studies, load_study
from tuning.study.platform import LaunchConfig

USAGE = """
usage: python -m tuning.launch study=NAME [key=value ...] [resume=true] [--dry-run] [--verbose] [--debug]
       python -m tuning.launch list

Runs the study studies/NAME.yaml: Optuna proposes engine settings, Ray Tune runs the trials, MLflow
records them. Any engine key (loss.lambda_cyc=..., data.name=..., train.epochs=...) or platform key
(study.num_samples, study.max_concurrent, study.seeds, study.scheduler, study.out_dir, study.storage,
trial.cpus, trial.gpus, mlflow.tracking_uri, mlflow.experiment, ray.address) can be overridden.
resume=true continues the study's last interrupted launch. --dry-run validates and lists every trial
known before the search (arm, seed, the engine keys that differ from the study's base), then exits.
First run (offline, CPU, a few minutes):
  python -m tuning.launch study=smoke
"""


def first_sentence(text: str) -> str:
    """Up to the first '.', '?' or '!' that ends a sentence: one followed by a capital, so "Zhu et al. 2017"
    or "e.g. 3" does not cut it."""
    return re.split(r"(?<=[.?!])\s+(?=[A-Z])", " ".join(text.split()), maxsplit=1)[0]


def describe_studies() -> str:
    # deferred: torch and scipy load only for `list` and --help, not for every launch's first second
    from tuning.results.race import detectable_gain  # deferred
    from tuning.results.race_design import design  # deferred
    from tuning.run.cost import estimate  # deferred
    lines, names = [], available_studies()
    width = max([14] + [len(n) + 1 for n in names])
    for name in names:
        try:
            study = load_study(name)
            size = estimate(study)
            summary = first_sentence(study.description)
            if study.launch.study.confirm_top > 0:  # what its confirmation can see (tuning/results/race.py)
                race = design(study)
                summary += (f"\n{'':{width}s} confirmation: up to {race.budget} runs; detects a gain of "
                            f"{detectable_gain(1.0, race):.2g} σ or more (80 % power; σ: one run's seed noise)")
        except UserError as exc:
            size, summary = "invalid", str(exc)
        lines.append(f"{name:{width}s} {size}\n{'':{width}s} {summary}")
    return "\n".join(lines)


def full_usage() -> str:
    """The usage text, the studies, and every key (built only for --help: reading the studies takes time)."""
    return (USAGE + "\nstudies:\n" + describe_studies() + "\n\nplatform keys:\n" + "\n".join(describe(LaunchConfig))
            + "\n\nengine keys (a study sets some; key=value overrides any):\n" + "\n".join(describe(Config)))


def split_args(args: list[str]) -> tuple[str, list[str]]:
    names = [a.split("=", 1)[1] for a in args if a.startswith("study=")]
    if not names:
        raise UserError(f"study=NAME is required; available: {', '.join(available_studies())}")
    return names[-1], [a for a in args if not a.startswith("study=")]


def main(args: list[str]) -> None:
    # store creation logs at INFO on stderr; errors must stay one line (MLflow resets its level on import)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args[:1] == ["list"]:
        print(describe_studies())
        return
    dry = "--dry-run" in args
    verbose = "--verbose" in args  # Ray's tables, the trials' own output and Ray's hints
    name, overrides = split_args([a for a in args if a not in ("--dry-run", "--verbose")])
    study = with_stored_overrides(name, overrides)
    if dry:
        dry_run(study)
        return
    quiet_and_private(study, verbose)
    from tuning.run.phases import run_study  # deferred: Ray and MLflow load only once a launch will run
    code = run_study(study, overrides, verbose)
    if code:
        sys.exit(code)


def exit_now_if_interrupted(code: int) -> None:
    """After an interrupt, leave without the interpreter's shutdown. Everything is already written (MLflow runs
    marked, the storage's records, Ray stopped); what is left are Ray's and gRPC's threads, and finalizing the
    interpreter under them after a second Ctrl+C has crashed it (SIGSEGV instead of 130, once in CI). The
    private Ray's reaper (tuning/run/reaper.py) ends whatever is left of Ray. From here no signal is taken:
    one more landing in the flush would end the launch with a traceback instead of 130."""
    if code == 130:
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        try:
            release_held()  # the study's lock: os._exit skips the atexit handler that releases it
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001 (a closed pipe, a storage gone: the lock is then taken over later)
            pass
        os._exit(130)


def entry() -> None:
    """`python -m tuning.launch`: the launch, then its exit code (SPEC §6). A Ctrl+C that lands after the launch
    has already handled one (in its closing "interrupted" line) is the same interrupt: still 130, not a traceback
    and another exit code (exit 1 after "interrupted" was seen once in the ten-interrupt test in CI)."""
    try:
        code = run_main(main, usage=full_usage)
    except KeyboardInterrupt:
        code = 130
    exit_now_if_interrupted(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
