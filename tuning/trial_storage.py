"""What a finished trial keeps on disk (issue 13, bounded storage).

While a trial runs, each Tune checkpoint holds the full engine state (`last.pt`: nets, both optimisers,
both image pools, RNGs; ~420 MB at 256 px / ngf 64) so a restart continues exactly, plus the generators
(`generators.pt`, fp32 weights only), the sample grids and the metrics. Tune keeps two: its experiment
snapshot can lag the newest checkpoint, and a launcher killed with SIGKILL resumes from the one the
snapshot names.

Once a launch has ended complete, Tune's final snapshot records every trial as ended and nothing will
resume them, so the engine state has no reader left: `compact_finished` removes `last.pt` from every
checkpoint of a trial that ended without error, and `generators.pt` from all but its newest checkpoint
(the final generators are also in MLflow, `final_generators/`). Grids and metrics (kilobytes) stay.
Failed trials keep everything, for whoever debugs them. At rest a finished trial costs its generators
once in Tune's folder and once in MLflow: 2x the two generators (docs/platform.md has the figures,
`benchmarks/trial_disk.py` measures them).
"""
from __future__ import annotations

from pathlib import Path

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


def compact_finished(results) -> int:
    """After a complete launch: compact every trial that ended without error (a Tune ResultGrid)."""
    return sum(compact_trial(Path(result.path)) for result in results if result.error is None and result.path)
