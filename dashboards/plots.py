"""Figures for the report (matplotlib, Agg): each saved as a PNG and returned as its path."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .stats import summarize  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def effect(table: pd.DataFrame, key: str, metric: str, path: Path) -> Path:
    """Objective against one searched value: a scatter for numbers, a strip per choice for categories."""
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    data = table.dropna(subset=["objective"])
    numeric = pd.api.types.is_numeric_dtype(data[key])
    if numeric:
        ax.scatter(data[key], data["objective"], c="tab:blue", alpha=0.8)
        positive = data[key] > 0
        if positive.all() and data[key].max() / max(data[key].min(), 1e-30) > 20:
            ax.set_xscale("log")
    else:
        labels = sorted(data[key].astype(str).unique())
        for i, label in enumerate(labels):
            ys = data.loc[data[key].astype(str) == label, "objective"]
            ax.scatter([i] * len(ys), ys, alpha=0.8)
            ax.hlines(ys.mean(), i - 0.3, i + 0.3, colors="black")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    base = data[data["baseline"]]
    if len(base):
        ax.scatter(base[key] if numeric else [], base["objective"] if numeric else [], marker="*", s=180,
                   c="gold", edgecolors="black", label="reference settings", zorder=3)
        if numeric:
            ax.legend(fontsize=7)
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs {key}", fontsize=9)
    return _save(fig, path)


def history(table: pd.DataFrame, metric: str, mode: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    data = table.dropna(subset=["objective"])
    ax.scatter(data["trial_number"], data["objective"], label="trial", alpha=0.8)
    running = data["objective"].cummin() if mode == "min" else data["objective"].cummax()
    ax.step(data["trial_number"], running, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial (t0001 = trial 1, as in the leaderboard; complete trials shown)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are whole numbers: no tick at 1.5
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    ax.set_title("optimisation history", fontsize=9)
    return _save(fig, path)


def importance(values: dict[str, float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 0.5 + 0.4 * len(values)))
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names], color="tab:green")
    ax.set_xlabel("importance (PED-ANOVA, Optuna)")
    return _save(fig, path)


def pareto(table: pd.DataFrame, front: pd.DataFrame, quality: str, cost: str, path: Path, label: str) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.scatter(table[cost], table[quality], alpha=0.6, label="trials")
    ax.plot(front[cost], front[quality], "o-", color="tab:red", label="Pareto front")
    ax.set_xlabel("training seconds for the whole budget")
    ax.set_ylabel(label)
    ax.legend(fontsize=7)
    ax.set_title("quality against cost", fontsize=9)
    return _save(fig, path)


def data_efficiency(rows: pd.DataFrame, comparisons: list, value: str, label: str, path: Path) -> Path:
    """Left: `value` against training images per domain, one line per DiffAugment arm (mean over seeds, 95 %
    interval of the mean). Right: the paired difference with - without and its noise-rule interval."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for policy, arm in rows.groupby("diffaugment", sort=True):
        sizes = sorted(arm["train_images"].unique())
        summaries = [summarize(arm.loc[arm["train_images"] == n, value].tolist()) for n in sizes]
        left.errorbar(sizes, [s["mean"] for s in summaries], yerr=[0 if s["ci95"] != s["ci95"] else s["ci95"]
                      for s in summaries], marker="o", capsize=3, label=policy or "no augmentation")
    for policy in sorted({c.policy for c in comparisons}):
        mine = [c for c in comparisons if c.policy == policy]
        xs = [c.size for c in mine]
        ys = [c.comparison.difference for c in mine]
        errs = [c.comparison.half_width if c.comparison.half_width == c.comparison.half_width else 0 for c in mine]
        right.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=policy)
    right.axhline(0, color="black", lw=0.8)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(rows["train_images"].unique()), [str(int(v)) for v in sorted(rows["train_images"].unique())])
        ax.set_xlabel("training images per domain")
        ax.legend(fontsize=7)
    left.set_ylabel(label)
    left.set_title(f"{label} by arm", fontsize=9)
    right.set_ylabel("with − without DiffAugment")
    right.set_title("paired difference (per-comparison interval, Holm level)", fontsize=9)
    return _save(fig, path)
