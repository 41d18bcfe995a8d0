"""Instance norm as PyTorch's `instance_norm` or as a one-channel-per-group `group_norm` (the same numbers,
cyclegan/networks.py): a ResNet generator's forward + backward with each kernel, on a device, in fp32 and
under bf16 autocast, alternating, median. The engine uses the group norm on the device types listed in
`InstanceNorm2d.group_norm_devices` (the CPU, where it was measured faster); run this on a GPU to decide
whether CUDA joins them.

    python benchmarks/norm_kernels.py                       # CPU, ResNet-9, ngf 32, 128 px, batch 2
    python benchmarks/norm_kernels.py --device cuda --size 256 --ngf 64
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cyclegan.config import ModelConfig  # noqa: E402
from cyclegan.networks import InstanceNorm2d, build_generator  # noqa: E402


def time_norm_kernels(device: str, size: int, ngf: int, blocks: int, batch: int = 2, iters: int = 5,
                      rounds: int = 3) -> dict[str, float]:
    """Milliseconds per generator forward + backward, keyed "<kernel> <precision>"."""
    net = build_generator(ModelConfig(ngf=ngf, g_depth=blocks)).to(device)
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    chosen = InstanceNorm2d.group_norm_devices
    results: dict[str, list[float]] = {}
    try:
        for _ in range(rounds):
            for kernel, devices in (("instance_norm", frozenset()), ("group_norm", frozenset({device}))):
                InstanceNorm2d.group_norm_devices = devices
                for precision in ("fp32", "bf16"):
                    with torch.autocast(device, torch.bfloat16, enabled=precision == "bf16"):
                        net(x).mean().backward()  # warm-up (allocator, kernel selection)
                        if device == "cuda":
                            torch.cuda.synchronize()
                        start = time.perf_counter()
                        for _ in range(iters):
                            net(x).mean().backward()
                        if device == "cuda":
                            torch.cuda.synchronize()
                    results.setdefault(f"{kernel} {precision}", []).append((time.perf_counter() - start) / iters * 1e3)
    finally:
        InstanceNorm2d.group_norm_devices = chosen
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ms = time_norm_kernels(args.device, args.size, args.ngf, args.blocks, rounds=args.rounds)
    print(f"ResNet-{args.blocks}, ngf {args.ngf}, {args.size} px, batch 2, {args.device}: generator forward + backward")
    for precision in ("fp32", "bf16"):
        base = ms[f"instance_norm {precision}"]
        for kernel in ("instance_norm", "group_norm"):
            m = ms[f"{kernel} {precision}"]
            print(f"  {kernel:13s} {precision}  {m:8.2f} ms   {m / base:5.3f}x")


if __name__ == "__main__":
    main()
