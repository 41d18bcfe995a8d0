"""Where DiffAugment stops helping (dashboards/data_efficiency.py), from per-seed values by the paired rule."""
import pandas as pd

from dashboards.data_efficiency import compare_by_size, conclusion, study_rows

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


def test_helps_then_stops():
    comparisons = compare_by_size(rows({16: 1.0, 32: 0.5, 64: 0.0, 128: 0.0}), "value", "min")
    assert [c.comparison.verdict for c in comparisons] == ["better", "better", "indistinguishable", "indistinguishable"]
    assert "helps up to 32 images per domain and stops helping at 64" in conclusion(comparisons, POLICY)


def test_never_helps_and_still_helps_and_worse_is_named():
    never = compare_by_size(rows({16: 0.0, 32: -1.0}), "value", "min")
    text = conclusion(never, POLICY)
    assert "never helped beyond noise" in text and "worse beyond noise at 32 images" in text
    always = compare_by_size(rows({16: 1.0, 32: 1.0}), "value", "min")
    assert "still helps at the largest size measured (32" in conclusion(always, POLICY)


def test_a_size_with_fewer_than_three_shared_seeds_gets_no_verdict():
    data = rows({16: 1.0, 32: 1.0})
    data = data[~((data.train_images == 32) & (data.seed == 2) & (data.diffaugment == POLICY))]
    comparisons = compare_by_size(data, "value", "min")
    assert comparisons[1].seeds == 2 and comparisons[1].comparison.verdict == "not enough seeds"
    assert "still helps at the largest size measured (16" in conclusion(comparisons, POLICY)


def test_only_a_study_varying_both_sizes_and_diffaugment_gets_the_section():
    def table(sizes, policies):
        params = [{"data.train_images": str(n), "train.diffaugment": p} for n in sizes for p in policies]
        return pd.DataFrame({"params": params, "seed": 0, "objective": 1.0})
    assert study_rows(table([8, 16], [""])).empty
    assert study_rows(table([8], ["", POLICY])).empty
    assert study_rows(table([8, 16], [POLICY, "color"])).empty  # nothing to compare against
    assert len(study_rows(table([8, 16], ["", POLICY]))) == 4
