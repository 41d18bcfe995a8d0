"""Are the `*_se` metrics calibrated? Their mean over many fresh fake sets against the true spread.

    python benchmarks/se_calibration.py                  # ~2 minutes on 2 cores
    python benchmarks/se_calibration.py --sets 100 --out benchmarks/results/se_calibration.json

A fixed real feature set (2,000 rows of correlated Gaussian features) and, for each number of test images
n, `--sets` fresh fake sets drawn from a shifted, scaled version of the same distribution. Each fake set
gives one FID and one KID with the standard errors the evaluation reports (`fid_jackknife_se` with
`eval.se_groups`=20, `kid_standard_error`); the true standard deviation of FID and KID is their spread over
the sets. A calibrated SE has mean(SE) / spread near 1. Sizes include ones that are not multiples of the
20 groups (39, 58), where the jackknife used to drop the left-over images: the previous estimator
(equal groups, n - n % G images) is printed beside the current one for comparison.
Feature sizes: 128 (the tiny backbone's) and 2048 (Inception's; there n < d, the m x m path).
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cyclegan.evaluation import (RealStats, fid_from_features, fid_jackknife_se, kid_from_features,  # noqa: E402
                                 kid_standard_error, subset_fids)

GROUPS = 20


def dropped_leftovers_se(fake: torch.Tensor, real: RealStats, groups: int) -> float:
    """The estimator before this benchmark existed: equal groups of the first n - n % G images only."""
    n = len(fake) - len(fake) % groups
    order = torch.arange(n).view(-1, groups).T
    keep = torch.stack([order[[h for h in range(groups) if h != g]].flatten() for g in range(groups)])
    values = subset_fids(fake[:n], real, keep)
    return float(((groups - 1) / groups * (values - values.mean()).square().sum()).sqrt())


def calibrate(n: int, d: int, sets: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g) / d ** 0.5
    real_features = torch.randn(2000, d, generator=g) @ mix
    real = RealStats(real_features)
    fid, fid_se, fid_se_old, kid, kid_se = [], [], [], [], []
    for _ in range(sets):
        fake = (torch.randn(n, d, generator=g) @ mix) * 1.2 + 0.3
        fid.append(fid_from_features(fake, real))
        fid_se.append(fid_jackknife_se(fake, real, GROUPS))
        fid_se_old.append(dropped_leftovers_se(fake, real, GROUPS))
        # KID over the whole fake set (one subset of all n): the quantity kid_standard_error describes
        kid.append(kid_from_features(fake, real_features[:max(n, 100)], subset_size=n, subsets=1)[0])
        kid_se.append(kid_standard_error(fake, real_features[:max(n, 100)]))
    spread_fid, spread_kid = float(np.std(fid, ddof=1)), float(np.std(kid, ddof=1))
    return {"n": n, "d": d, "sets": sets, "groups": GROUPS, "fid_spread": spread_fid,
            "fid_se_mean": float(np.mean(fid_se)), "fid_ratio": float(np.mean(fid_se)) / spread_fid,
            "fid_ratio_dropping_leftovers": float(np.mean(fid_se_old)) / spread_fid,
            "kid_spread": spread_kid, "kid_se_mean": float(np.mean(kid_se)),
            "kid_ratio": float(np.mean(kid_se)) / spread_kid,
            # the spread itself is estimated from `sets` draws: its relative standard error
            "ratio_relative_error": 1 / math.sqrt(2 * (sets - 1))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=200)
    ap.add_argument("--sizes", type=int, nargs="+", default=[39, 40, 58, 60, 100, 250])
    ap.add_argument("--dims", type=int, nargs="+", default=[128, 2048])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(2)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "cyclegan", "benchmarks/se_calibration.py"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    print(f"SE / true spread over {args.sets} fresh fake sets per row (1.00 = calibrated; the spread's own "
          f"relative error is ±{100 / math.sqrt(2 * (args.sets - 1)):.0f} %), {GROUPS} jackknife groups")
    print(f"{'d':>5} {'n':>4}  {'FID SE/spread':>14} {'(dropping n % 20)':>18}  {'KID SE/spread':>14}")
    rows, start = [], time.perf_counter()
    for d in args.dims:
        for n in args.sizes:
            row = calibrate(n, d, args.sets, args.seed + n + d)
            rows.append(row)
            print(f"{d:>5} {n:>4}  {row['fid_ratio']:>14.2f} {row['fid_ratio_dropping_leftovers']:>18.2f}  "
                  f"{row['kid_ratio']:>14.2f}", flush=True)
    print(f"{time.perf_counter() - start:.0f} s")
    if args.out:
        args.out.write_text(json.dumps({"command": "python benchmarks/se_calibration.py " + " ".join(sys.argv[1:]),
                                        "commit": commit, "uncommitted_changes": dirty, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
