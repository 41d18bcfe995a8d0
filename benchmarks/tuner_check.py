"""Is the tuner right? The platform checked against ground truth on the synthetic "strong" task (CPU).

    python benchmarks/tuner_check.py                 # ~15-25 minutes on 2 cores
    python benchmarks/tuner_check.py --seeds 2 --skip-tpe   # a quicker look at the landscape
    python benchmarks/tuner_check.py --out runs/tuner_check.json   # also write the figures as JSON

Uses `studies/tuner_check.yaml` (its base config and ranges) and prints:
1. the landscape by brute force: a grid over lambda_cyc x lambda_id, `--seeds` seeds per cell, in ground
   truth (gt = mean of l1_a2b and l1_b2a: the distance of G(a) and F(b) to the true images, [0, 1]) and in
   the objective the platform optimises (fid with the tiny backbone), each cell's mean ± seed std; the
   best cell by ground truth, whether it is the reference setting, and whether it is separable from its
   grid neighbours beyond seed noise (Welch 95 % interval of the difference of means);
2. how well the objective agrees with ground truth: Spearman rho over every grid run;
3. ASHA's rank at its first rung (epoch = study.grace_period) against the final rank: Spearman rho;
4. TPE through the real platform (`python -m tuning.launch study=tuner_check`, a third of the grid's
   budget): the ground truth of the trial it ranks best, its regret against the grid's best cell, and
   whether that regret is within the noise of the best cell (the noise rule of tuning/objective.py).
Writes everything as JSON to --out if given.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAMBDA_CYC = (1.0, 10.0, 30.0)
LAMBDA_ID = (0.0, 5.0, 20.0, 40.0)
REFERENCE = (10.0, 5.0)


def ground_truth(metrics: dict) -> float:
    return (metrics["l1_a2b"] + metrics["l1_b2a"]) / 2


def train_one(job: tuple[float, float, int]) -> dict:
    """One engine run of the study's base config at (lambda_cyc, lambda_id, seed); every epoch's numbers."""
    import torch

    from cyclegan.trainer import Trainer
    from tuning.study import REPEAT_INDEX, load_study

    torch.set_num_threads(1)
    lcyc, lid, seed = job
    study = load_study("tuner_check")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = study.engine_config({"loss.lambda_cyc": lcyc, "loss.lambda_id": lid, REPEAT_INDEX: seed},
                                  extra={"train.out_dir": tmp, "train.threads": 1, "eval.every": 1})
        epochs = [{"epoch": r.epoch, "fid": r.metrics["fid"], "gt": ground_truth(r.metrics)}
                  for r in Trainer(cfg, log=lambda *a: None, progress=False).epochs()]
    return {"lambda_cyc": lcyc, "lambda_id": lid, "seed": seed, "epochs": epochs}


def spearman(x, y) -> float:
    from scipy import stats
    return float(stats.spearmanr(x, y).statistic)


def mean_std(values) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    return mean, (math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan)


def welch_separable(a: list[float], b: list[float]) -> tuple[float, float, bool]:
    """Difference of means b - a with its Welch 95 % half-width; separable if the interval excludes 0."""
    from scipy import stats
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    va, vb = sa ** 2 / len(a), sb ** 2 / len(b)
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se else 1
    half = stats.t.ppf(0.975, dof) * se
    return float(mb - ma), float(half), bool(abs(mb - ma) > half)


def landscape(runs: list[dict], grace: int) -> dict:
    cells = {}
    for lcyc, lid in itertools.product(LAMBDA_CYC, LAMBDA_ID):
        mine = [r for r in runs if (r["lambda_cyc"], r["lambda_id"]) == (lcyc, lid)]
        gts = [r["epochs"][-1]["gt"] for r in mine]
        fids = [r["epochs"][-1]["fid"] for r in mine]
        cells[(lcyc, lid)] = {"gt": gts, "fid": fids}
    print(f"\nlandscape, ground truth gt (lower is better), mean ± seed std over {len(cells[REFERENCE]['gt'])} seeds:")
    print("lambda_cyc \\ lambda_id " + "".join(f"{lid:>18g}" for lid in LAMBDA_ID))
    for lcyc in LAMBDA_CYC:
        row = "".join("{:>11.4f} ± {:.4f}".format(*mean_std(cells[(lcyc, lid)]["gt"])) for lid in LAMBDA_ID)
        print(f"{lcyc:>22g} {row}")
    print("objective (fid, tiny backbone), mean ± seed std:")
    for lcyc in LAMBDA_CYC:
        row = "".join("{:>11.3f} ± {:.3f}".format(*mean_std(cells[(lcyc, lid)]["fid"])) for lid in LAMBDA_ID)
        print(f"{lcyc:>22g} {row}")
    best = min(cells, key=lambda c: mean_std(cells[c]["gt"])[0])
    i, j = LAMBDA_CYC.index(best[0]), LAMBDA_ID.index(best[1])
    neighbours = [(LAMBDA_CYC[a], LAMBDA_ID[b]) for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1))
                  if 0 <= a < len(LAMBDA_CYC) and 0 <= b < len(LAMBDA_ID)]
    print(f"best cell by ground truth: lambda_cyc={best[0]:g} lambda_id={best[1]:g} "
          f"({'the reference setting' if best == REFERENCE else 'not the reference setting'} {REFERENCE})")
    separable = {}
    for cell in neighbours + ([REFERENCE] if REFERENCE not in neighbours and REFERENCE != best else []):
        diff, half, sep = welch_separable(cells[best]["gt"], cells[cell]["gt"])
        separable[str(cell)] = {"difference": diff, "half_width": half, "separable": sep}
        print(f"  vs lambda_cyc={cell[0]:g} lambda_id={cell[1]:g}: gt {diff:+.4f} ± {half:.4f} "
              f"{'separable beyond seed noise' if sep else 'within seed noise'}")
    finals = [r["epochs"][-1] for r in runs]
    rho_gt = spearman([e["fid"] for e in finals], [e["gt"] for e in finals])
    at_rung = [next(e for e in r["epochs"] if e["epoch"] == grace)["fid"] for r in runs]
    rho_rung = spearman(at_rung, [e["fid"] for e in finals])
    rho_rung_gt = spearman(at_rung, [e["gt"] for e in finals])
    print(f"\nobjective vs ground truth: Spearman rho = {rho_gt:.3f} over {len(runs)} runs (final evaluations)")
    print(f"ASHA first rung (epoch {grace}) vs final: Spearman rho = {rho_rung:.3f} (objective), "
          f"{rho_rung_gt:.3f} (rung objective vs final ground truth)")
    return {"cells": {str(k): v for k, v in cells.items()}, "best_cell": list(best), "best_is_reference": bool(best == REFERENCE),
            "separable": separable, "rho_objective_vs_ground_truth": rho_gt, "rho_first_rung_vs_final": rho_rung,
            "rho_first_rung_vs_final_ground_truth": rho_rung_gt}


def tpe_check(best_cell_gt: list[float], out_dir: Path) -> dict:
    """Run the study through the platform, then read what it ranked best and its ground truth."""
    from mlflow.tracking import MlflowClient

    from tuning.objective import NoiseFloor, compare

    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tuning.launch", "study=tuner_check", f"study.out_dir={out_dir}",
                           "ray.num_cpus=2"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"tuning.launch failed ({done.returncode}):\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - start
    client = MlflowClient(f"sqlite:///{out_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tuner_check")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    complete = [r for r in runs if r.data.tags.get("outcome") == "complete"]
    best = min(complete, key=lambda r: r.data.metrics["objective"])
    gt = ground_truth(best.data.metrics)
    floor = NoiseFloor.of(best_cell_gt)
    verdict = compare(gt, None, floor, "min")
    stopped = sum(r.data.tags.get("outcome") == "stopped" for r in runs)
    print(f"\nTPE through tuning.launch: {len(runs)} trials ({len(complete)} complete, {stopped} stopped by ASHA) "
          f"in {seconds:.0f} s")
    print(f"  ranked best: {best.info.run_name}  fid {best.data.metrics['objective']:.3f}  gt {gt:.4f}")
    print(f"  regret vs the grid's best cell (gt {floor.mean:.4f}): {verdict.difference:+.4f} ± {verdict.half_width:.4f} "
          f"-> {'within the noise of the best cell' if verdict.verdict != 'worse' else 'worse than the best cell beyond noise'}")
    return {"trials": len(runs), "complete": len(complete), "stopped": stopped, "best_run": best.info.run_name,
            "best_gt": gt, "regret": verdict.difference, "noise_half_width": verdict.half_width,
            "within_noise": bool(verdict.verdict != "worse"), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-tpe", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--reuse-grid", action="store_true", help="take the grid runs from --out (written by a run)")
    args = ap.parse_args()
    from tuning.study import load_study
    study = load_study("tuner_check")
    grace = study.launch.study.grace_period
    jobs = [(c, i, s) for c, i in itertools.product(LAMBDA_CYC, LAMBDA_ID) for s in range(args.seeds)]
    start = time.perf_counter()
    if args.reuse_grid and args.out and args.out.is_file():  # e.g. to rerun only the TPE part
        runs, seconds = (json.loads(args.out.read_text())[k] for k in ("runs", "grid_seconds"))
    else:
        print(f"grid: {len(jobs)} runs ({len(LAMBDA_CYC)} x {len(LAMBDA_ID)} cells x {args.seeds} seeds), "
              f"{args.workers} at a time", flush=True)
        with ProcessPoolExecutor(args.workers) as pool:
            runs = []
            for run in pool.map(train_one, jobs):
                runs.append(run)
                last = run["epochs"][-1]
                print(f"  lambda_cyc={run['lambda_cyc']:<4g} lambda_id={run['lambda_id']:<4g} seed={run['seed']}  "
                      f"gt {last['gt']:.4f}  fid {last['fid']:.3f}", flush=True)
        seconds = time.perf_counter() - start
        print(f"grid done in {seconds:.0f} s")
    if args.out:  # the runs first: nothing below can lose them
        args.out.write_text(json.dumps({"runs": runs, "grid_seconds": seconds}, default=float))
    result = {"grid_seconds": seconds, **landscape(runs, grace), "runs": runs}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=float))
    if not args.skip_tpe:
        best = result["cells"][str(tuple(result["best_cell"]))]["gt"]
        with tempfile.TemporaryDirectory() as tmp:
            result["tpe"] = tpe_check(best, Path(tmp) / "tuner_check")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
