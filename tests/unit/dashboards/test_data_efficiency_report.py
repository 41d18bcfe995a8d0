"""Where DiffAugment stops helping (dashboards/data_efficiency.py), from per-seed values by the paired rule."""
import pandas as pd

import math

from dashboards.data_efficiency import compare_by_size, conclusion, page_margin, study_rows, verdict_line
from tuning.results.equivalence import Margin, equivalent

WIDE = Margin(0.5, "study.margin")      # wide enough for TOST on these tight pairs
NARROW = Margin(0.01, "study.margin")   # narrower than the pairs' own wobble: never shown equivalent

POLICY = "color,cutout"


def rows(gains: dict[int, float], noise=(0.0, 0.3, -0.3), seeds=3) -> pd.DataFrame:
    """Per size, DiffAugment lowers the value by `gain` on every seed; per-seed noise is shared by both arms
    except a small wobble, as paired runs are."""
    data = []
    for size, gain in gains.items():
        for seed in range(seeds):
            base = 10 + noise[seed % len(noise)]
            data.append({"train_images": size, "diffaugment": "", "seed": seed, "value": base})
            data.append({"train_images": size, "diffaugment": POLICY, "seed": seed,
                         "value": base - gain + 0.01 * seed})
    return pd.DataFrame(data)


def test_stops_helping_is_said_only_when_the_larger_sizes_are_shown_equivalent():
    comparisons = compare_by_size(rows({16: 1.0, 32: 0.5, 64: 0.0, 128: 0.0}), "value", "min")
    assert [c.comparison.verdict for c in comparisons] == ["better", "better", "indistinguishable", "indistinguishable"]
    assert all(equivalent(c.comparison, WIDE) for c in comparisons[2:])
    shown = conclusion(comparisons, POLICY, WIDE)
    assert "helps up to 32 images per domain and stops helping at 64" in shown and "within ±0.5" in shown
    # the same data, a margin the intervals cannot fit in: silence, not absence
    silent = conclusion(comparisons, POLICY, NARROW)
    assert "stops helping" not in silent
    assert "from 64 on it was not shown to help" in silent and "not evidence that it stops" in silent
    assert "could detect a gain of" in silent
    assert "not shown different at this size; could detect" in verdict_line(comparisons[2], "fid", NARROW)
    assert "equivalent: within ±0.5 fid (TOST)" in verdict_line(comparisons[2], "fid", WIDE)
    assert "per-comparison interval" in verdict_line(comparisons[2], "fid", WIDE)


def test_never_helped_needs_equivalence_and_still_helps_and_worse_is_named():
    never = compare_by_size(rows({16: 0.0, 32: -1.0}), "value", "min")
    text = conclusion(never, POLICY, WIDE)
    assert "never helped" not in text  # 32 is worse, not equivalent: no absence claimed
    assert "not shown to help at any size measured" in text and "worse beyond noise at 32 images" in text
    flat = compare_by_size(rows({16: 0.0, 32: 0.0}), "value", "min")
    assert "never helped: equivalent to no augmentation within ±0.5" in conclusion(flat, POLICY, WIDE)
    assert "never helped" not in conclusion(flat, POLICY, NARROW)
    always = compare_by_size(rows({16: 1.0, 32: 1.0}), "value", "min")
    assert "still helps at the largest size measured (32" in conclusion(always, POLICY, WIDE)


def test_the_default_margin_is_one_seed_sigma_pooled_over_the_arms():
    data = rows({16: 1.0, 32: 0.0})
    margin = page_margin(data, "value")
    # every arm's spread: noise 0, 0.3, -0.3 (+0.01 x seed on the augmented arms) -> sigma about 0.3
    assert 0.25 < margin.value < 0.35 and "one seed-to-seed σ" in margin.source
    assert page_margin(data, "value", 0.7).value == 0.7
    assert math.isnan(page_margin(rows({16: 1.0, 32: 0.0}, seeds=1), "value").value)  # one seed: no σ, no margin


def test_a_size_with_fewer_than_three_shared_seeds_gets_no_verdict():
    data = rows({16: 1.0, 32: 1.0})
    data = data[~((data.train_images == 32) & (data.seed == 2) & (data.diffaugment == POLICY))]
    comparisons = compare_by_size(data, "value", "min")
    assert comparisons[1].seeds == 2 and comparisons[1].comparison.verdict == "not enough seeds"
    assert "still helps at the largest size measured (16" in conclusion(comparisons, POLICY, WIDE)


def test_only_a_study_varying_both_sizes_and_diffaugment_gets_the_section():
    def table(sizes, policies):
        params = [{"data.train_images": str(n), "train.diffaugment": p} for n in sizes for p in policies]
        return pd.DataFrame({"params": params, "seed": 0, "objective": 1.0})
    assert study_rows(table([8, 16], [""])).empty
    assert study_rows(table([8], ["", POLICY])).empty
    assert study_rows(table([8, 16], [POLICY, "color"])).empty  # nothing to compare against
    assert len(study_rows(table([8, 16], ["", POLICY]))) == 4
