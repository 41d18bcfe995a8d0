"""No absence from silence (tuning/results/equivalence.py): TOST's error, what a comparison could detect, the words."""
import math
import random

from tuning.results.equivalence import Margin, detectable, equivalent, margin_of, verdict_words
from tuning.results.objective import holm, paired_difference


def simulate(true: float, sd: float, seeds: int, n: int, rng: random.Random):
    return [paired_difference([rng.gauss(true, sd) for _ in range(seeds)], "min") for _ in range(n)]


def test_tost_claims_equivalence_at_the_margin_at_most_alpha_of_the_time():
    """A true difference exactly at the margin is the hardest null: 'equivalent' must be rare (<= 5 %), and a
    true difference of zero with enough seeds must be shown equivalent most of the time."""
    rng, margin = random.Random(3), Margin(1.0, "study.margin")
    at_margin = simulate(1.0, 0.5, 6, 3000, rng)
    rate = sum(equivalent(c, margin) for c in at_margin) / len(at_margin)
    assert rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 3000)
    null = simulate(0.0, 0.5, 12, 1000, rng)
    assert sum(equivalent(c, margin) for c in null) / len(null) > 0.8


def test_a_family_makes_equivalence_harder():
    c = paired_difference([0.1, -0.1, 0.05, 0.0, -0.05], "min")
    margin = Margin(0.15, "study.margin")
    assert equivalent(c, margin)
    corrected = holm([c] * 15, "min")[0]
    assert corrected.family == 15 and not equivalent(corrected, margin)  # TOST at 5 % / 15 does not fit


def test_detectable_is_the_difference_called_with_80_percent_power():
    rng = random.Random(5)
    base = [rng.gauss(0, 1.0) for _ in range(8)]
    mean = sum(base) / 8
    sd = math.sqrt(sum((x - mean) ** 2 for x in base) / 7)
    c = paired_difference([(x - mean) / sd for x in base], "min")  # sample sd exactly 1: se = 1 / sqrt(8)
    target = detectable(c)
    assert target > c.half_width
    calls = [paired_difference([rng.gauss(-target, 1.0) for _ in range(8)], "min") for _ in range(3000)]
    rate = sum(x.verdict == "better" for x in calls) / len(calls)
    assert 0.72 < rate < 0.88  # 80 % by the normal approximation of the t test's power at 7 degrees of freedom


def test_words_never_say_equal_without_the_test():
    c = paired_difference([0.3, -0.4, 0.5], "min")
    assert c.verdict == "indistinguishable"
    words = verdict_words(c, Margin(0.1, "study.margin"), "fid")
    assert words.startswith("not shown different at this size; could detect") and "equivalent" not in words
    assert verdict_words(c, Margin(math.nan, "none"), "fid").startswith("not shown different")
    assert verdict_words(paired_difference([0.01, -0.01, 0.0, 0.005], "min"), Margin(0.5, "m"), "fid") == \
        "equivalent: within ±0.5 fid (TOST)"
    assert margin_of(0.0, 0.2).value == 0.2 and margin_of(0.3, 0.2).value == 0.3
    assert math.isnan(margin_of(None, math.nan).value)
