"""Does the tuner's verdict hold beyond one landscape? Searchers replayed on a family of landscapes.

    python benchmarks/landscapes.py --out benchmarks/results/landscapes.json   # ~10 minutes on 2 cores
    python benchmarks/landscapes.py --markdown benchmarks/results/landscapes.json

The stored tuner-check grid (benchmarks/results/tuner_check.json: 3 λ_cyc x 4 λ_id cells x 6 seeds of the
synthetic task) is one landscape, and on it TPE's edge came from drifting towards λ_id = 40, where that grid's
optimum happens to sit at the edge of the range. So the searchers are replayed (benchmarks/tabular_search.py:
one noisy stored run per trial, the reference settings enqueued `baseline_seeds` times first, the pick is the
best observed trial) on
- the grid with its λ_id columns relabelled in every order (24 landscapes) and its λ_cyc rows in every order
  (6, one of them the grid itself): the same values and noise, the optimum moved around the range;
- smooth synthetic functions of (log λ_cyc, λ_id) with the optimum inside the range, at the grid's scale (a
  bowl of depth 0.8 FID over the range) and the reference cell's seed noise (σ = 0.136), evaluated where the
  searcher proposes (no grid), optima at three places.
Searchers: random search, and TPE (tuning.search.optuna_search's sampler settings) with n_startup_trials 4 (the platform's
rule below 40 trials), 8 and Optuna's default 10. Regret: the true mean of what was picked minus the best
true mean of the landscape (ground truth for grids, the function for smooth ones), divided by the landscape's
range (worst minus best) so landscapes can be averaged. Every searcher sees the same noise draws.
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

LAMBDA_CYC = (1.0, 10.0, 30.0)
LAMBDA_ID = (0.0, 5.0, 20.0, 40.0)
REFERENCE = (10.0, 5.0)
BUDGETS = (8, 16, 32)
SEARCHERS = ("random", "tpe_startup_4", "tpe_startup_8", "tpe_startup_10")
SIGMA = 0.136          # the reference cell's seed SD on the stored grid (fid, tiny backbone)
DEPTH = 0.8            # a smooth bowl's rise from its optimum to the range's far corner, in fid
SMOOTH_OPTIMA = ((3.0, 15.0), (15.0, 25.0), (5.0, 30.0))   # (λ_cyc, λ_id), all inside [1, 30] x [0, 40]


class Grid:
    """A stored grid, its cells relabelled: `cyc_order[i]` is the label of row LAMBDA_CYC[i], likewise λ_id."""

    def __init__(self, runs: list[dict], cyc_order, id_order):
        self.values, self.truth = {}, {}
        cyc_map, id_map = dict(zip(LAMBDA_CYC, cyc_order)), dict(zip(LAMBDA_ID, id_order))
        for run in runs:
            cell = (cyc_map[float(run["lambda_cyc"])], id_map[float(run["lambda_id"])])
            self.values.setdefault(cell, []).append(run["epochs"][-1]["fid"])
            self.truth.setdefault(cell, []).append(run["epochs"][-1]["gt"])
        means = {c: float(np.mean(v)) for c, v in self.truth.items()}
        self.best, self.range = min(means.values()), max(means.values()) - min(means.values())
        self.means = means

    def nearest(self, cyc: float, lid: float) -> tuple:
        return (min(LAMBDA_CYC, key=lambda c: abs(math.log(c) - math.log(cyc))), min(LAMBDA_ID, key=lambda i: abs(i - lid)))

    def draw(self, cyc: float, lid: float, rng) -> tuple[float, tuple]:
        cell = self.nearest(cyc, lid)
        return float(rng.choice(self.values[cell])), cell

    def regret(self, point) -> float:
        return (self.means[point] - self.best) / self.range


class Smooth:
    """f(c, i) = DEPTH x (u^2 + v^2) / max over the range, u, v: log λ_cyc and λ_id scaled to [0, 1] around
    the optimum; observations add N(0, SIGMA)."""

    def __init__(self, optimum):
        self.optimum = optimum
        corners = itertools.product((1.0, 30.0), (0.0, 40.0))
        self.scale = max(self._bowl(c, i) for c, i in corners)
        self.range = DEPTH

    def _bowl(self, cyc, lid) -> float:
        u = (math.log(cyc) - math.log(self.optimum[0])) / math.log(30.0)
        v = (lid - self.optimum[1]) / 40.0
        return u * u + v * v

    def mean(self, cyc, lid) -> float:
        return DEPTH * self._bowl(cyc, lid) / self.scale

    def draw(self, cyc: float, lid: float, rng) -> tuple[float, tuple]:
        return self.mean(cyc, lid) + float(rng.normal(0.0, SIGMA)), (cyc, lid)

    def regret(self, point) -> float:
        return self.mean(*point) / self.range


def sampler(name: str, seed: int):
    import optuna
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=int(name.rsplit("_", 1)[1]))


@functools.lru_cache(maxsize=1)
def study_space():
    """The tuner-check study's search space, as the platform's searcher samples it (loaded once per process)."""
    import optuna

    from tuning.search.optuna_search import SearchSpace
    from tuning.study.loading import load_study
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return SearchSpace(load_study("tuner_check"))


def search(landscape, name: str, budget: int, reference_seeds: int, rep: int) -> float:
    """One search; the normalised regret of the trial it ranks best."""
    import optuna
    space = study_space()
    rng = np.random.default_rng(10_000 * budget + rep)  # the same noise draws for every searcher
    study = optuna.create_study(direction="minimize", sampler=sampler(name, rep))
    for _ in range(min(reference_seeds, budget)):
        study.enqueue_trial({"loss.lambda_cyc": REFERENCE[0], "loss.lambda_id": REFERENCE[1]})
    picks = []
    for _ in range(budget):
        trial = study.ask()
        space(trial)
        value, point = landscape.draw(trial.params["loss.lambda_cyc"], trial.params["loss.lambda_id"], rng)
        study.tell(trial, value)
        picks.append((value, point))
    return landscape.regret(min(picks)[1])


def landscapes(runs: list[dict]) -> dict:
    out = {}
    for order in itertools.permutations(LAMBDA_ID):
        out[f"grid, λ_id columns as {'/'.join(f'{x:g}' for x in order)}"] = ("grid, λ_id relabelled", LAMBDA_CYC, order)
    for order in itertools.permutations(LAMBDA_CYC):
        if order != LAMBDA_CYC:
            out[f"grid, λ_cyc rows as {'/'.join(f'{x:g}' for x in order)}"] = ("grid, λ_cyc relabelled", order, LAMBDA_ID)
    for optimum in SMOOTH_OPTIMA:
        out[f"smooth, optimum at λ_cyc {optimum[0]:g}, λ_id {optimum[1]:g}"] = ("smooth", optimum, None)
    return out


def measure_one(job) -> tuple[str, dict]:
    label, (family, a, b), runs, repetitions, reference_seeds = job
    landscape = Smooth(a) if family == "smooth" else Grid(runs, a, b)
    result = {"family": family}
    for budget in BUDGETS:
        result[str(budget)] = {}
        for name in SEARCHERS:
            regrets = [search(landscape, name, budget, reference_seeds, rep) for rep in range(repetitions)]
            result[str(budget)][name] = {"mean": float(np.mean(regrets)),
                                         "se": float(np.std(regrets, ddof=1) / math.sqrt(repetitions))}
    return label, result


def summary(per_landscape: dict) -> dict:
    """Per family and budget: each searcher's mean normalised regret over the family, and on how many of its
    landscapes each TPE variant beat random beyond 2 standard errors (and lost to it beyond 2)."""
    out = {}
    families = sorted({r["family"] for r in per_landscape.values()})
    for family in families + ["all"]:
        rows = [r for r in per_landscape.values() if family in ("all", r["family"])]
        out[family] = {"landscapes": len(rows)}
        for budget in map(str, BUDGETS):
            cell = {name: float(np.mean([r[budget][name]["mean"] for r in rows])) for name in SEARCHERS}
            for name in SEARCHERS[1:]:
                diffs = [(r[budget][name]["mean"] - r[budget]["random"]["mean"],
                          math.hypot(r[budget][name]["se"], r[budget]["random"]["se"])) for r in rows]
                cell[f"{name} wins"] = sum(d < -2 * s for d, s in diffs)
                cell[f"{name} loses"] = sum(d > 2 * s for d, s in diffs)
            out[family][budget] = cell
    return out


def markdown(data: dict) -> str:
    lines = [f"Measured by `{data['command']}` at commit {data['commit'][:7]}"
             f"{' (with uncommitted changes)' if data['uncommitted_changes'] else ''}, {data['repetitions']} "
             "searches per searcher, budget and landscape; mean regret as a share of each landscape's range "
             "(0 = always the best cell), averaged over the family; TPE wins / loses = landscapes where it beat "
             "random / lost to it by more than 2 SE.", "",
             "| landscapes | budget | random | TPE, start-up 4 (platform) | TPE, 8 | TPE, 10 (Optuna's default) | "
             "TPE 4 wins / loses vs random |", "|---|---|---|---|---|---|---|"]
    for family, by_budget in data["summary"].items():
        for budget in map(str, BUDGETS):
            c = by_budget[budget]
            lines.append(f"| {family} ({by_budget['landscapes']}) | {budget} | {c['random']:.3f} | "
                         f"{c['tpe_startup_4']:.3f} | {c['tpe_startup_8']:.3f} | {c['tpe_startup_10']:.3f} | "
                         f"{c['tpe_startup_4 wins']} / {c['tpe_startup_4 loses']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repetitions", type=int, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--markdown", type=Path, help="print the README section of a stored result and exit")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return
    from tuning.study.loading import load_study
    runs = json.loads((ROOT / "benchmarks/results/tuner_check.json").read_text())["grid"]["data"]
    reference_seeds = load_study("tuner_check").launch.study.baseline_seeds
    start = time.time()
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    jobs = [(label, spec, runs, args.repetitions, reference_seeds) for label, spec in landscapes(runs).items()]
    with ProcessPoolExecutor(args.workers) as pool:
        per_landscape = dict(pool.map(measure_one, jobs))
    data = {"command": " ".join(["python benchmarks/landscapes.py", *sys.argv[1:]]), "commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": bool(git("status", "--porcelain", "benchmarks/landscapes.py", "tuning/search/optuna_search.py")),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "repetitions": args.repetitions,
            "searchers": list(SEARCHERS), "budgets": list(BUDGETS), "landscapes": per_landscape,
            "summary": summary(per_landscape), "seconds": time.time() - start}
    if args.out:
        args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(markdown(data))


if __name__ == "__main__":
    main()
