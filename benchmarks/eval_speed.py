"""Evaluation cost: images/s of a full FID/KID evaluation with a cold and a warm real-statistics cache,
against the bare work it cannot avoid (the generator and backbone forwards on the fake images), and what
the standard errors (`*_se`: FID jackknife, KID delta method) add: on the tiny backbone inside a whole
evaluation, and on Inception-sized features (2048-d, random) against the FID + KID computation alone.

    python benchmarks/eval_speed.py                          # tiny backbone, 64 px, 100 test images
    python benchmarks/eval_speed.py --size 128 --images 200
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from cyclegan.config import EvalConfig
from cyclegan.evaluation import (Evaluator, RealStats, fid_from_features, fid_jackknife_se, kid_from_features,
                                 kid_standard_error)
from cyclegan.networks import ResnetGenerator
from cyclegan.synthetic import make_synthetic


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--ngf", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--inception-sizes", type=int, nargs="*", default=[250, 500])
    args = ap.parse_args()
    data = make_synthetic(2, args.images, args.size, args.size)
    torch.manual_seed(0)
    g_a, g_b = ResnetGenerator(args.blocks, args.ngf).eval(), ResnetGenerator(args.blocks, args.ngf).eval()
    cache = tempfile.mkdtemp()
    cfg = EvalConfig(backbone="tiny", cache_dir=cache, grid_images=0, batch_size=16)
    device = torch.device("cpu")
    n = 2 * args.images  # images translated per evaluation (both directions)

    def timed(fn):
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    cold_eval = Evaluator(cfg, data, device)
    cold = timed(lambda: cold_eval.evaluate(g_a, g_b, 1, None))
    warm_eval = Evaluator(cfg, data, device)  # a new trial on the same data: the cache is on disk
    warm = min(timed(lambda: warm_eval.evaluate(g_a, g_b, 1, None)) for _ in range(3))
    assert warm_eval.forwards["real"] == 0

    def bare():
        for net, images in ((g_a, data.test_a), (g_b, data.test_b)):
            fakes = warm_eval.translate(net, images)
            warm_eval.features(fakes, "fake")
    floor = min(timed(bare) for _ in range(3))
    print(f"{args.images} test images per domain, {args.size} px, resnet {args.blocks} blocks ngf {args.ngf}, tiny backbone")
    print(f"evaluation, cold cache   {cold:7.3f} s  {n / cold:8.1f} images/s")
    print(f"evaluation, warm cache   {warm:7.3f} s  {n / warm:8.1f} images/s")
    print(f"generator + backbone     {floor:7.3f} s  {n / floor:8.1f} images/s  (fake images only)")
    print(f"warm evaluation / bare forwards = {warm / floor:.3f}")

    # The standard errors: the same warm evaluation with and without them, alternating.
    plain_eval = Evaluator(EvalConfig(backbone="tiny", cache_dir=cache, grid_images=0, batch_size=16, se_groups=0),
                           data, device)
    with_se, without_se = [], []
    for _ in range(5):
        with_se.append(timed(lambda: warm_eval.evaluate(g_a, g_b, 1, None)))
        without_se.append(timed(lambda: plain_eval.evaluate(g_a, g_b, 1, None)))
    a, b = sorted(with_se)[2], sorted(without_se)[2]
    print(f"standard errors in a warm evaluation: {a - b:+.3f} s of {a:.3f} s = {(a - b) / a * 100:.1f} % (median of 5)")
    for n_img in args.inception_sizes:
        g = torch.Generator().manual_seed(0)
        real, fake = torch.randn(n_img, 2048, generator=g), torch.randn(n_img, 2048, generator=g) + 0.1
        stats = RealStats(real)  # cached across evaluations in a run: not counted
        math_s = min(timed(lambda: (fid_from_features(fake, stats),
                                    kid_from_features(fake, real, min(1000, n_img), 100))) for _ in range(2))
        se_s = min(timed(lambda: (fid_jackknife_se(fake, stats, 20), kid_standard_error(fake, real))) for _ in range(2))
        print(f"2048-d features, {n_img} images per direction: FID + KID {math_s:.3f} s, their standard errors "
              f"{se_s:.3f} s ({se_s / math_s * 100:.0f} % of the metric computation alone; the backbone forwards "
              "come on top)")


if __name__ == "__main__":
    main()
