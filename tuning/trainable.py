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


def run_trial(config: dict, study: Study) -> None:
    trial_dir = Path(tune.get_context().get_trial_dir())
    marker = trial_dir / DIVERGED
    if marker.is_file():  # a restart from the last checkpoint would diverge again: fail at once
        raise TrainingDiverged(marker.read_text())
    (trial_dir / "worker.pid").write_text(str(os.getpid()))  # which process runs this trial (operators, tests)
    out_dir = trial_dir / "engine"
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
            with tempfile.TemporaryDirectory(prefix="report-", dir=trial_dir) as tmp:
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
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
