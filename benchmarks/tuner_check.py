"""Is the tuner right? The platform checked against ground truth on the synthetic "strong" task (CPU).

    python benchmarks/tuner_check.py                  # grid + analysis: ~25 minutes on 2 cores
    python benchmarks/tuner_check.py --reuse-grid     # the analysis again on the stored grid (~4 minutes)
    python benchmarks/tuner_check.py --markdown       # the README's section, generated from the JSON

Writes benchmarks/results/tuner_check.json (--out) with the git commit of the grid runs and of the
analysis. Uses `studies/tuner_check.yaml` (its base config and ranges):
1. the landscape by brute force: a grid over lambda_cyc x lambda_id, `--seeds` seeds per cell (>= 6), in
   ground truth (gt = mean of l1_a2b and l1_b2a: the distance of G(a) and F(b) to the true images) and in
   the objective the platform optimises (fid, tiny backbone);
2. the best cell picked on seeds 0-2 and confirmed on seeds 3-5, which its selection never saw;
3. objective-vs-truth agreement (Spearman) pooled and within each lambda_id column, and ASHA's first rung
   against the final objective;
4. a tabular benchmark on the stored grid (benchmarks/tabular_search.py): the platform's own searcher
   (`tuning.search.optuna_search.make_sampler` at the study's settings) against random search and against TPE with
   Optuna's default start-up, `--repetitions` each at budgets of 8, 16 and 32 evaluations.
Regenerate it whenever the engine's numerics change (the grid) or the searcher's settings do (--reuse-grid).
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from tabular_search import REFERENCE, Table, compare_searchers  # noqa: E402

LAMBDA_CYC = (1.0, 10.0, 30.0)
LAMBDA_ID = (0.0, 5.0, 20.0, 40.0)
RESULTS = ROOT / "benchmarks" / "results" / "tuner_check.json"
BUDGETS = (8, 16, 32)
SELECTION, CONFIRMATION = (0, 1, 2), (3, 4, 5)


def ground_truth(metrics: dict) -> float:
    return (metrics["l1_a2b"] + metrics["l1_b2a"]) / 2


def train_one(job: tuple[float, float, int]) -> dict:
    """One engine run of the study's base config at (lambda_cyc, lambda_id, seed); every epoch's numbers."""
    import torch

    from cyclegan.trainer import Trainer
    from tuning.study.trial_keys import REPEAT_INDEX
    from tuning.study.loading import load_study

    torch.set_num_threads(1)
    lcyc, lid, seed = job
    study = load_study("tuner_check")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = study.engine_config({"loss.lambda_cyc": lcyc, "loss.lambda_id": lid, REPEAT_INDEX: seed},
                                  extra={"train.out_dir": tmp, "train.threads": 1, "eval.every": 1})
        epochs = [{"epoch": r.epoch, "fid": r.metrics["fid"], "gt": ground_truth(r.metrics)}
                  for r in Trainer(cfg, log=lambda *a: None, progress=False).epochs()]
    return {"lambda_cyc": lcyc, "lambda_id": lid, "seed": seed, "epochs": epochs}


def git(*args) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def commit() -> dict:
    measured = ["cyclegan", "tuning", "benchmarks/tuner_check.py", "benchmarks/tabular_search.py"]
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain", *measured))}


def spearman(x, y) -> float:
    from scipy import stats
    return float(stats.spearmanr(x, y).statistic)


def mean_std(values) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    return mean, (math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan)


def welch(a: list[float], b: list[float]) -> dict:
    """b - a with its Welch 95 % half-width; separable if the interval excludes 0."""
    from scipy import stats
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    va, vb = sa ** 2 / len(a), sb ** 2 / len(b)
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se else 1
    half = float(stats.t.ppf(0.975, dof) * se)
    return {"difference": mb - ma, "half_width": half, "separable": bool(abs(mb - ma) > half)}


def cell_values(runs: list[dict], seeds=None) -> dict:
    """{(lambda_cyc, lambda_id): {"gt": [...], "fid": [...]}} at the final evaluation, for `seeds` (all)."""
    out = {cell: {"gt": [], "fid": []} for cell in itertools.product(LAMBDA_CYC, LAMBDA_ID)}
    for r in runs:
        if seeds is None or r["seed"] in seeds:
            out[(r["lambda_cyc"], r["lambda_id"])]["gt"].append(r["epochs"][-1]["gt"])
            out[(r["lambda_cyc"], r["lambda_id"])]["fid"].append(r["epochs"][-1]["fid"])
    return out


def landscape(runs: list[dict], grace: int) -> dict:
    cells = cell_values(runs)
    summary = {str(c): {k: mean_std(v) for k, v in values.items()} for c, values in cells.items()}
    best = min(cells, key=lambda c: mean_std(cells[c]["gt"])[0])
    # selection on seeds 0-2, confirmation on 3-5: the verdict rests on seeds its selection never saw
    chosen_cells, fresh = cell_values(runs, SELECTION), cell_values(runs, CONFIRMATION)
    chosen = min(chosen_cells, key=lambda c: mean_std(chosen_cells[c]["gt"])[0])
    fresh_best = min(fresh, key=lambda c: mean_std(fresh[c]["gt"])[0])
    fresh_rank = sorted(fresh, key=lambda c: mean_std(fresh[c]["gt"])[0]).index(chosen) + 1
    confirmation = {"chosen_on_seeds": list(SELECTION), "chosen": list(chosen),
                    "gt_on_selection_seeds": mean_std(chosen_cells[chosen]["gt"])[0],
                    "confirmed_on_seeds": list(CONFIRMATION), "gt_on_fresh_seeds": mean_std(fresh[chosen]["gt"])[0],
                    "rank_on_fresh_seeds": fresh_rank, "best_on_fresh_seeds": list(fresh_best),
                    "vs_best_on_fresh_seeds": welch(fresh[fresh_best]["gt"], fresh[chosen]["gt"]),
                    "vs_reference_on_fresh_seeds": welch(fresh[chosen]["gt"], fresh[REFERENCE]["gt"])}
    finals = [r["epochs"][-1] for r in runs]
    columns = {}
    for lid in LAMBDA_ID:  # within one lambda_id column: does fid order lambda_cyc as the truth does?
        col = [r["epochs"][-1] for r in runs if r["lambda_id"] == lid]
        means = [(mean_std(cells[(c, lid)]["fid"])[0], mean_std(cells[(c, lid)]["gt"])[0]) for c in LAMBDA_CYC]
        columns[str(lid)] = {"rho_runs": spearman([e["fid"] for e in col], [e["gt"] for e in col]),
                             "runs": len(col), "fid_order": [LAMBDA_CYC[i] for i in sorted(range(3), key=lambda i: means[i][0])],
                             "gt_order": [LAMBDA_CYC[i] for i in sorted(range(3), key=lambda i: means[i][1])]}
    at_rung = [next(e for e in r["epochs"] if e["epoch"] == grace)["fid"] for r in runs]
    return {"seeds": sorted({r["seed"] for r in runs}), "cells": summary, "best_cell": list(best),
            "best_is_reference": bool(best == REFERENCE), "confirmation": confirmation,
            "rho_pooled": spearman([e["fid"] for e in finals], [e["gt"] for e in finals]), "rho_by_lambda_id": columns,
            "rho_first_rung_vs_final": spearman(at_rung, [e["fid"] for e in finals])}


def searchers(budgets, repetitions: int, runs: list[dict]) -> dict:
    import optuna

    from tuning.search.optuna_search import SearchSpace, make_sampler, startup_trials
    from tuning.study.loading import load_study
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_study("tuner_check")
    table, out = Table.of(runs), {"budgets": {}}
    for budget in budgets:
        # the study at this budget: num_trials = budget (its reference seeds included), as a launch sizes it
        settings = [f"study.num_samples={budget - study.launch.study.baseline_seeds + 1}"]
        platform = load_study("tuner_check", settings)
        makers = {"tpe": lambda rep: make_sampler(load_study("tuner_check", settings + [f"study.sampler_seed={rep}"])),
                  "random": lambda rep: optuna.samplers.RandomSampler(seed=rep),
                  "tpe_startup_10": lambda rep: optuna.samplers.TPESampler(seed=rep, n_startup_trials=10)}
        result = compare_searchers(table, makers, SearchSpace(study), [budget], repetitions,
                                   study.launch.study.baseline_seeds)
        out["budgets"][str(budget)] = {"n_startup_trials": startup_trials(platform),
                                       **{name: r[budget] for name, r in result.items()}}
    out["repetitions"] = {name: repetitions for name in ("tpe", "random", "tpe_startup_10")}
    out["best_cell"], out["best_objective_cell"] = list(table.best_cell), list(table.best_objective_cell)
    return out


def markdown(result: dict) -> str:
    """The README's figures, generated from the JSON (tests check the README holds this text)."""
    land, tab = result["landscape"], result["searchers"]
    head = "| λ_cyc \\ λ_id | " + " | ".join(f"{lid:g}" for lid in LAMBDA_ID) + " |\n| --- |" + " --- |" * len(LAMBDA_ID)
    tables = []
    for key, digits in (("gt", 4), ("fid", 3)):
        rows = [f"| {c:g} | " + " | ".join("{:.{d}f} ± {:.{d}f}".format(*land["cells"][str((c, lid))][key], d=digits)
                                           for lid in LAMBDA_ID) + " |" for c in LAMBDA_CYC]
        tables.append("\n".join([head, *rows]))
    conf = land["confirmation"]
    cols = "; ".join(f"λ_id {float(lid):g}: ρ {v['rho_runs']:.2f} over {v['runs']} runs, fid orders λ_cyc "
                     f"{'as the truth does' if v['fid_order'] == v['gt_order'] else 'differently from the truth'}"
                     for lid, v in land["rho_by_lambda_id"].items())
    lines = [f"Grid: {result['grid']['runs']} runs ({len(land['seeds'])} seeds per cell), commit "
             f"{result['grid']['commit'][:7]}; analysis commit {result['analysis']['commit'][:7]}.", "",
             "Ground truth (mean ± seed std, lower is better):", "", tables[0], "",
             "The objective (fid, tiny backbone):", "", tables[1], "",
             f"- **Best cell** by ground truth: λ_cyc {land['best_cell'][0]:g}, λ_id {land['best_cell'][1]:g}. "
             f"Picked on seeds 0–2: λ_cyc {conf['chosen'][0]:g}, λ_id {conf['chosen'][1]:g} (gt "
             f"{conf['gt_on_selection_seeds']:.4f}); on fresh seeds 3–5 its gt is {conf['gt_on_fresh_seeds']:.4f}, "
             f"rank {conf['rank_on_fresh_seeds']} of 12, "
             f"{conf['vs_best_on_fresh_seeds']['difference']:+.4f} ± {conf['vs_best_on_fresh_seeds']['half_width']:.4f}"
             " from the fresh seeds' best (Welch 95 %); the reference settings are "
             f"{conf['vs_reference_on_fresh_seeds']['difference']:+.4f} ± "
             f"{conf['vs_reference_on_fresh_seeds']['half_width']:.4f} from it on those seeds.",
             f"- **Objective vs truth**: Spearman ρ {land['rho_pooled']:.3f} pooled over all runs, but within one λ_id "
             f"column: {cols}. The pooled figure is mostly the λ_id contrast.",
             f"- **ASHA's first rung** vs the final objective: ρ {land['rho_first_rung_vs_final']:.3f}.", "",
             f"Searchers on the tabular benchmark ({tab['repetitions']['tpe']} repetitions each; regret = ground truth "
             "of the cell picked minus the best cell's, ± SE; within noise = one run of it is not worse than the "
             "best cell by the noise rule; objective regret = the same in fid):", "",
             "| budget | searcher | n_startup_trials | regret (gt) | P(within noise) | regret (objective) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for budget, res in tab["budgets"].items():
        for name, startup in (("tpe", res["n_startup_trials"]), ("random", "-"), ("tpe_startup_10", 10)):
            r = res[name]
            label = {"tpe": "platform TPE", "random": "random", "tpe_startup_10": "TPE, Optuna's default start-up"}[name]
            lines.append(f"| {budget} | {label} | {startup} | {r['mean_regret']:.5f} ± {r['regret_se']:.5f} | "
                         f"{r['p_within_noise']:.2f} | {r['mean_objective_regret']:.3f} ± {r['objective_regret_se']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repetitions", type=int, default=100)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--reuse-grid", action="store_true", help="take the grid runs from --out")
    ap.add_argument("--markdown", action="store_true", help="print the README section from --out")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.out.read_text())))
        return
    from tuning.study.loading import load_study
    grace = load_study("tuner_check").launch.study.grace_period
    if args.reuse_grid:
        grid = json.loads(args.out.read_text())["grid"]
    else:
        jobs = [(c, i, s) for c, i in itertools.product(LAMBDA_CYC, LAMBDA_ID) for s in range(args.seeds)]
        start, at = time.perf_counter(), commit()
        print(f"grid: {len(jobs)} runs, {args.workers} at a time", flush=True)
        with ProcessPoolExecutor(args.workers) as pool:
            runs = list(pool.map(train_one, jobs))
        grid = {**at, "runs": len(runs), "seconds": time.perf_counter() - start, "data": runs}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"grid": grid}, default=float))  # the runs first: nothing below loses them
    start = time.perf_counter()
    result = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "grid": grid, "landscape": landscape(grid["data"], grace),
              "searchers": searchers(BUDGETS, args.repetitions, grid["data"])}
    result["analysis"] = {**commit(), "seconds": time.perf_counter() - start}
    args.out.write_text(json.dumps(result, indent=1, default=float))
    print(markdown(result))


if __name__ == "__main__":
    main()
