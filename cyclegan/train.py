"""`python -m cyclegan.train [config=FILE.yaml] [key=value ...]`: train one CycleGAN (SPEC §4 outputs)."""
from __future__ import annotations

import sys

from .cli import run_main
from .config import load_config
from .trainer import Trainer, TrainingDiverged

USAGE = """
usage: python -m cyclegan.train [config=FILE.yaml] [key=value ...] [--debug]

Trains a CycleGAN. Keys (SPEC §2) include data.name, data.root, model.generator, model.g_depth,
loss.lambda_cyc, loss.lambda_id, optim.lr_g, train.epochs, train.decay_epochs, train.out_dir,
eval.backbone, resume. Example (offline, CPU, a few minutes):
  python -m cyclegan.train data.name=synthetic data.load_size=32 data.crop_size=32 model.ngf=16 \\
      model.ndf=16 model.g_depth=3 train.epochs=3 train.decay_epochs=0 eval.backbone=tiny \\
      train.out_dir=runs/first
Writes train.out_dir/config.yaml, metrics.jsonl, checkpoints/last.pt and samples/epoch_NNN_{a2b,b2a}.png.
"""


def format_line(metrics: dict) -> str:
    keys = ["loss_G", "loss_D", "fid", "kid", "fid_a2b", "fid_b2a", "l1_a2b", "l1_b2a", "images_per_s"]
    # a quality number is shown with its standard error over the test images: how much of it is noise
    parts = [f"{k} {metrics[k]:.4g}" + (f" ± {metrics[k + '_se']:.2g}" if k + "_se" in metrics else "")
             for k in keys if k in metrics]
    return f"epoch {metrics['epoch']:3d} | " + " | ".join(parts) + f" | {metrics['time_s']:.1f}s"


def main(args: list[str]) -> None:
    cfg = load_config(args)
    trainer = Trainer(cfg)
    trainer.describe()
    try:
        for report in trainer.epochs():
            print(format_line(report.metrics), flush=True)
    except TrainingDiverged as exc:
        print(f"error: training diverged: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"done: {trainer.out_dir}")


if __name__ == "__main__":
    sys.exit(run_main(main, usage=USAGE))
