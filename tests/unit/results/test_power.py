"""benchmarks/power.py: the platform's own decision code on simulated studies; its published figures."""
import json
import random
import sys

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from power import grid_spreads, markdown, race_study  # noqa: E402
from tuning.results.race_design import design  # noqa: E402
from tuning.study.loading import load_study  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "power.json"


def test_the_shipped_race_finds_a_real_gain_and_rarely_a_false_one():
    """lambda_sweep's race on 300 simulated studies each way: a 3 σ region is confirmed most of the time,
    nothing is confirmed much beyond the 5 % level when every configuration equals the reference."""
    study, rng, spreads = load_study("lambda_sweep"), random.Random(11), grid_spreads()
    race = design(study)
    real = [race_study(study.num_trials, race, 3.0, spreads, rng) for _ in range(300)]
    null = [race_study(study.num_trials, race, 0.0, spreads, rng) for _ in range(300)]
    assert sum(r[0] for r in real) / 300 > 0.85
    assert sum(r[1] for r in null) / 300 <= 0.05 + 2 * (0.05 * 0.95 / 300) ** 0.5
    assert max(r[2] for r in null) <= race.budget  # never more runs than the budget


@pytest.mark.skipif(not RESULTS.is_file(), reason="benchmarks/results/power.json not present")
def test_the_published_power_figures_are_the_ones_the_results_file_gives():
    result = json.loads(RESULTS.read_text())
    assert len(result["commit"]) == 40 and result["studies"] >= 1000
    assert {"lambda_sweep", "lr_sweep", "loss_ablation", "data_efficiency"} <= set(result["designs"])
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    assert markdown(result) in readme, "benchmarks/README.md is out of date: python benchmarks/power.py --markdown"
