"""What a finished trial keeps on disk (issue 13, bounded storage).

While a trial runs, its own folder (`<out_dir>/trials/<key>/`, tuning/run/trainable.py) holds the full engine
state (`checkpoints/last.pt`: nets, both optimisers, both image pools, RNGs; ~420 MB at 256 px / ngf 64),
so a restart or `resume=true` continues exactly. Each evaluation also hands Tune a checkpoint with the
generators (`generators.pt`, fp32 weights only), the sample grids and the metrics, for the tracker; Tune
keeps the last two.

Only when every trial of a launch has a final outcome (the launch ended complete: not interrupted, nothing
left for a resume) does `compact_launch` run: it removes `last.pt` of each trial that ended without error
(complete, or stopped by ASHA) and `generators.pt` from all but the newest of Tune's checkpoints (the final
generators are also in MLflow, `final_generators/`). Grids and metrics (kilobytes) stay. Failed trials keep
their engine state, for whoever debugs them. At rest a finished trial costs its generators once in Tune's
folder and once in MLflow: 2x the two generators (docs/platform.md has the figures, `benchmarks/trial_disk.py`
measures them).
"""
from __future__ import annotations

from pathlib import Path

from tuning.state.trial_records import trial_folder

ENGINE_STATE = "last.pt"
GENERATORS_FILE = "generators.pt"


def checkpoint_index(folder: Path) -> int:
    tail = folder.name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def compact_trial(trial_dir: Path) -> int:
    """Drop what only a restart needs from a finished trial's checkpoints; the bytes freed."""
    checkpoints = sorted((p for p in trial_dir.glob("checkpoint_*") if p.is_dir()), key=checkpoint_index)
    doomed = [c / ENGINE_STATE for c in checkpoints] + [c / GENERATORS_FILE for c in checkpoints[:-1]]
    freed = 0
    for path in doomed:
        if path.is_file():
            freed += path.stat().st_size
            path.unlink()
    return freed


def compact_launch(out_dir: Path, records, experiments: list[str]) -> int:
    """After a complete launch: drop the engine state of its trials that ended without error (`records`:
    tuning.state.trial_records.TrialRecord) and the older generators in its Tune experiments' folders."""
    freed = 0
    for record in records:
        if record.status in ("complete", "stopped"):
            state = trial_folder(out_dir, record.key) / "checkpoints" / ENGINE_STATE
            if state.is_file():
                freed += state.stat().st_size
                state.unlink()
    for experiment in experiments:
        for trial_dir in (Path(out_dir) / experiment).glob("*"):
            if trial_dir.is_dir():
                freed += compact_trial(trial_dir)
    return freed
