"""How many training images, and does DiffAugment help with few? The data-efficiency section.

Used by the report (a study that varies `data.train_images` and `train.diffaugment`, e.g.
studies/data_efficiency.yaml) and by benchmarks/data_efficiency.py (the same design on the synthetic task,
with ground truth). One input, a table with a row per run: `train_images`, `diffaugment` ("" = off),
`seed` and the value compared. At each size, each DiffAugment policy is compared with no augmentation
seed by seed: runs that share a seed share the training subset, initial weights and data order, so the
difference is judged by the paired noise rule (tuning.results.objective.paired_difference, the one definition of
what counts as a real difference), every size and policy corrected together as one family
(tuning.results.objective.holm). A size with fewer than 3 shared seeds gets no verdict.

"Stops helping" and "never helped" are absences, so they are said only when an equivalence test shows them
(tuning/results/equivalence.py: TOST against the page's stated margin, `study.margin` or one seed σ); a size whose
interval merely includes zero is "not shown to help", with the gain it could have detected.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from tuning.results.equivalence import PER_COMPARISON, Margin, detectable, equivalent, pooled_margin, verdict_words
from tuning.results.objective import Comparison, family_text, holm, paired_difference

from . import plots
from .stats import summarize

OFF = ""


@dataclass
class SizeComparison:
    size: int
    policy: str
    seeds: int                  # seeds both arms finished (the pairs the verdict rests on)
    off: dict                   # summarize() of the arm without augmentation
    on: dict                    # ... and with the policy
    comparison: Comparison      # on - off, paired over `seeds`

    @property
    def helps(self) -> bool:
        return self.comparison.verdict == "better"


def policy_label(policy: str) -> str:
    return policy if policy else "no augmentation"


def compare_by_size(rows: pd.DataFrame, value: str, mode: str) -> list[SizeComparison]:
    """Each policy against no augmentation at each size (sizes ascending), paired by seed."""
    out = []
    data = rows.dropna(subset=[value])
    for size, at_size in data.groupby("train_images", sort=True):
        off = at_size[at_size["diffaugment"] == OFF].groupby("seed")[value].mean()
        for policy in sorted(p for p in at_size["diffaugment"].unique() if p != OFF):
            on = at_size[at_size["diffaugment"] == policy].groupby("seed")[value].mean()
            shared = on.index.intersection(off.index)
            comparison = paired_difference((on[shared] - off[shared]).tolist(), mode)
            out.append(SizeComparison(int(size), policy, len(shared), summarize(off.tolist()), summarize(on.tolist()),
                                      comparison))
    # every size and policy is one family: "helps at some size" must hold for the page as a whole
    corrected = holm([c.comparison for c in out], mode)
    return [replace(c, comparison=k) for c, k in zip(out, corrected)]


def page_margin(rows: pd.DataFrame, value: str, configured: float | None = None) -> Margin:
    """The page's equivalence margin: `study.margin` if set, else one seed σ pooled over the page's arms
    (each size and policy is a configuration run on several seeds; tuning/results/noise.py, with its refusal to pool
    unequal spreads, falling back to the largest size without augmentation)."""
    data = rows.dropna(subset=[value])
    groups = {(int(n), p): g[value].tolist() for (n, p), g in data.groupby(["train_images", "diffaugment"])}
    largest = (int(data["train_images"].max()), OFF) if not data.empty else None
    return pooled_margin(configured, groups, largest)


def conclusion(comparisons: list[SizeComparison], policy: str, margin: Margin) -> str:
    """Where `policy` stops helping: from the size after the last one where it helps, every larger size must
    be shown equivalent (TOST at `margin`); otherwise the page says it was not shown to help there."""
    mine = [c for c in comparisons if c.policy == policy and c.comparison.verdict != "not enough seeds"]
    if not mine:
        return f"DiffAugment ({policy}): not enough seeds at any size for a verdict (3 shared seeds needed)."
    worse = [str(c.size) for c in mine if c.comparison.verdict == "worse"]
    tail = f" It is worse beyond noise at {', '.join(worse)} images." if worse else ""
    helped = [i for i, c in enumerate(mine) if c.helps]
    if helped and helped[-1] == len(mine) - 1:
        return (f"DiffAugment ({policy}) still helps at the largest size measured ({mine[-1].size} images per "
                f"domain): it did not stop helping in this range.{tail}")
    after = mine[helped[-1] + 1:] if helped else mine
    sizes = ", ".join(str(c.size) for c in after)
    if all(equivalent(c.comparison, margin) for c in after):
        shown = f"equivalent to no augmentation within ±{margin.value:.3g} (TOST; {margin.source})"
        if not helped:
            return f"DiffAugment ({policy}) never helped: {shown} at every size measured ({sizes} images per domain).{tail}"
        return (f"DiffAugment ({policy}) helps up to {mine[helped[-1]].size} images per domain and stops helping at "
                f"{after[0].size}: from {after[0].size} images on it is {shown}.{tail}")
    could = [detectable(c.comparison) for c in after]
    could_text = (f"; at these sizes this design could detect a gain of {max(could):.3g} or more"
                  if could and all(x == x for x in could) else "")
    margin_text = (f"; no size was shown equivalent within ±{margin.value:.3g} ({margin.source})"
                   if margin.value == margin.value else "")
    where = (f"helps up to {mine[helped[-1]].size} images per domain; from {after[0].size} on it was not shown to help "
             f"({sizes} images), which is not evidence that it stops" if helped else
             f"was not shown to help at any size measured ({sizes} images per domain), which is not evidence that "
             "it never helps")
    return f"DiffAugment ({policy}) {where}{could_text}{margin_text}.{tail}"


def verdict_line(c: SizeComparison, metric: str, margin: Margin) -> str:
    if c.comparison.verdict == "not enough seeds":
        return f"{c.size} images: {metric} {c.comparison.difference:+.3g}, not enough seeds ({c.seeds} shared, 3 needed)"
    low, high = c.comparison.difference - c.comparison.half_width, c.comparison.difference + c.comparison.half_width
    word = verdict_words(c.comparison, margin, metric)
    level = "95 % interval" if c.comparison.family <= 1 else "per-comparison interval"
    return (f"{c.size} images: {metric} {c.comparison.difference:+.3g}, {level} [{low:.3g}, {high:.3g}], "
            f"{word} (paired over {c.seeds} seeds)")


def study_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The table's complete trials as (train_images, diffaugment, seed, objective) rows; empty unless the
    study varies both the number of training images and DiffAugment."""
    if table.empty or "params" not in table:
        return pd.DataFrame()
    params = table["params"].apply(lambda p: p if isinstance(p, dict) else {})
    rows = pd.DataFrame({"train_images": pd.to_numeric(params.apply(lambda p: p.get("data.train_images")),
                                                       errors="coerce"),
                         "diffaugment": params.apply(lambda p: p.get("train.diffaugment") or OFF),
                         "seed": table["seed"], "objective": table["objective"]})
    rows = rows[rows["train_images"] > 0]  # 0 = "all": a size the report cannot place on the axis
    if rows["train_images"].nunique() < 2 or rows["diffaugment"].nunique() < 2 or OFF not in set(rows["diffaugment"]):
        return pd.DataFrame()
    return rows


def section(table: pd.DataFrame, metric: str, mode: str, figures: Path, img, margin: float | None = None) -> str:
    """HTML: the objective against training images per arm, the paired verdicts, and where DiffAugment stops
    helping ('' for a study that is not a data-efficiency design). `margin`: study.margin (0/None: one seed σ)."""
    rows = study_rows(table)
    if rows.empty:
        return ""
    comparisons = compare_by_size(rows, "objective", mode)
    stated = page_margin(rows, "objective", margin)
    path = plots.data_efficiency(rows, comparisons, "objective", metric, figures / "data_efficiency.png")
    policies = sorted(p for p in rows["diffaugment"].unique() if p != OFF)
    verdicts = "".join(f"<li>{html.escape(policy_label(c.policy))} vs no augmentation, "
                       f"{html.escape(verdict_line(c, metric, stated))}</li>" for c in comparisons)
    summary = "".join(f"<p><b>{html.escape(conclusion(comparisons, p, stated))}</b></p>" for p in policies)
    return (f"<h2>Data efficiency: {metric} against training images per domain</h2>{summary}"
            f"<figure>{img(path)}</figure><h3>DiffAugment against no augmentation, seed by seed, at each size</h3>"
            f"<ul>{verdicts}</ul><p class=note>Left: each arm's mean over its seeds with the 95 % interval of the "
            f"mean. Right: the paired difference (with − without) and its noise interval: "
            f"{'below' if mode == 'min' else 'above'} zero with the interval clear of it, DiffAugment helps. Each size "
            f"and policy is one comparison of a family, {html.escape(family_text([c.comparison for c in comparisons]))}; "
            f"{html.escape(PER_COMPARISON)}. An absence (stops helping, never helped) is claimed only by an "
            f"equivalence test: {html.escape(stated.text(metric))}.</p>")
