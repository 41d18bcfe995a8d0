"""Our training step beside the reference CycleGAN's, on real images, on the CPU or one GPU (issue 12).

The reference is junyanz/pytorch-CycleGAN-and-pix2pix, which this project does not ship: pass a checkout
with `--reference DIR` (`git clone https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix`). Each run is a
fresh process that trains two epochs on the same folder and settings (ResNet-9, ngf = ndf = 32, load 143 /
crop 128 px, batch 1 by default) and reports the wall time of epoch 2 per iteration, data loading included,
as each implementation's own training loop does it:
- the reference: its `UnalignedDataset` in a `DataLoader` with its default 4 loader processes, then
  `CycleGANModel.set_input` + `optimize_parameters` per batch: the inner loop of its train.py (without
  the visualizer, printing and checkpoints);
- ours: `Trainer.train_epoch`, the code a trial runs, in float32 and with each variant's overrides.
Variants alternate within a round so that machine noise hits them alike; the table gives the median
seconds per iteration and each one's time as a fraction of the reference's.

    python benchmarks/vs_reference.py --reference ~/src/pytorch-CycleGAN-and-pix2pix     # CPU, 128 px
    python benchmarks/vs_reference.py --reference R --device cuda --size 256 --ngf 64 --max-images 200
    python benchmarks/vs_reference.py --reference R --rounds 1 --max-images 8 --variants reference "ours fp32"
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "monet2photo_mini"
VARIANTS = {  # name -> our engine overrides (None: the reference)
    "reference": None,
    "ours fp32": [],
    "ours fp32, 1 thread": ["train.threads=1"],
    "ours channels_last": ["train.channels_last=true"],
    "ours bf16 (train.amp=true)": ["train.amp=true"],
    "ours compile": ["train.compile=true"],
}
DEFAULT_VARIANTS = ["reference", "ours fp32", "ours bf16 (train.amp=true)"]


def reference_options(args, checkpoints: str) -> argparse.Namespace:
    """The reference's train options at their defaults (options/base_options.py, train_options.py,
    cycle_gan_model.py) with the benchmark's sizes; load_size keeps its 286/256 ratio to crop_size."""
    return argparse.Namespace(
        dataroot=str(args.data), name="bench", gpu_ids=[0] if args.device == "cuda" else [],
        checkpoints_dir=checkpoints, isTrain=True,
        model="cycle_gan", input_nc=3, output_nc=3, ngf=args.ngf, ndf=args.ngf, netD="basic",
        netG=f"resnet_{args.blocks}blocks", n_layers_D=3, norm="instance", init_type="normal", init_gain=0.02,
        no_dropout=True, dataset_mode="unaligned", direction="AtoB", serial_batches=False, num_threads=4,
        batch_size=1, load_size=args.size * 286 // 256, crop_size=args.size, max_dataset_size=args.max_images,
        preprocess="resize_and_crop", no_flip=False, phase="train", epoch_count=1, n_epochs=1, n_epochs_decay=1,
        beta1=0.5, lr=0.0002, gan_mode="lsgan", pool_size=50, lr_policy="linear", lambda_A=10.0,
        lambda_B=10.0, lambda_identity=0.5, continue_train=False, verbose=False)


def time_reference(args) -> float:
    sys.path.insert(0, str(Path(args.reference).resolve()))
    import torch
    from data.unaligned_dataset import UnalignedDataset
    from models.cycle_gan_model import CycleGANModel

    with tempfile.TemporaryDirectory() as checkpoints:
        opt = reference_options(args, checkpoints)
        loader = torch.utils.data.DataLoader(UnalignedDataset(opt), batch_size=opt.batch_size,
                                             shuffle=not opt.serial_batches, num_workers=opt.num_threads)
        model = CycleGANModel(opt)
        model.setup(opt)
        for epoch in (1, 2):
            start, steps = time.perf_counter(), 0
            for data in loader:
                model.set_input(data)
                model.optimize_parameters()
                steps += 1
            sync(args.device)
            seconds = time.perf_counter() - start
            model.update_learning_rate()
        return seconds / steps


def time_ours(args, extra: list[str]) -> float:
    sys.path.insert(0, str(ROOT))
    from cyclegan.config import load_config
    from cyclegan.trainer import Trainer

    with tempfile.TemporaryDirectory() as out:
        cfg = load_config([
            "data.name=folder", f"data.root={args.data}", f"data.load_size={args.size * 286 // 256}",
            f"data.crop_size={args.size}", f"data.max_images={args.max_images}", f"model.ngf={args.ngf}",
            f"model.ndf={args.ngf}", f"model.g_depth={args.blocks}", "train.batch_size=1", "train.epochs=1",
            "train.decay_epochs=1", f"train.device={args.device}", "eval.every=0", f"train.out_dir={out}", *extra])
        trainer = Trainer(cfg, log=lambda *a: None, progress=False)
        trainer.train_epoch(1)
        start = time.perf_counter()
        trainer.train_epoch(2)
        sync(args.device)
        return (time.perf_counter() - start) / trainer.data.steps_per_epoch(1)


def sync(device: str) -> None:
    if device == "cuda":
        import torch
        torch.cuda.synchronize()


def run_variant(args, name: str) -> float:
    command = [sys.executable, __file__, "--worker", name, "--reference", str(args.reference), "--data", str(args.data),
               "--size", str(args.size), "--ngf", str(args.ngf), "--blocks", str(args.blocks),
               "--max-images", str(args.max_images), "--device", args.device]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["s_per_iteration"]


def user_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=Path("pytorch-CycleGAN-and-pix2pix"),
                    help="a checkout of junyanz/pytorch-CycleGAN-and-pix2pix")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a folder with trainA/ trainB/ testA/ testB/")
    ap.add_argument("--size", type=int, default=128, help="crop size; images are resized to size x 286/256 first")
    ap.add_argument("--ngf", type=int, default=32, help="ngf = ndf")
    ap.add_argument("--blocks", type=int, default=9, choices=[6, 9], help="ResNet blocks (the reference has 6 or 9)")
    ap.add_argument("--max-images", type=int, default=40, help="train images per domain: iterations per epoch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    ap.add_argument("--worker", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    needs_reference = "reference" in (args.variants if args.worker is None else [args.worker])
    if needs_reference and not (args.reference / "models" / "cycle_gan_model.py").is_file():
        user_error(f"--reference {args.reference} is not a checkout of the reference CycleGAN: git clone "
                   "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix and pass its folder")
    if not all((args.data / split).is_dir() for split in ("trainA", "trainB", "testA", "testB")):
        user_error(f"--data {args.data} is not a CycleGAN image folder: pass one with trainA/ trainB/ testA/ testB/")
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        user_error("--device cuda, but torch sees no CUDA device here: run it on a GPU machine or use --device cpu")
    if args.worker:
        extra = VARIANTS[args.worker]
        seconds = time_reference(args) if extra is None else time_ours(args, extra)
        print(json.dumps({"s_per_iteration": seconds}))
        return
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"torch {torch.__version__}, {where}; {args.data.name}, {args.max_images} images "
          f"per domain, ResNet-{args.blocks}, ngf = ndf = {args.ngf}, crop {args.size} px, batch 1; epoch 2 of 2, "
          f"{args.rounds} alternating rounds")
    seconds: dict[str, list[float]] = {name: [] for name in args.variants}
    for _ in range(args.rounds):
        for name in args.variants:
            seconds[name].append(run_variant(args, name))
    base = statistics.median(seconds["reference"]) if "reference" in seconds else None
    for name, values in seconds.items():
        m = statistics.median(values)
        ratio = f"{m / base:6.3f}x the reference's time" if base else ""
        spread = ", ".join(f"{v:.3f}" for v in values)
        print(f"  {name:28s} {m:7.3f} s/iteration  {ratio}   (rounds: {spread})")


if __name__ == "__main__":
    main()
