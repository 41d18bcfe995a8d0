"""The confirmation section: the study's answer on seeds its selection never saw (tuning/search/confirm.py).

Reads the `stage=confirm` runs of the newest round and replays their race (tuning.results.race.replay, with the
design the runs carry): the looks it took, which candidates dropped out, which one was shown better, or
that none was and the smallest gain the race could have seen. `tuning.results.race_design.race_of` is the function the
launcher uses for `best=true` and the registry, so the page and MLflow cannot disagree.
"""
from __future__ import annotations

import html
import math

from tuning.results.race_design import design_of, race_of
from tuning.results.race_text import answer_text, gain_interval

from .runs import StudyRuns

STATUS = {"better": "shown better", "dropped": "dropped", "not shown": "not shown better"}


def race_result(runs: StudyRuns):
    """The newest round's race as its runs say it went (tuning.results.race_design.race_of), or a reason there is none:
    (RaceResult, design) or (None, why) ('' when the study ran no confirmation)."""
    table = runs.confirmation
    if table is None or table.empty:
        return None, ""
    done = runs.complete(table)
    if done.empty:
        return None, "No confirmation run finished."
    latest = done[done["confirm_round"] == done["confirm_round"].max()]
    race = next((d for d in map(design_of, latest.get("race", [])) if d is not None), None)
    if race is None:
        return None, "These confirmation runs carry no race design (an older launch): rerun the study to confirm its answer."
    keys = [k for k in runs.searched if k in latest]
    rows = [(tuple(r[k] for k in keys), int(r["seed"]), float(r["objective"]), r["run_name"], bool(r["baseline"]))
            for _, r in latest.iterrows()]
    return race_of(rows, runs.mode, race), race


def section(runs: StudyRuns, fmt) -> str:
    """HTML ('' if the study ran no confirmation)."""
    result, race = race_result(runs)
    if result is None:
        return f"<h2>Confirmation on fresh seeds</h2><p class=note>{html.escape(race)}</p>" if race else ""
    sigma = runs.noise_model().sigma
    headline = html.escape(answer_text(result, runs.metric, runs.mode, sigma, name=lambda e: str(e.run)))
    seeds = result.seeds
    body = []
    for c in ([result.reference] if result.reference is not None else []) + result.candidates:
        values = " / ".join(fmt(c.values[s]) if s in c.values else "–" for s in seeds)
        if c is result.reference:
            verdict, vs = "reference", ""
        elif c.comparison is None or math.isnan(c.comparison.half_width):
            verdict, vs = STATUS.get(c.status, c.status), ""
        else:
            gain, low, high = gain_interval(c.comparison, runs.mode)
            verdict, vs = STATUS.get(c.status, c.status), f"{gain:+.3g} [{low:.3g}, {high:.3g}] after {len(c.values)} seeds"
        body.append(f"<tr><td class=l>{html.escape(str(c.run))}</td><td>{verdict}</td><td><b>{fmt(c.mean)}</b></td>"
                    f"<td>{values}</td><td>{html.escape(vs)}</td></tr>")
    return (f"<h2>Confirmation on fresh seeds</h2><p class=note id=confirmed>{headline[0].upper() + headline[1:]}.</p>"
            f"<table><tr><th class=l>configuration (its most typical run)</th><th>verdict</th><th>{runs.metric} mean"
            f"</th><th>seeds {', '.join(str(s) for s in seeds)}</th><th>gain over the reference [interval at the "
            f"race's level]</th></tr>{''.join(body)}</table><p class=legend>The top configurations of the search "
            f"raced the reference settings on seeds no search trial used (looks after "
            f"{', '.join(map(str, race.looks))} seeds, at most {race.budget} runs): at each look every candidate "
            "still in the race gets a one-sided paired test against the reference, all candidates corrected "
            "together (Holm) and the error spread over the looks, so the chance of calling a candidate better "
            "that is not stays under 5 %; a candidate not ahead of the reference drops out. Each interval is the "
            "one its test used (one candidate's, not simultaneous). This is the study's answer: best=true and "
            "the registry's best alias point to it. The leaderboard below is the search stage, whose best is "
            "picked and measured on the same evaluation (not confirmed).</p>")
