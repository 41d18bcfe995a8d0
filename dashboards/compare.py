"""`python -m dashboards.compare study=A study=B ... [out=DIR]`: studies side by side (e.g. two datasets).

Each study is read from its own store (`runs/studies/<name>/mlflow.db`) unless `mlflow.tracking_uri`
is given. One table row per study: complete trials, best objective (the study metric at the final
evaluation), whether that best beats the study's own reference settings beyond noise (the rule of
`tuning.results.objective`, as in the report), the best trial and its settings, the spread over trials, and the
provenance; a figure shows every trial's objective per study. Studies whose
metrics have different provenance are shown, not ranked. The last line printed is the report's path.
"""
from __future__ import annotations

import html
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cyclegan.cli import run_main  # noqa: E402
from cyclegan.configtools import UserError  # noqa: E402
from tuning.results.equivalence import margin_of, verdict_words  # noqa: E402
from tuning.results.objective import family_text  # noqa: E402
from tuning.results.race_text import answer_text  # noqa: E402

from .confirmation import race_result  # noqa: E402
from .report import CSS, default_tracking_uri, fmt, img  # noqa: E402
from .runs import load_runs  # noqa: E402
from .stats import against_reference, summarize  # noqa: E402


def confirmed_answer(runs) -> tuple[str, float]:
    """('confirmed ...' sentence, the answer's mean over the fresh seeds) from the study's confirmation race,
    or ('', nan) when it ran none or has not finished: the same answer the report and best=true give."""
    result, _ = race_result(runs)
    if result is None or result.status == "running" or result.winner is None:
        return "", float("nan")
    text = answer_text(result, runs.metric, runs.mode, runs.noise_model().sigma, name=lambda e: str(e.run))
    return text[0].upper() + text[1:], result.winner.mean


def main(args: list[str]) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    studies, uri, out = [], None, Path("runs") / "reports"
    for item in args:
        key, sep, value = item.partition("=")
        if key == "study" and sep:
            studies.append(value)
        elif key == "mlflow.tracking_uri" and sep:
            uri = value
        elif key == "out" and sep:
            out = Path(value)
        else:
            raise UserError(f"unknown argument {item!r}; use study=A study=B [mlflow.tracking_uri=URI] [out=DIR]")
    if len(studies) < 2:
        raise UserError("give at least two studies: study=A study=B")
    loaded = [load_runs(s, default_tracking_uri({"study": s, **({"mlflow.tracking_uri": uri} if uri else {})}))
              for s in studies]
    out.mkdir(parents=True, exist_ok=True)
    rows, series = [], []
    for runs in loaded:
        t = runs.complete()
        if t.empty:
            rows.append(f"<tr><td class=l>{html.escape(runs.name)}</td><td colspan=7>no complete trial</td></tr>")
            continue
        best = t.sort_values("objective", ascending=runs.mode == "min").iloc[0]
        s = summarize(t["objective"].tolist())
        settings = ", ".join(f"{k}={fmt(best[k])}" for k in runs.searched)
        provenance = " / ".join(sorted(t["provenance"].unique()))
        # the same noise rule as the report: the best trial against its own reference settings
        # The best of N trials is the most extreme of N comparisons: judged as one of the study's family of
        # trials against its reference (Holm), never on its own.
        same = t[t["provenance"] == best["provenance"]]
        floor = runs.noise_floor(same)
        family = against_reference(same, floor, runs.mode)
        vs = family[list(same.index).index(best.name)]
        verdict = ("is the reference" if best["baseline"] else
                   f"{vs.text()}: {verdict_words(vs, margin_of(runs.margin, floor.sigma), runs.metric)}, "
                   f"{family_text(family)}" if floor.seeds else "no reference run: no verdict")
        answer, value = confirmed_answer(runs)
        if answer:  # the race's answer first; the search stage's best is what it is: not confirmed
            verdict = f"{answer}. Search stage (not confirmed): best {best['run_name']}, {fmt(best['objective'])}: {verdict}"
        else:
            value, verdict = best["objective"], f"search stage, not confirmed: {verdict}"
        rows.append(f"<tr><td class=l>{html.escape(runs.name)}</td><td>{len(t)}</td><td class=l>{runs.metric}</td>"
                    f"<td><b>{fmt(value)}</b></td><td class=l>{html.escape(verdict)}</td>"
                    f"<td>{fmt(s['mean'])} ± {fmt(s['std'])}</td>"
                    f"<td class=l>{html.escape(best['run_name'])}: {html.escape(settings)}</td>"
                    f"<td class=l>{html.escape(provenance)}</td></tr>")
        series.append((runs.name, runs.metric, t["objective"].tolist()))
    fig, ax = plt.subplots(figsize=(1.8 + 1.4 * len(series), 3.4))
    for i, (name, metric, values) in enumerate(series):
        ax.scatter([i] * len(values), values, alpha=0.7)
    ax.set_xticks(range(len(series)), [f"{name}\n({metric})" for name, metric, _ in series])
    ax.set_ylabel("objective (each study's own)")
    fig.tight_layout()
    figure = out / f"compare_{'_'.join(studies)}.png"
    fig.savefig(figure, dpi=110)
    plt.close(fig)
    provenances = {r.table["provenance"].iloc[0] for r in loaded if not r.table.empty}
    note = ("<p class=note>These studies measured their objective with different provenance (dataset, backbone, "
            "weights, resize or image counts): read each row on its own; the numbers do not rank the studies "
            "against each other.</p>" if len(provenances) > 1 else "")
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>Compare {html.escape(', '.join(studies))}</title>"
            f"<style>{CSS}</style></head><body><h1>Studies side by side</h1>{note}<table><tr><th class=l>study</th>"
            "<th>complete trials</th><th class=l>objective</th><th>answer</th>"
            "<th class=l>the answer (confirmed on fresh seeds where the study raced) and the search stage's best</th><th>mean ± std over trials</th>"
            f"<th class=l>best trial</th><th class=l>provenance</th></tr>{''.join(rows)}</table>"
            f"<figure>{img(figure)}</figure></body></html>")
    path = out / f"compare_{'_'.join(studies)}.html"
    path.write_text(page, encoding="utf-8")
    print(path.resolve())


if __name__ == "__main__":
    sys.exit(run_main(main, usage=__doc__))
