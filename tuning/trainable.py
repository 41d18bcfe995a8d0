"""The Ray Tune function trainable: one trial = one run of the `cyclegan` engine.

It turns the trial's config into an engine config (`Study.engine_config`), iterates `Trainer.epochs()`
and calls `tune.report` at each evaluation epoch with the SPEC §3 metrics, `objective` and `final`
(tuning/objective.py) and a checkpoint directory:
    last.pt          the engine checkpoint (everything needed to continue exactly)
    generators.pt    G_A and G_B weights with their model config (what the registry and `translate` need)
    a2b.png, b2a.png the sample grids of this epoch
    metrics.json     the reported metrics
When Tune restarts the trial (a crashed worker, `resume=true`) it resumes from `tune.get_checkpoint()`.
It knows nothing about the search, and nothing about MLflow: the launcher's tracker logs what it reports.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from ray import tune

from cyclegan.checkpoint import save_atomic
from cyclegan.configtools import to_dict
from cyclegan.trainer import Trainer, TrainingDiverged

from .objective import objective_fields
from .study import Study

DIVERGED = "diverged.txt"


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


SCRATCH = "catholic2gogh-scratch"


def ray_session_dir() -> Path | None:
    """This process's Ray session folder (`<temp>/session_*`), None outside Ray."""
    import ray
    node = getattr(ray._private.worker, "_global_node", None)  # no public accessor for the session folder
    return Path(node.get_session_dir_path()) if node is not None else None


def scratch_dir() -> Path:
    """The engine's working folder for this trial: in the node's Ray session folder, outside the trial
    folder (which Tune copies into study.out_dir: 33 MB of scratch per smoke study), under the experiment's
    name so that the launcher can remove what a killed worker left (`launch.remove_staging`)."""
    base = ray_session_dir() or Path(tempfile.gettempdir())
    context = tune.get_context()
    return base / SCRATCH / context.get_experiment_name() / context.get_trial_id()


def trial_folder() -> Path:
    """The trial's folder in `study.out_dir` (Tune's storage; shared by every node of a cluster), not its
    working directory: that one is in the Ray session folder of the node running the trial, and a trial
    restarted on another node would not find what was left there (the divergence marker above all)."""
    # storage_path is study.out_dir, a local (or mounted) folder: its trial path is a plain path
    folder = Path(tune.get_context().get_storage().trial_fs_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_trial(config: dict, study: Study) -> None:
    trial_dir = trial_folder()
    marker = trial_dir / DIVERGED
    if marker.is_file():  # a restart from the last checkpoint would diverge again: fail at once
        raise TrainingDiverged(marker.read_text())
    (trial_dir / "worker.pid").write_text(str(os.getpid()))  # which process runs this trial (operators, tests)
    out_dir = scratch_dir()
    shutil.rmtree(out_dir, ignore_errors=True)  # Tune's checkpoint, not a half-finished epoch, is the truth
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as saved:
            (out_dir / "checkpoints").mkdir(parents=True)
            shutil.copy2(Path(saved) / "last.pt", out_dir / "checkpoints" / "last.pt")
    every = study.base_config().eval.every
    extra = {"train.out_dir": str(out_dir), "train.checkpoint_every": every}
    if study.base_config().train.threads == 0:
        extra["train.threads"] = max(1, int(study.launch.trial.cpus))
    cfg = study.engine_config(config, extra=extra)
    cfg.resume = checkpoint is not None
    trainer = Trainer(cfg, log=lambda *a: None, progress=False)
    try:
        for report in trainer.epochs():
            if report.checkpoint is None or not report.provenance:
                continue  # Tune hears from the trial at evaluation epochs only: every result has the metric
            result = dict(report.metrics, provenance=report.provenance,
                          **objective_fields(report.metrics, study.launch.study.metric, report.final))
            # staged in the scratch folder: nothing Ray syncs sees it half-written or half-deleted
            with tempfile.TemporaryDirectory(prefix="report-", dir=out_dir) as tmp:
                tmp = Path(tmp)
                link_or_copy(report.checkpoint, tmp / "last.pt")
                save_atomic({"model": to_dict(cfg.model), "G_A": trainer.nets["G_A"].state_dict(),
                             "G_B": trainer.nets["G_B"].state_dict()}, tmp / "generators.pt")
                for direction, path in report.images.items():
                    shutil.copy2(path, tmp / f"{direction}.png")
                (tmp / "metrics.json").write_text(json.dumps(result))
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(str(tmp)))
    except TrainingDiverged as exc:
        marker.write_text(str(exc))
        raise
    finally:
        # The engine's folder is scratch: Tune's checkpoint (persisted in study.out_dir before tune.report
        # returns) is what a restart resumes from. Only its per-epoch metrics are kept, in the trial folder.
        if (out_dir / "metrics.jsonl").is_file():
            shutil.copy2(out_dir / "metrics.jsonl", trial_dir / ".metrics.jsonl.tmp")
            os.replace(trial_dir / ".metrics.jsonl.tmp", trial_dir / "metrics.jsonl")
        shutil.rmtree(out_dir, ignore_errors=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
