"""The ablation section: each arm over its seeds, and a paired verdict against its comparator.

A study names each arm's comparator, the arm one term away (the study file's `compare:`, logged with the
parent run; tuning/study/comparators.py checks that the two differ in one key). For a study without it the older
rule applies: an arm whose name starts with `full` is a reference arm, and every other arm is compared with
the reference arm that agrees with it on the settings that tell reference arms apart (the adversarial loss).
Arms that share a seed share initial weights, data order and pool randomness, so the verdict is a paired
t interval over the seeds both arms ran (tuning.results.objective.paired_difference); a seed only one arm finished
is left out and the verdict says so. All verdicts of the section are one family (tuning.results.objective.holm).
An arm not called better or worse is "equivalent" only by TOST against the stated margin (`study.margin`, or
one seed σ pooled over the arms); otherwise "not shown different", with the difference it could have seen.
"""
from __future__ import annotations

import html

import pandas as pd

from tuning.results.equivalence import PER_COMPARISON, pooled_margin
from tuning.results.objective import family_text, holm

from .stats import arm_table, paired_verdict, verdict_text

REFERENCE_PREFIX = "full"


def arm_key(searched: list[str], table: pd.DataFrame) -> str | None:
    """The searched factor that names the arms: the one with a value starting with `full`."""
    for key in searched:
        if key in table and table[key].astype(str).str.startswith(REFERENCE_PREFIX).any():
            return key
    return None


def reference_arm(arm: str, params: dict, references: dict[str, dict]) -> str | None:
    """The reference arm for `arm`: agreeing on every param in which the reference arms differ."""
    if not references:
        return None
    keys = [k for k in next(iter(references.values()))
            if len({str(p.get(k)) for p in references.values()}) > 1]
    matches = [name for name, p in references.items() if all(str(p.get(k)) == str(params.get(k)) for k in keys)]
    return matches[0] if matches else None


def ablation_section(table: pd.DataFrame, searched: list[str], mode: str, metric: str, fmt,
                     comparators: dict[str, str] | None = None, margin: float | None = None) -> str:
    """HTML for the ablation arms of complete trials in `table` ('' if the study has no repeated arms).
    `comparators` (arm -> the arm one term away, tuning/study/comparators.py) name each arm's comparison; without
    them an arm is compared with the `full*` arm of the same adversarial loss (studies before `compare:`)."""
    factors = [k for k in searched if k in table and table[k].nunique() > 0]
    if not factors or table.empty:
        return ""
    arms = arm_table(table, factors)
    if (arms["n"] >= 2).sum() < 2:  # a sampled study repeats only its reference settings: no ablation
        return ""
    head = "".join(f"<th class=l>{html.escape(f)}</th>" for f in factors)
    body = "".join("<tr>" + "".join(f"<td class=l>{fmt(r[f])}</td>" for f in factors)
                   + f"<td>{int(r['n'])}</td><td>{fmt(r['mean'])} ± {fmt(r['std'])}</td><td>± {fmt(r['ci95'])}</td></tr>"
                   for _, r in arms.iterrows())
    if comparators:
        key = next((f for f in factors if set(table[f].astype(str)) & set(comparators)), None)
        pairs = {name: comparators.get(str(name)) for name in table[key].unique()} if key else {}
    else:
        key = arm_key(factors, table)
        pairs = legacy_pairs(table, key) if key else {}
    lines = []
    others = [f for f in factors if f != key]
    for name, ref in sorted(pairs.items(), key=lambda item: str(item[0])):
        if ref is None:
            continue
        arm, reference = table[table[key] == name], table[table[key] == ref]
        label = f"{name} vs {ref}" if comparators else f"{str(name).replace('_', ' ')} vs {ref}"
        for f in others:  # other searched factors (if any) are matched too
            for value in arm[f].unique():
                sub_a, sub_r = arm[arm[f] == value], reference[reference[f] == value]
                if len(sub_r):
                    lines.append((f"{name} vs {ref} ({f}={value})", *paired_verdict(sub_a, sub_r, mode),
                                  left_out(sub_a, sub_r)))
        if not others:
            lines.append((label, *paired_verdict(arm, reference, mode), left_out(arm, reference)))
    corrected = holm([comparison for _, comparison, _, _ in lines], mode)  # the arms are one family
    # one seed σ pooled over the arms (each arm is a configuration on several seeds), unless study.margin
    groups = {tuple(map(str, name if isinstance(name, tuple) else (name,))): g["objective"].tolist()
              for name, g in table.dropna(subset=["objective"]).groupby(factors)}
    stated = pooled_margin(margin, groups)
    verdicts = "".join(f"<li>{html.escape(verdict_text(label, metric.upper(), c, seeds, dropped, stated))}</li>"
                       for (label, _, seeds, dropped), c in zip(lines, corrected))
    against = "the arm one term away" if comparators else "the full model"
    family = corrected and max(c.family for c in corrected) > 1
    note = (f"<p class=note>{html.escape(PER_COMPARISON) + '. ' if family else ''}No difference is claimed "
            f"without an equivalence test: {html.escape(stated.text(metric.upper()))}.</p>")
    return (f"<h2>Ablation: each arm over its seeds</h2><table><tr>{head}<th>seeds</th><th>{metric} mean ± std"
            f"</th><th>95 % interval of the mean</th></tr>{body}</table>"
            + (f"<h3>Against {against}, seed by seed ({html.escape(family_text(corrected))})</h3>"
               f"<ul>{verdicts}</ul>{note}" if verdicts else ""))


def left_out(arm: pd.DataFrame, reference: pd.DataFrame) -> int:
    """Seeds that finished in only one of the two arms: their pair is dropped from the verdict."""
    a, r = set(arm["seed"]), set(reference["seed"])
    return len(a ^ r)


def legacy_pairs(table: pd.DataFrame, key: str) -> dict:
    """Arm -> its `full*` reference arm (a study without `compare:`); reference arms map to None."""
    params_of = {name: group.iloc[0].get("params", {}) for name, group in table.groupby(key)}
    references = {n: p for n, p in params_of.items() if str(n).startswith(REFERENCE_PREFIX)}
    return {name: None if name in references else reference_arm(name, params_of[name], references)
            for name in params_of}
