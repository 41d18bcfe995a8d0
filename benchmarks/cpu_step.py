"""The CPU training step, side by side (issue 12): our trainer in float32, with `train.channels_last=true`,
with `train.amp=true` (bf16 autocast: oneDNN runs the convolutions in bf16 on CPUs with AMX or
AVX-512 BF16), with torch's `instance_norm` kernel instead of the group norm the engine uses on the CPU
(cyclegan/networks.py), and a bare hand-written float32 loop (benchmarks/train_overhead.py), in alternating rounds
so that machine noise hits all alike; median seconds per iteration and the ratio to our float32 step.

    python benchmarks/cpu_step.py                      # ResNet-9, ngf 32, 128 px, batch 1 (the issue's setting)
    python benchmarks/cpu_step.py --rounds 2 --iters 2 --size 32 --ngf 8 --blocks 2   # a quick look
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cyclegan.networks import InstanceNorm2d  # noqa: E402
from cyclegan.trainer import cpu_has_bf16  # noqa: E402
from gpu_speed import time_bare, time_trainer  # noqa: E402

VARIANTS = {"ours fp32": [], "ours channels_last": ["train.channels_last=true"], "ours bf16 (train.amp=true)": ["train.amp=true"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=9)
    ap.add_argument("--iters", type=int, default=4, help="timed iterations per round and variant")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    p = {"size": args.size, "ngf": args.ngf, "blocks": args.blocks, "iters": args.iters, "warmup": 1}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {cpu_has_bf16()}; "
          f"ResNet-{args.blocks}, ngf {args.ngf}, {args.size} px, batch 1, {args.iters} iterations x {args.rounds} rounds")
    torch_norm = "ours fp32, torch's instance_norm"  # the kernel the CPU used before the group norm
    seconds: dict[str, list[float]] = {name: [] for name in [*VARIANTS, torch_norm, "bare loop fp32"]}
    for _ in range(args.rounds):
        for name, extra in VARIANTS.items():
            seconds[name].append(1 / time_trainer(p, "cpu", extra)["images_per_s"])
        chosen, InstanceNorm2d.group_norm_devices = InstanceNorm2d.group_norm_devices, frozenset()
        try:
            seconds[torch_norm].append(1 / time_trainer(p, "cpu", [])["images_per_s"])
        finally:
            InstanceNorm2d.group_norm_devices = chosen
        seconds["bare loop fp32"].append(1 / time_bare(p, "cpu")["images_per_s"])
    base = statistics.median(seconds["ours fp32"])
    for name, values in seconds.items():
        m = statistics.median(values)
        print(f"  {name:34s} {m:7.3f} s/iteration   {m / base:5.3f}x our fp32 time")


if __name__ == "__main__":
    main()
