"""The Ray Tune function trainable: one trial = one run of the `cyclegan` engine.

It turns the trial's config into an engine config (`Study.engine_config`), iterates `Trainer.epochs()`
and calls `tune.report` at each evaluation epoch with the SPEC §5 metrics, `objective` and `final`
(tuning/results/objective.py) and a checkpoint directory for the launcher's tracker:
    generators.pt    G_A and G_B weights with their model config (what the registry and `translate` need)
    a2b.png, b2a.png the sample grids of this epoch
    metrics.json     the reported metrics
The engine runs in the trial's own folder, `<out_dir>/trials/<key>/` (tuning/state/trial_records.py), which the
platform owns: `checkpoints/last.pt` there (everything needed to continue exactly, loaded with
`weights_only=True`) is what a restart continues from, whether Tune restarts the trial (a crashed worker)
or a later launch resumes it (`resume=true`): Tune's own checkpoints are never read back.
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
from tuning.results.objective import objective_fields
from tuning.state.trial_records import STAGING, trial_folder
from tuning.study.study import Study
from tuning.study.trial_keys import TRIAL_KEY

DIVERGED = "diverged.txt"
RESUMES = "resumes.txt"


def report(study: Study, trainer: Trainer, epoch: int, metrics: dict, provenance: dict, images: dict,
           final: bool, folder: Path) -> None:
    """Hand one evaluation to Tune: the metrics and, as its checkpoint, the generators and the grids."""
    result = dict(metrics, provenance=provenance, **objective_fields(metrics, study.launch.study.metric, final))
    # staged in the trial folder under a name the next launch knows as scratch (tuning/run/cleanup.py)
    with tempfile.TemporaryDirectory(prefix=STAGING, dir=folder) as tmp:
        tmp = Path(tmp)
        save_atomic({"model": to_dict(trainer.cfg.model), "G_A": trainer.nets["G_A"].state_dict(),
                     "G_B": trainer.nets["G_B"].state_dict()}, tmp / "generators.pt")
        for direction, path in images.items():
            if Path(path).is_file():
                shutil.copy2(path, tmp / f"{direction}.png")
        (tmp / "metrics.json").write_text(json.dumps(result))
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(str(tmp)))


def last_evaluation(trainer: Trainer) -> tuple[dict, dict, dict] | None:
    """(metrics, provenance, images) of the checkpoint's own epoch, if it was an evaluation epoch: a launcher
    stopped after the engine saved the epoch but before Tune passed its report on would otherwise never
    hear of it. Reported again on every restart; the tracker, Optuna and ASHA each take an epoch once."""
    path = trainer.files.metrics_file
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    last = next((r for r in reversed(lines) if int(r.get("epoch", -1)) == trainer.epoch), None)
    if last is None or not last.get("provenance"):
        return None
    provenance = last.pop("provenance")
    samples = trainer.out_dir / "samples"
    images = {d: samples / f"epoch_{trainer.epoch:03d}_{d}.png" for d in ("a2b", "b2a")}
    return last, provenance, images


def run_trial(config: dict, study: Study) -> None:
    folder = trial_folder(study.out_dir, config[TRIAL_KEY])
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / DIVERGED
    if marker.is_file():  # a restart from the last checkpoint would diverge again: fail at once
        raise TrainingDiverged(marker.read_text())
    (folder / "worker.pid").write_text(str(os.getpid()))  # which process runs this trial (operators, tests)
    for staged in folder.glob(STAGING + "*"):  # a killed worker's half-handed checkpoint
        shutil.rmtree(staged, ignore_errors=True)
    resume = (folder / "checkpoints" / "last.pt").is_file()
    if not resume:  # killed before its first checkpoint: what it wrote is recomputed from the start
        for partial in ("metrics.jsonl", "config.yaml", "samples"):
            shutil.rmtree(folder / partial, ignore_errors=True) if (folder / partial).is_dir() \
                else (folder / partial).unlink(missing_ok=True)
    every = study.base_config().eval.every
    extra = {"train.out_dir": str(folder), "train.checkpoint_every": every}
    if study.base_config().train.threads == 0:
        extra["train.threads"] = max(1, int(study.launch.trial.cpus))
    cfg = study.engine_config(config, extra=extra)
    cfg.resume = resume
    trainer = Trainer(cfg, log=lambda *a: None, progress=False)
    if resume:  # for operators (and tests): which process went on from which epoch
        with open(folder / RESUMES, "a") as f:
            f.write(f"pid {os.getpid()} went on after epoch {trainer.epoch}\n")
    try:
        again = last_evaluation(trainer) if resume else None
        if again is not None:
            report(study, trainer, trainer.epoch, *again, final=trainer.epoch >= cfg.total_epochs, folder=folder)
        for epoch in trainer.epochs():
            if epoch.checkpoint is None or not epoch.provenance:
                continue  # Tune hears from the trial at evaluation epochs only: every result has the metric
            report(study, trainer, epoch.epoch, epoch.metrics, epoch.provenance, epoch.images, epoch.final, folder)
    except TrainingDiverged as exc:
        marker.write_text(str(exc))
        raise
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
