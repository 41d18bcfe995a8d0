"""Trainer overhead: our training epoch vs a bare hand-written PyTorch loop of the same model, on the CPU.

Both run the same networks (same seed, same weights), the same batches and the same CycleGAN update
(G step with D frozen, then D step on pooled fakes). Rounds alternate A/B so that machine noise hits
both alike; the script prints the median time per iteration of each and the ratio.

    python benchmarks/train_overhead.py                      # resnet 9 blocks, ngf 32, 128 px, batch 1
    python benchmarks/train_overhead.py --size 64 --ngf 16 --blocks 6 --steps 10
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from cyclegan.config import load_config
from cyclegan.image_pool import ImagePool
from cyclegan.trainer import Trainer


def bare_loop(nets, batches, lr=2e-4, lambda_cyc=10.0, lambda_id=5.0):
    """The textbook CycleGAN iteration, written out by hand."""
    G_A, G_B, D_A, D_B = nets
    opt_g = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=lr, betas=(0.5, 0.999))
    pool_a, pool_b = ImagePool(50), ImagePool(50)
    for a, b in batches:
        fake_b, fake_a = G_A(a), G_B(b)
        for p in list(D_A.parameters()) + list(D_B.parameters()):
            p.requires_grad_(False)
        pa, pb = D_A(fake_a), D_B(fake_b)
        loss_g = (F.mse_loss(pb, torch.ones_like(pb)) + F.mse_loss(pa, torch.ones_like(pa))
                  + lambda_cyc * (F.l1_loss(G_B(fake_b), a) + F.l1_loss(G_A(fake_a), b))
                  + lambda_id * (F.l1_loss(G_B(a), a) + F.l1_loss(G_A(b), b)))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        for p in list(D_A.parameters()) + list(D_B.parameters()):
            p.requires_grad_(True)
        loss_d = 0.0
        for D, real, fake in ((D_A, a, pool_a.query(fake_a)), (D_B, b, pool_b.query(fake_b))):
            pr, pf = D(real), D(fake.detach())
            loss_d = loss_d + 0.5 * (F.mse_loss(pr, torch.ones_like(pr)) + F.mse_loss(pf, torch.zeros_like(pf)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=9)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=8, help="iterations per timed round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    out = tempfile.mkdtemp()
    cfg = load_config([
        "data.name=synthetic", f"data.load_size={args.size}", f"data.crop_size={args.size}",
        f"data.synthetic_train_size={args.steps * args.batch}", "data.synthetic_test_size=2",
        f"model.ngf={args.ngf}", f"model.ndf={args.ngf * 2}", f"model.g_depth={args.blocks}",
        f"train.batch_size={args.batch}", "eval.every=0", f"train.out_dir={out}", "train.epochs=1000",
    ])
    trainer = Trainer(cfg, log=lambda *a: None, progress=False)
    nets = [trainer.nets[k] for k in ("G_A", "G_B", "D_A", "D_B")]
    batches = list(trainer.data.batches(1, args.batch, args.size, 0))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, resnet {args.blocks} blocks, "
          f"ngf {args.ngf}, {args.size} px, batch {args.batch}, {len(batches)} iterations per round")
    bare_loop(nets, batches[:2])  # warm-up both paths
    trainer.train_epoch(1)
    ours, bare = [], []
    for r in range(args.rounds):
        t = time.perf_counter()
        trainer.train_epoch(r + 2)
        ours.append((time.perf_counter() - t) / len(batches))
        t = time.perf_counter()
        bare_loop(nets, batches)
        bare.append((time.perf_counter() - t) / len(batches))
    o, b = statistics.median(ours), statistics.median(bare)
    print(f"trainer     {o * 1000:8.1f} ms/iter  ({1 / o:.2f} it/s)")
    print(f"bare loop   {b * 1000:8.1f} ms/iter  ({1 / b:.2f} it/s)")
    print(f"overhead    {(o / b - 1) * 100:+.1f} %  (ratio {o / b:.3f}; target <= +5 %)")


if __name__ == "__main__":
    main()
