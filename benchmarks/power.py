"""The platform's power: its own decision code on simulated studies of the shipped designs.

    python benchmarks/power.py --studies 1000 --out benchmarks/results/power.json   # ~3-5 minutes on 2 cores
    python benchmarks/power.py --markdown benchmarks/results/power.json             # the README section

Seed noise is drawn per configuration from the stored tuner-check grid (benchmarks/results/tuner_check.json:
the seed SD of each of its 12 cells, 0.02 to 0.32 FID), in units of the reference cell's SD (0.136 FID), so
"a gain of 2 σ" is twice the reference settings' seed-to-seed spread. Shared seeds are simulated as
independent between arms (real shared seeds correlate arms, which only helps a paired test).

- lambda_sweep / lr_sweep (sampled): the search's trials each observe one seed; a quarter of the
  configurations (the good region the searcher finds) are better than the reference by the gain, the rest
  equal to it. The search's top `confirm_top` race the reference (tuning/results/race.py, the study's design as
  tuning/search/confirm.py resolves it). P(confirm): the answer is a truly better configuration shown better;
  P(false better): a configuration no better than the reference is shown better; runs: confirmation runs.
  Also at other budgets (study.confirm_budget), to show what a budget buys.
- loss_ablation / data_efficiency (grids, no race): each comparison is paired over the study's seeds and the
  page's family corrected with Holm (tuning.results.objective); one comparison carries the gain. P(confirm): that
  comparison called in the right direction; P(false better): any null comparison called a finding; joint
  coverage: all shown intervals cover their true differences at once.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from dashboards.data_efficiency import compare_by_size, conclusion, page_margin  # noqa: E402
from tuning.results.equivalence import Margin, equivalent  # noqa: E402
from tuning.results.objective import holm, paired_difference  # noqa: E402
from tuning.results.race import RaceDesign, detectable_gain, replay, runs_spent  # noqa: E402
from tuning.results.race_design import design  # noqa: E402
from tuning.study.loading import load_study  # noqa: E402

GAINS = (0, 1, 2, 3)
GOOD_SHARE = 0.25
ONE_SIGMA = Margin(1.0, "one seed σ")  # the default equivalence margin, in the simulation's units
REFERENCE_SD = 1.0                     # the unit: the reference settings' seed SD


def grid_spreads() -> list[float]:
    cells = json.loads((ROOT / "benchmarks/results/tuner_check.json").read_text())["landscape"]["cells"]
    reference = cells["(10.0, 5.0)"]["fid"][1]
    return [cell["fid"][1] / reference for cell in cells.values()]


def draw_race_study(trials: int, race: RaceDesign, gain: float, spreads: list[float], rng: random.Random) -> tuple:
    """One simulated sampled study: which configurations are good, their means and seed SDs, the search's
    `race.candidates` best single-seed trials, and every fresh seed of the reference (SD 1) and the candidates."""
    good = set(rng.sample(range(trials), max(1, round(trials * GOOD_SHARE)))) if gain > 0 else set()
    mean = [-gain if i in good else 0.0 for i in range(trials)]
    sd = [rng.choice(spreads) for _ in range(trials)]
    observed = [rng.gauss(mean[i], sd[i]) for i in range(trials)]
    top = sorted(range(trials), key=observed.__getitem__)[:race.candidates]
    seeds = range(race.max_seeds)
    reference = {s: rng.gauss(0.0, REFERENCE_SD) for s in seeds}
    candidates = {(i,): {s: rng.gauss(mean[i], sd[i]) for s in seeds} for i in top}
    return good, mean, sd, reference, candidates


def race_study(trials: int, race: RaceDesign, gain: float, spreads: list[float], rng: random.Random) -> tuple:
    good, mean, _, reference, candidates = draw_race_study(trials, race, gain, spreads, rng)
    # every seed drawn up front: a look reads only its own seeds and drops only prune, so this is the race
    result = replay(reference, candidates, race, "min", seeds=list(range(race.max_seeds)))
    confirmed = result.status == "confirmed"
    right = confirmed and result.winner.key[0] in good
    covered = math.nan
    if confirmed:
        c, true_gain = result.winner.comparison, -mean[result.winner.key[0]]
        covered = -c.difference - c.half_width <= true_gain <= -c.difference + c.half_width
    return right, confirmed and not right, runs_spent(result), covered, False


def paired_study(comparisons: int, seeds: int, gain: float, spreads: list[float], rng: random.Random) -> tuple:
    """One comparison carries the gain, the rest are null. Also: whether the page would call the one that
    carries the gain 'equivalent' (TOST at a margin of 1 σ, the default: tuning/results/equivalence.py)."""
    truth = [-gain] + [0.0] * (comparisons - 1)
    found = []
    for true in truth:
        a, b = rng.choice(spreads), rng.choice(spreads)
        found.append(paired_difference([rng.gauss(true, a) - rng.gauss(0.0, b) for _ in range(seeds)], "min"))
    family = holm(found, "min")
    hit = family[0].verdict == ("better" if gain > 0 else "indistinguishable")
    false = any(c.is_finding for c, t in zip(family, truth) if t == 0)
    covered = all(abs(c.difference - t) <= c.half_width for c, t in zip(family, truth))
    said_equal = family[0].verdict == "indistinguishable" and equivalent(family[0], ONE_SIGMA)
    return hit and gain > 0, false, 0, covered, said_equal


def absence_study(sizes: int, seeds: int, gain: float, spreads: list[float], rng: random.Random) -> tuple:
    """The data-efficiency page's own conclusion (dashboards.data_efficiency) on a study where DiffAugment
    helps by `gain` at every size: does it say 'stops helping' or 'never helped' (false absences)?"""
    rows = []
    for i in range(sizes):
        a, b = rng.choice(spreads), rng.choice(spreads)
        for seed in range(seeds):
            shared = rng.gauss(0.0, 1.0)  # what a seed does to both arms (subset, weights)
            rows.append({"train_images": 16 << i, "diffaugment": "", "seed": seed, "v": shared + rng.gauss(0, a)})
            rows.append({"train_images": 16 << i, "diffaugment": "p", "seed": seed,
                         "v": shared - gain + rng.gauss(0, b)})
    frame = pd.DataFrame(rows)
    comparisons = compare_by_size(frame, "v", "min")
    text = conclusion(comparisons, "p", page_margin(frame, "v"))
    absent = "stops helping" in text or "never helped" in text
    return False, gain > 0 and absent, 0, math.nan, absent


def measure(n: int, seed: int) -> dict:
    spreads, rng, designs = grid_spreads(), random.Random(seed), {}
    for name in ("lambda_sweep", "lr_sweep"):
        study = load_study(name)
        default = design(study)
        budgets = sorted({default.budget, round(study.num_trials / 3), study.num_trials})
        for budget in budgets:
            race = RaceDesign(default.candidates, default.first, default.step, budget)
            label = name + ("" if budget == default.budget else f" (confirm_budget={budget})")
            designs[label] = {"kind": "race", "trials": study.num_trials, "race": vars(race) | {"looks": race.looks},
                              "detectable_gain_sigma": detectable_gain(1.0, race), "shipped": budget == default.budget,
                              "cells": cells(lambda g: race_study(study.num_trials, race, g, spreads, rng), n)}
    for name, comparisons in (("loss_ablation", 15), ("data_efficiency", 3)):
        study = load_study(name)
        designs[name] = {"kind": "paired, Holm", "comparisons": comparisons, "seeds": study.launch.study.seeds,
                         "shipped": True,
                         "cells": cells(lambda g: paired_study(comparisons, study.launch.study.seeds, g, spreads, rng), n)}
    seeds = load_study("data_efficiency").launch.study.seeds
    designs["data_efficiency (conclusion)"] = {
        "kind": "absence", "sizes": 3, "seeds": seeds, "shipped": True,
        "cells": cells(lambda g: absence_study(3, seeds, g, spreads, rng), n)}
    return designs


def cells(simulate, n: int) -> dict:
    out = {}
    for gain in GAINS:
        rows = [simulate(gain) for _ in range(n)]
        covered = [r[3] for r in rows if r[3] == r[3]]
        out[str(gain)] = {"studies": n, "p_confirm": sum(r[0] for r in rows) / n,
                          "p_false_better": sum(r[1] for r in rows) / n, "mean_runs": sum(r[2] for r in rows) / n,
                          "coverage": sum(covered) / len(covered) if covered else None,
                          "p_said_absent": sum(r[4] for r in rows) / n}
    return out


def commit(script: str = "benchmarks/power.py") -> tuple[str, bool]:
    """HEAD, and whether the code the figures measure (tuning/, power.py, `script`) differs from it."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "tuning", "benchmarks/power.py", script], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    return head, dirty


def markdown(data: dict) -> str:
    lines = [f"Measured by `{data['command']}` at commit {data['commit'][:7]}"
             f"{' (with uncommitted changes)' if data['uncommitted_changes'] else ''}, {data['studies']} simulated "
             "studies per cell; gains in units of the reference settings' seed σ.", "",
             "| race (sampled studies) | P(false better) at 0 | P(confirm) at 1 / 2 / 3 σ | mean confirmation runs at "
             "0 / 2 σ | race detects (80 %, last look) |", "|---|---|---|---|---|"]
    races = {k: d for k, d in data["designs"].items() if d["kind"] == "race"}
    pages = {k: d for k, d in data["designs"].items() if d["kind"] != "race"}
    for name, d in races.items():
        c = d["cells"]
        shipped = " (shipped)" if d["shipped"] else ""
        lines.append(f"| {name}{shipped} | {c['0']['p_false_better']:.3f} | "
                     f"{c['1']['p_confirm']:.2f} / {c['2']['p_confirm']:.2f} / {c['3']['p_confirm']:.2f} | "
                     f"{c['0']['mean_runs']:.1f} / {c['2']['mean_runs']:.1f} | {d['detectable_gain_sigma']:.2f} σ |")
    lines += ["", "| page (paired, Holm) | P(false finding) at 0 | P(finding) at 1 / 2 / 3 σ | joint coverage of the "
              "per-comparison intervals at 0 / 2 σ | P(a real gain called equivalent / absent) at 1 / 2 / 3 σ |",
              "|---|---|---|---|---|"]
    for name, d in pages.items():
        c = d["cells"]
        coverage = (f"{c['0']['coverage']:.3f} / {c['2']['coverage']:.3f}" if c["0"]["coverage"] is not None else "–")
        found = (f"{c['1']['p_confirm']:.2f} / {c['2']['p_confirm']:.2f} / {c['3']['p_confirm']:.2f}"
                 if d["kind"] != "absence" else "–")
        false = f"{c['0']['p_false_better']:.3f}" if d["kind"] != "absence" else "–"
        lines.append(f"| {name} | {false} | {found} | {coverage} | "
                     f"{c['1']['p_said_absent']:.3f} / {c['2']['p_said_absent']:.3f} / {c['3']['p_said_absent']:.3f} |")
    return "\n".join(lines)


def cli(doc: str, script: str, measure_with, render) -> None:
    """The command line of the power benchmarks: simulate (--studies, --seed; `measure_with(studies, seed)`
    gives the result's own keys), print `render(result)` and keep it (--out); or --markdown FILE: render a
    stored result. The result names the command, the commit and whether the measured code had changes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--markdown", type=Path, help="print the README section of a stored result and exit")
    args = parser.parse_args()
    if args.markdown:
        print(render(json.loads(args.markdown.read_text())))
        return
    start = time.time()
    head, dirty = commit(script)
    data = {"command": " ".join([f"python {script}", *sys.argv[1:]]), "commit": head, "uncommitted_changes": dirty,
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "studies": args.studies,
            **measure_with(args.studies, args.seed)}
    data["seconds"] = time.time() - start
    if args.out:
        args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(render(data))


def main() -> None:
    cli(__doc__, "benchmarks/power.py", lambda n, seed: {"good_share": GOOD_SHARE, "designs": measure(n, seed)},
        markdown)


if __name__ == "__main__":
    main()
