"""Does DiffAugment help with few training images? The data-efficiency design (studies/data_efficiency.yaml)
on the synthetic task, where the true painting of every test photo is known (CPU, ~30 minutes on 2 cores).

    python benchmarks/data_efficiency.py               # sizes 16 32 64 128, 5 seeds -> results/data_efficiency.json
    python benchmarks/data_efficiency.py --quick --out /tmp/de.json   # every code path in seconds (the test)
    python benchmarks/data_efficiency.py --plot-only   # redraw results/data_efficiency.png from the JSON
    python benchmarks/data_efficiency.py --reanalyse   # verdicts again from the stored runs (the analysis changed)

Design: `data.train_images` in --sizes per domain x DiffAugment off / --policy x --seeds seeds. Every run
trains on the same number of images (--budget per domain: a 16-image run does 8x the epochs of a 128-image
run), as data-efficiency studies do (DiffAugment, ADA: fixed kimg), so a small set is not also an
undertrained one. The test split (64 pairs) is the same for every run. The objective is the synthetic
studies' `fid` (tiny backbone, both directions); the ground truth is the mean L1 distance of G(a) and F(b) to
the true painting / photo ([0, 1] images, lower is better). At each size, DiffAugment is compared with no
augmentation seed by seed with the platform's paired noise rule (dashboards/data_efficiency.py).
The task is the engine's default synthetic style at the learnability benchmark's model size; it was fixed
before the results were seen and is not tuned to favour either arm.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboards import plots  # noqa: E402
from dashboards.data_efficiency import OFF, compare_by_size, conclusion, page_margin, verdict_line  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "data_efficiency.json"
BASE = ["data.name=synthetic", "data.load_size=36", "data.crop_size=32", "data.synthetic_test_size=64",
        "model.ngf=16", "model.ndf=16", "model.g_depth=3", "train.batch_size=4", "eval.backbone=tiny",
        "eval.grid_images=0", "eval.kid_subsets=20", "train.threads=1"]
QUICK = ["data.synthetic_test_size=12", "model.ngf=8", "model.ndf=8", "model.g_depth=2", "train.pool_size=4",
         "eval.kid_subsets=5"]
VALUES = {"l1": "ground truth: L1 to the true image", "fid": "objective: fid (tiny backbone)"}


def train_one(job: dict) -> dict:
    """One engine run; its final metrics."""
    import torch

    from cyclegan.config import load_config
    from cyclegan.trainer import Trainer

    torch.set_num_threads(1)
    size, policy, seed = job["size"], job["policy"], job["seed"]
    epochs = max(2, round(job["budget"] / size))  # images per domain trained on, whatever the size
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(job["base"] + [
            f"data.synthetic_train_size={job['largest']}", f"data.train_images={size}", f"train.diffaugment={policy or 'none'}",
            f"train.seed={seed}", f"train.epochs={epochs - epochs // 2}", f"train.decay_epochs={epochs // 2}",
            f"eval.every={epochs}", f"train.checkpoint_every={epochs}", f"train.out_dir={tmp}"])
        start = time.perf_counter()
        *_, last = Trainer(cfg, log=lambda *a: None, progress=False).epochs()
        m = last.metrics
    return {"train_images": size, "diffaugment": policy, "seed": seed, "epochs": epochs,
            "l1": (m["l1_a2b"] + m["l1_b2a"]) / 2, "fid": m["fid"], "l1_a2b": m["l1_a2b"], "l1_b2a": m["l1_b2a"],
            "fid_a2b": m["fid_a2b"], "fid_b2a": m["fid_b2a"], "seconds": time.perf_counter() - start}


def git_commit() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    measured = ["cyclegan", "benchmarks/data_efficiency.py", "dashboards/data_efficiency.py"]
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain", *measured))}


def summarise(runs: pd.DataFrame, policy: str) -> dict:
    out = {}
    for value in VALUES:
        comparisons = compare_by_size(runs, value, "min")
        margin = page_margin(runs, value)
        out[value] = {"comparisons": [{"train_images": c.size, "policy": c.policy, "seeds": c.seeds,
                                       "off_mean": c.off["mean"], "on_mean": c.on["mean"],
                                       "difference": c.comparison.difference, "half_width": c.comparison.half_width,
                                       "verdict": c.comparison.verdict} for c in comparisons],
                      "conclusion": conclusion(comparisons, policy, margin), "margin": margin.value,
                      "lines": [verdict_line(c, value, margin) for c in comparisons]}
    return out


def draw(report: dict, figure: Path) -> Path:
    """Both panels of the report's figure, for the ground truth (top) and the objective (bottom)."""
    import matplotlib.pyplot as plt
    from PIL import Image
    runs = pd.DataFrame(report["runs"])
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for value, label in VALUES.items():
            comparisons = compare_by_size(runs, value, "min")
            parts.append(Image.open(plots.data_efficiency(runs, comparisons, value, label, Path(tmp) / f"{value}.png")).copy())
    plt.close("all")
    canvas = Image.new("RGB", (max(p.width for p in parts), sum(p.height for p in parts)), "white")
    y = 0
    for part in parts:
        canvas.paste(part, (0, y))
        y += part.height
    figure.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(figure)
    return figure


def print_report(report: dict) -> None:
    runs = pd.DataFrame(report["runs"])
    print(f"{'images':>6} {'arm':<26} {'seeds':>5} {'l1 mean ± sd':>18} {'fid mean ± sd':>18}")
    for (size, policy), group in runs.groupby(["train_images", "diffaugment"]):
        print(f"{size:>6} {policy or 'no augmentation':<26} {len(group):>5} "
              f"{group['l1'].mean():>9.4f} ± {group['l1'].std():.4f} {group['fid'].mean():>9.3f} ± {group['fid'].std():.3f}")
    for value, label in VALUES.items():
        print(f"\n{label}, DiffAugment - none, paired by seed:")
        for line in report["summary"][value]["lines"]:
            print("  " + line)
        print("  => " + report["summary"][value]["conclusion"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128], help="training images per domain")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=2048, help="training images per domain each run trains on")
    ap.add_argument("--policy", default="color,translation,cutout")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="tiny model, 2 sizes, 3 seeds, 16 images: seconds")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--plot-only", action="store_true", help="redraw the figure from --out")
    ap.add_argument("--reanalyse", action="store_true",
                    help="recompute the verdicts of --out's runs with the current report code, then redraw")
    args = ap.parse_args()
    figure = args.out.with_suffix(".png")
    if args.reanalyse:  # the runs (engine numerics) stay; the analysis is recorded with its own commit
        report = json.loads(args.out.read_text())
        report["summary"] = summarise(pd.DataFrame(report["runs"]), report["policy"])
        report["analysis"] = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), **git_commit(),
                              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        args.out.write_text(json.dumps(report, indent=1))
    if args.plot_only or args.reanalyse:
        report = json.loads(args.out.read_text())
        print_report(report)
        print(f"figure: {draw(report, figure)}")
        return
    base = BASE + (QUICK if args.quick else [])
    sizes, seeds, budget = ([4, 8], 3, 16) if args.quick else (sorted(args.sizes), args.seeds, args.budget)
    jobs = [{"size": n, "policy": p, "seed": s, "budget": budget, "base": base, "largest": max(sizes)}
            for s in range(seeds) for n in sizes for p in (OFF, args.policy)]
    start, commit = time.perf_counter(), git_commit()  # the code the runs load, not what is there when they end
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(train_one, jobs))
    report = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), **commit,
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "engine_overrides": base, "sizes": sizes, "seeds": seeds,
              "budget_images_per_domain": budget, "policy": args.policy, "test_pairs": 12 if args.quick else 64,
              "wall_s": time.perf_counter() - start, "runs": runs}
    report["summary"] = summarise(pd.DataFrame(runs), args.policy)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_report(report)
    print(f"\n{len(runs)} runs in {report['wall_s']:.0f} s; wrote {args.out} and {draw(report, figure)}")


if __name__ == "__main__":
    main()
