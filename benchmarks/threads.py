"""CPU threads for a single run: the README's first run, idle and beside a CPU hog, for each thread setting.

Each setting runs the README's first `cyclegan.train` command as its own process (wall time of the whole
command, as the user waits for it) and, for `busy`, beside a hog: one busy-looping
process per core, started before and stopped (by PID) after the run. Settings alternate within a round
so that machine noise hits them alike. Prints seconds per setting and the ratio to the best setting of
the same condition; `auto` is the engine's default (`train.threads=0`).

    python benchmarks/threads.py                 # settings auto, 1, 2, ..., cores; idle and busy; 2 rounds
    python benchmarks/threads.py --rounds 1 --conditions busy
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_RUN = ["data.name=synthetic", "data.load_size=36", "data.crop_size=32", "data.synthetic_train_size=64",
             "model.ngf=16", "model.ndf=16", "model.g_depth=3", "train.epochs=2", "train.decay_epochs=1",
             "train.batch_size=4", "eval.backbone=tiny"]  # the README's first run


def start_hog(cores: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def run_once(threads: str, out: Path) -> float:
    args = [*FIRST_RUN, f"train.out_dir={out}"] + ([] if threads == "auto" else [f"train.threads={threads}"])
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cyclegan.train", *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--conditions", nargs="+", default=["idle", "busy"], choices=["idle", "busy"])
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    settings = ["auto", *[str(n) for n in range(1, cores + 1)]]
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for condition in args.conditions:
            for round_ in range(args.rounds):
                for setting in settings if round_ % 2 == 0 else settings[::-1]:
                    hog = start_hog(cores) if condition == "busy" else []
                    try:
                        seconds = run_once(setting, Path(tmp) / f"{condition}-{setting}-{round_}")
                    finally:
                        stop(hog)
                    times.setdefault((condition, setting), []).append(seconds)
                    print(f"{condition:5s} threads={setting:4s} round {round_ + 1}: {seconds:6.1f} s", flush=True)
    print(f"\ncores: {cores}; README first run, wall seconds (median of {args.rounds}); ratio to the best "
          "setting of the same condition")
    for condition in args.conditions:
        med = {s: statistics.median(times[(condition, s)]) for s in settings}
        best = min(med.values())
        row = "  ".join(f"{s}: {med[s]:6.1f} s ({med[s] / best:4.2f}x)" for s in settings)
        print(f"{condition:5s} {row}")


if __name__ == "__main__":
    main()
