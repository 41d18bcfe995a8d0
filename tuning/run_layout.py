"""Where a trial's MLflow run keeps its artifacts: one definition for the tracker that writes them and the
dashboards that read them (no Ray import here, so `dashboards` can use it).
"""
from __future__ import annotations

GENERATORS = "final_generators"  # artifact folder: G_A and G_B at the trial's final evaluation


def image_step(artifact_path: str) -> int:
    """The step of an image logged with `log_image(..., step=N)` (`images/a2b+step+N+...png`), else 0."""
    head = artifact_path.split("+step+")
    return int(head[1].split("+")[0]) if len(head) > 1 else 0
