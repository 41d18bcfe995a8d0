"""Disk a trial leaves behind, before and after `tuning.state.trial_storage.compact_finished` (issue 13, item 4).

Builds the engine at a study's settings, fills both image pools and the Adam state as a long run has them,
writes the two files a Tune checkpoint carries (`last.pt`: the engine state; `generators.pt`: G_A and G_B,
fp32 weights only) and prints what a finished trial costs:
    before: two Tune checkpoints of both files, plus the final generators in MLflow
    after:  one generators.pt in Tune's folder, plus the final generators in MLflow
(sample grids and metrics, a few hundred KB, left out of both).

    python benchmarks/trial_disk.py                 # smoke (64 px, ngf 8) and the paper's 256 px / ngf 64
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from cyclegan.checkpoint import save_atomic
from cyclegan.config import load_config
from cyclegan.configtools import to_dict
from cyclegan.trainer import Trainer
from tuning.study.loading import load_study

MB = 1e6


def sizes(cfg, folder: Path) -> tuple[float, float]:
    trainer = Trainer(cfg, log=lambda *a: None, progress=False)
    for opt in (trainer.opt_g, trainer.opt_d):  # one zero-gradient step creates Adam's two moments per weight
        for group in opt.param_groups:
            for p in group["params"]:
                p.grad = torch.zeros_like(p)
        opt.step()
    size = cfg.data.crop_size
    for pool in (trainer.pool_a, trainer.pool_b):  # a pool is full after pool_size iterations
        pool.query(torch.rand(cfg.train.pool_size, 3, size, size))
    last = trainer.save(folder / "last.pt")
    generators = folder / "generators.pt"
    save_atomic({"model": to_dict(cfg.model), "G_A": trainer.nets["G_A"].state_dict(),
                 "G_B": trainer.nets["G_B"].state_dict()}, generators)
    return last.stat().st_size / MB, generators.stat().st_size / MB


def main():
    tiny_data = {"synthetic_train_size": 2, "synthetic_test_size": 2}
    smoke = load_study("smoke").base_config()
    paper = load_config(base={"data": tiny_data, "eval": {"backbone": "tiny"}})  # the evaluator is not saved
    cases = {"smoke (64 px, ngf 8)": smoke, "256 px, ngf 64, resnet 9 blocks": paper}
    print(f"{'settings':34s} {'last.pt':>9s} {'generators':>11s} {'before':>9s} {'after':>8s} {'after/gens':>10s}")
    for name, cfg in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            cfg.train.out_dir = tmp
            cfg.train.device = "cpu"
            last, gens = sizes(cfg, Path(tmp))
        before = 2 * (last + gens) + gens
        after = gens + gens
        print(f"{name:34s} {last:7.1f}MB {gens:9.1f}MB {before:7.1f}MB {after:6.1f}MB {after / gens:9.1f}x")


if __name__ == "__main__":
    main()
