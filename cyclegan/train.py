"""`python -m cyclegan.train [config=FILE.yaml] [key=value ...]`: train one CycleGAN (SPEC §4 outputs)."""
from __future__ import annotations

import sys

from .cli import run_main
from .config import Config, load_config
from .keyhelp import describe
from .trainer import Trainer, TrainingDiverged

USAGE = """
usage: python -m cyclegan.train [config=FILE.yaml] [key=value ...] [--debug]

Trains a CycleGAN: defaults <- config=FILE.yaml <- key=value. Every key is listed below (key=default,
type or allowed values, what it does); docs/engine.md explains the design. Example (offline, CPU):
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
    trainer = Trainer(cfg, log=lambda *parts: print(*parts, flush=True))  # flushed: logs read it live
    trainer.describe()
    try:
        for report in trainer.epochs():
            print(format_line(report.metrics), flush=True)
    except TrainingDiverged as exc:
        print(f"error: training diverged: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"done: {trainer.out_dir}")
    if cfg.total_epochs < SHORT_RUN_EPOCHS:
        print(SHORT_RUN_NOTE.format(samples=trainer.out_dir / "samples"))


SHORT_RUN_EPOCHS = 20
SHORT_RUN_NOTE = (
    "note: a run this short paints noise: the sample grids in {samples} (rows Original / Translated /\n"
    "Reconstructed) are expected to look like coloured static. CycleGAN needs real images and many epochs\n"
    "(the paper: 200 epochs at 256 px) to paint; a first real run on a CPU (about an hour):\n"
    "  python -m cyclegan.train data.name=folder data.root=../shared/data/monet2photo_mini data.load_size=143 \\\n"
    "      data.crop_size=128 model.ngf=32 train.epochs=5 train.decay_epochs=5 eval.backbone=tiny train.out_dir=runs/monet")


if __name__ == "__main__":
    sys.exit(run_main(main, usage=lambda: USAGE + "\nkeys:\n" + "\n".join(describe(Config))))
