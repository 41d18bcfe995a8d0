"""benchmarks/race_frontier.py: every race design tried against the ceiling of a race that knows each seed SD."""
import json
import random
import sys

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import race_frontier  # noqa: E402
from power import grid_spreads  # noqa: E402
from race_frontier import ceiling_study, markdown, platform_study, simulate  # noqa: E402

import tuning.results.race as race_module  # noqa: E402
from tuning.results.race import RaceDesign  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "race_frontier.json"


def test_knowing_each_seed_sd_confirms_more_on_the_same_studies_and_stays_at_its_level():
    """Same simulated studies (same random stream), same looks: the ceiling's z test beats the race's paired t
    at 2 σ, and neither calls a null configuration better much beyond 5 %."""
    race, spreads = RaceDesign(2, 3, 2, 21), grid_spreads()
    found = {}
    for name, study in (("race", platform_study), ("ceiling", ceiling_study)):
        rng = random.Random(3)
        found[name] = sum(study(race, 2.0, spreads, rng)[0] for _ in range(300)) / 300
        rng = random.Random(4)
        null = [study(race, 0.0, spreads, rng) for _ in range(300)]
        assert sum(r[1] for r in null) / 300 <= 0.05 + 2 * (0.05 * 0.95 / 300) ** 0.5
        assert max(r[2] for r in null) <= race.budget
    assert found["ceiling"] > found["race"] + 0.1


def test_a_design_with_its_own_drop_rule_leaves_the_shipped_one_in_place():
    shipped = race_module.DROP_T
    d = {"candidates": 2, "first": 3, "step": 3, "seeds": 6, "drop_t": shipped + 0.5}
    simulate(d, "race", 5, 0)
    assert race_module.DROP_T == shipped


@pytest.mark.skipif(not RESULTS.is_file(), reason="benchmarks/results/race_frontier.json not present")
def test_the_published_frontier_is_the_one_the_results_file_gives():
    result = json.loads(RESULTS.read_text())
    assert len(result["commit"]) == 40 and result["studies"] >= 1000 and not result["uncommitted_changes"]
    assert {b["label"] for b in result["best"]} == set(race_frontier.SIMULATE)
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    assert markdown(result) in readme, "benchmarks/README.md is out of date: python benchmarks/race_frontier.py --markdown"
