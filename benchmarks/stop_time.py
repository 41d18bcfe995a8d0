"""How long a launch takes to stop when its whole process group is signalled, and how it ends.

`python benchmarks/stop_time.py [--signal TERM|INT] [--out FILE]`

What `timeout -s TERM`, systemd, a batch scheduler or a terminal's Ctrl+C do: the signal goes to the
launcher's process group. A two-trial smoke study (96 images an epoch, 4 epochs) is started in a process
group of its own; once both trials are past their first epoch the group is signalled; the script prints
the exit code and the seconds from the signal to the launcher's end, then resumes the study
(`resume=true`) and prints whether that finished. Before Ray's processes had process groups of their own
(tuning/run/local_ray.own_process_groups) the GCS died with the group: exit 1 after ~60 s.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import peek_runs  # noqa: E402  (the repository root is on the path only now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signal", choices=["TERM", "INT"], default="TERM")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="stop-time")) / "study"
    study = ["study=smoke", "study.confirm_top=0", f"study.out_dir={out}", "study.num_samples=2", "trial.cpus=1",
             "train.epochs=2", "train.decay_epochs=2", "data.synthetic_train_size=96"]
    proc = subprocess.Popen([sys.executable, "-m", "tuning.launch", *study], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, process_group=0)
    started = time.time()
    while time.time() - started < 300:
        try:
            if sum(run["epoch"] >= 1 for run in peek_runs(out / "mlflow.db")) >= 2:
                break
        except Exception:  # noqa: BLE001 (the store is being created)
            pass
        time.sleep(0.5)
    signalled = time.time()
    os.killpg(proc.pid, getattr(signal, f"SIG{args.signal}"))
    _, stderr = proc.communicate(timeout=300)
    stop_s = time.time() - signalled
    resumed = subprocess.run([sys.executable, "-m", "tuning.launch", "study=smoke", f"study.out_dir={out}",
                              "resume=true"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    result = {"command": "python benchmarks/stop_time.py " + " ".join(sys.argv[1:]), "commit": commit,
              "signal": f"SIG{args.signal} to the launcher's process group", "exit_code": proc.returncode,
              "stop_seconds": round(stop_s, 1), "resume_exit_code": resumed.returncode,
              "last_stderr_line": (stderr.strip().splitlines() or [""])[-1][:200]}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
