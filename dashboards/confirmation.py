"""The confirmation section: the study's answer on seeds its selection never saw (tuning/confirm.py).

Reads the `stage=confirm` runs of the newest round, pairs each candidate with the reference settings seed by
seed, corrects the candidates as one family (Holm) and names the answer: the best candidate confirmed better
than the reference, or the reference itself. The verdicts come from `tuning.confirm.verdicts`, the function
the launcher uses for `best=true` and the registry, so the page and MLflow cannot disagree.
"""
from __future__ import annotations

import html
import math

from tuning.confirm import verdicts, winner
from tuning.objective import family_text

from .runs import StudyRuns


def section(runs: StudyRuns, fmt) -> str:
    """HTML ('' if the study ran no confirmation)."""
    table = runs.confirmation
    if table is None or table.empty:
        return ""
    done = runs.complete(table)
    if done.empty:
        return "<h2>Confirmation on fresh seeds</h2><p class=note>No confirmation run finished.</p>"
    latest = done[done["confirm_round"] == done["confirm_round"].max()]
    keys = [k for k in runs.searched if k in latest]
    rows = [(tuple(r[k] for k in keys), int(r["seed"]), float(r["objective"]), r["run_name"], bool(r["baseline"]))
            for _, r in latest.iterrows()]
    reference, candidates = verdicts(rows, runs.mode)
    answer = winner(reference, candidates, runs.mode)
    seeds = sorted(latest["seed"].unique())
    if reference is not None and answer is reference:
        headline = (f"No candidate is confirmed better than the reference settings on {len(seeds)} fresh seeds: "
                    f"the reference settings stay the study's answer ({runs.metric} {fmt(reference.mean)}).")
    elif reference is None:
        headline = (f"No run of the reference settings in the confirmation: {html.escape(str(answer.run))} has the best "
                    f"mean over {len(seeds)} fresh seeds ({runs.metric} {fmt(answer.mean)}), with no verdict against them.")
    else:
        c = answer.comparison
        headline = (f"Confirmed on {len(seeds)} fresh seeds: <b>{html.escape(str(answer.run))}</b> is better than the "
                    f"reference settings ({runs.metric} {fmt(answer.mean)} vs {fmt(reference.mean)}, {html.escape(c.text())}, "
                    f"{html.escape(family_text([x.comparison for x in candidates]))}).")
    body = []
    for c in ([reference] if reference is not None else []) + candidates:
        values = " / ".join(fmt(c.values[s]) if s in c.values else "–" for s in seeds)
        verdict = "reference" if c is reference else (c.comparison.verdict if c.comparison is not None else "")
        vs = "" if c.comparison is None else (f"{c.comparison.difference:+.3g} (no verdict)"
                                              if math.isnan(c.comparison.half_width) else html.escape(c.comparison.text()))
        body.append(f"<tr><td class=l>{html.escape(str(c.run))}</td><td>{verdict}</td><td><b>{fmt(c.mean)}</b></td>"
                    f"<td>{values}</td><td>{vs}</td></tr>")
    pairs = min((len(c.values) for c in candidates), default=0)
    return (f"<h2>Confirmation on fresh seeds</h2><p class=note id=confirmed>{headline}</p>"
            f"<table><tr><th class=l>configuration (its most typical run)</th><th>verdict</th><th>{runs.metric} mean"
            f"</th><th>seeds {', '.join(str(s) for s in seeds)}</th><th>vs reference, paired ± noise</th></tr>"
            f"{''.join(body)}</table><p class=legend>The top configurations of the search and the reference settings "
            f"ran again on seeds no search trial used; each candidate is compared with the reference seed by seed "
            f"(at least {pairs} pairs; a paired verdict needs 3), all candidates corrected together "
            f"({html.escape(family_text([c.comparison for c in candidates if c.comparison is not None]))}). This is the "
            "study's answer: best=true and the registry's best alias point to it. The leaderboard below is the search "
            "stage, whose best is picked and measured on the same evaluation (not confirmed).</p>")
