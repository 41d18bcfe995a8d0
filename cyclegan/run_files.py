"""A training run's files and its resumable state: what `train.out_dir` holds, apart from the algorithm.

    out_dir/config.yaml            the resolved config, written once at the start
    out_dir/metrics.jsonl          one JSON line per epoch (SPEC §3 names), fsynced
    out_dir/checkpoints/last.pt    everything needed to continue exactly (`training_state`)
    out_dir/samples/               sample grids (written by the evaluator)

A checkpoint holds the four nets, both optimizers, both image pools (with their RNGs), the DiffAugment
RNG, the torch RNG state, the epoch and the elapsed time. Data sampling is derived from (seed, epoch) and
the learning rate from the epoch, so neither needs state of its own.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import yaml

from .checkpoint import architecture, check_architecture, load_checkpoint
from .configtools import UserError, check_writable_dir, to_dict


class RunFolder:
    """The files of one run in `out_dir`; `check` refuses to overwrite a run or to resume nothing."""

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir)
        self.last_checkpoint = self.path / "checkpoints" / "last.pt"
        self.metrics_file = self.path / "metrics.jsonl"

    def check(self, resume: bool) -> None:
        if resume and not self.last_checkpoint.is_file():
            raise UserError(f"resume=true but {self.last_checkpoint} does not exist: nothing to resume; drop "
                            "resume=true to start a new run")
        if not resume and (self.last_checkpoint.is_file() or self.metrics_file.is_file()):
            raise UserError(f"train.out_dir={self.path} already holds a run; pass resume=true to continue it "
                            "or choose another train.out_dir")
        check_writable_dir(self.path, "train.out_dir")

    def write_config(self, cfg) -> None:
        (self.path / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))

    def append_metrics(self, metrics: dict, provenance: dict) -> None:
        record = dict(metrics, provenance=provenance) if provenance else dict(metrics)
        with open(self.metrics_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def truncate_metrics(self, epoch: int) -> None:
        """Drop metric lines written after the checkpoint (they will be recomputed): each epoch once."""
        path = self.metrics_file
        if not path.is_file():
            return
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        keep = []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    break  # a line torn by a kill mid-write: its epoch is recomputed
                raise UserError(f"{path} line {number} is not JSON; restore the file from a backup or delete it "
                                "(the checkpoint holds the training state)") from None
            if record.get("epoch", 0) <= epoch:
                keep.append(line)
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
        tmp.replace(path)


def training_state(trainer) -> dict:
    """A plain dict (tensors, numbers, strings) of everything `restore_training_state` needs."""
    rng = {"torch": torch.get_rng_state(), "augment": trainer.augment.state_dict()}
    if trainer.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(trainer.device)
    return {"format": 1, "epoch": trainer.epoch, "elapsed_s": trainer.elapsed, "config": to_dict(trainer.cfg),
            "architecture": architecture(trainer.cfg.model),
            "nets": {k: v.state_dict() for k, v in trainer.nets.items()},
            "optim": {"G": trainer.opt_g.state_dict(), "D": trainer.opt_d.state_dict()},
            "pool": {"A": trainer.pool_a.state_dict(), "B": trainer.pool_b.state_dict()}, "rng": rng}


def restore_training_state(trainer, path: Path) -> None:
    """Load `path` (weights_only) into the trainer; refuses a checkpoint of another architecture in one line."""
    state = load_checkpoint(path)
    check_architecture(state, trainer.cfg.model, path)
    try:
        for name, net in trainer.nets.items():
            net.load_state_dict(state["nets"][name])
        trainer.opt_g.load_state_dict(state["optim"]["G"])
        trainer.opt_d.load_state_dict(state["optim"]["D"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise UserError(f"checkpoint {path} does not fit this model ({str(exc).splitlines()[0][:160]}); "
                        "use the model settings it was trained with") from None
    trainer.pool_a.load_state_dict(state["pool"]["A"], trainer.device)
    trainer.pool_b.load_state_dict(state["pool"]["B"], trainer.device)
    torch.set_rng_state(state["rng"]["torch"])
    if "augment" in state["rng"]:  # checkpoints from before DiffAugment trained without it
        trainer.augment.load_state_dict(state["rng"]["augment"])
    if "cuda" in state["rng"] and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng"]["cuda"], trainer.device)
    trainer.epoch, trainer.elapsed = state["epoch"], state["elapsed_s"]
