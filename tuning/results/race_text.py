"""What a confirmation race found, in words: the launcher, the study note, the report and compare say the same
sentence (the race's rule and power are in tuning/results/race.py)."""
from __future__ import annotations

import math

from tuning.results.objective import Comparison
from tuning.results.race import RaceDesign, RaceResult, detectable_gain


def gain_interval(comparison: Comparison, mode: str) -> tuple[float, float, float]:
    """(gain, low, high) over the reference, positive = better whatever the mode: the interval the race
    tested the candidate at (its low end above 0 is 'shown better')."""
    gain = -comparison.difference if mode == "min" else comparison.difference
    return gain, gain - comparison.half_width, gain + comparison.half_width


def answer_text(result: RaceResult, metric: str, mode: str, sigma: float = math.nan,
                name=lambda entry: str(entry.run)) -> str:
    """One sentence: what the race confirmed, or that it showed nothing better and what it could have seen."""
    n, looks = len(result.seeds), result.looks_done
    if result.status == "running":
        return f"the confirmation race is unfinished ({looks} look(s) done): resume the launch to finish it"
    if result.reference is None:
        return (f"no run of the reference settings in the confirmation: {name(result.winner)} has the best mean "
                f"({metric} {result.winner.mean:.4g}), with no verdict against them")
    if result.status == "confirmed":
        w = result.winner
        gain, low, high = gain_interval(w.comparison, mode)
        return (f"confirmed on {n} fresh seeds: {name(w)} is better than the reference settings by {gain:.3g} "
                f"{metric} [{low:.3g}, {high:.3g}] ({metric} {w.mean:.4g} vs {result.reference.mean:.4g}; the "
                f"interval is the one-sided test the race called it at: paired, Holm over {w.comparison.family} "
                f"candidate(s), the error spread over the looks)")
    seen = could_see(sigma, result.design, metric)
    seen = (f"; {seen}" if seen else "")
    return (f"no candidate was shown better than the reference settings on {n} fresh seeds: the reference settings "
            f"stay the answer ({name(result.reference)}, {metric} {result.reference.mean:.4g} over the fresh seeds){seen}")


def could_see(sigma: float, design: RaceDesign | None, metric: str, subject: str = "this race detects") -> str:
    """'with this noise (σ = s) <subject> a gain of Y <metric> or more (80 % power): ...', '' when the noise
    or the design does not allow a figure."""
    could = detectable_gain(sigma, design) if design is not None else math.inf
    return (f"with this noise (σ = {sigma:.3g}) {subject} a gain of {could:.3g} {metric} or more "
            f"(80 % power): a smaller gain may be there unseen" if math.isfinite(could) else "")
