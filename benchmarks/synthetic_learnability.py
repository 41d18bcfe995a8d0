"""Is the synthetic dataset learnable? Trains a small CycleGAN at 32 px on the CPU and prints l1_a2b
(mean absolute distance to the true painting, images in [0, 1]) before training and after each epoch,
next to the identity baseline (returning the photo unchanged).

    python benchmarks/synthetic_learnability.py              # about 3 minutes on 2 cores
    python benchmarks/synthetic_learnability.py --epochs 12
"""
from __future__ import annotations

import argparse
import tempfile

import torch

from cyclegan.config import load_config
from cyclegan.trainer import Trainer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="engine overrides, e.g. train.amp=true train.seed=1 (bf16 against fp32, seed to seed)")
    args = ap.parse_args()
    cfg = load_config(["data.name=synthetic", "data.load_size=36", "data.crop_size=32", "model.ngf=16",
                       "model.ndf=16", "model.g_depth=3", f"train.epochs={args.epochs}", "train.decay_epochs=0",
                       "train.batch_size=4", "eval.backbone=tiny", f"train.out_dir={tempfile.mkdtemp()}", *args.set])
    trainer = Trainer(cfg, log=lambda *a: None, progress=False)
    d = trainer.data
    identity = float((d.test_a.double() - d.truth_a2b.double()).abs().mean() / 255)
    untrained, _, _ = trainer.evaluator.evaluate(trainer.nets["G_A"], trainer.nets["G_B"], 0, None)
    print(f"identity baseline  l1_a2b {identity:.4f}")
    print(f"untrained          l1_a2b {untrained['l1_a2b']:.4f}  fid {untrained['fid']:.3f}")
    for report in trainer.epochs():
        m = report.metrics
        print(f"epoch {m['epoch']:2d} {m['time_s']:6.0f}s l1_a2b {m['l1_a2b']:.4f}  l1_b2a {m['l1_b2a']:.4f}  "
              f"fid {m['fid']:.3f}  ({(m['l1_a2b'] / identity - 1) * 100:+.1f} % vs identity)")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
