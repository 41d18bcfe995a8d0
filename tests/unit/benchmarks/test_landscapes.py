"""benchmarks/landscapes.py: the searchers over a family of landscapes; its published figures."""
import json
import math
import sys

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from landscapes import LAMBDA_CYC, LAMBDA_ID, Grid, Smooth, landscapes, markdown, search  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "landscapes.json"
GRID = ROOT / "benchmarks" / "results" / "tuner_check.json"


@pytest.mark.skipif(not GRID.is_file(), reason="benchmarks/results/tuner_check.json not present")
def test_a_relabelled_grid_moves_the_optimum_and_keeps_the_values():
    runs = json.loads(GRID.read_text())["grid"]["data"]
    plain = Grid(runs, LAMBDA_CYC, LAMBDA_ID)
    swapped = Grid(runs, LAMBDA_CYC, (0.0, 5.0, 40.0, 20.0))  # the lambda_id 20 <-> 40 columns swapped
    best = min(plain.means, key=plain.means.get)
    assert best[1] == 40.0 and swapped.means[(best[0], 20.0)] == plain.means[best]
    assert sorted(plain.means.values()) == sorted(swapped.means.values()) and plain.range == swapped.range
    assert plain.regret(best) == 0 and swapped.regret(best) > 0
    assert len(landscapes(runs)) == 24 + 5 + 3  # every column order, every other row order, the smooth bowls


def test_a_smooth_landscape_has_its_optimum_inside_and_searches_find_it():
    bowl = Smooth((3.0, 15.0))
    assert bowl.regret((3.0, 15.0)) == 0 and max(bowl.regret(c) for c in [(1, 0), (30, 40), (1, 40), (30, 0)]) == 1
    random_regret = sum(search(bowl, "random", 32, 3, rep) for rep in range(10)) / 10
    assert 0 <= random_regret < 0.3  # 29 random proposals land far closer to the optimum than the corners
    assert math.isfinite(search(bowl, "tpe_startup_4", 8, 3, 0))


@pytest.mark.skipif(not RESULTS.is_file(), reason="benchmarks/results/landscapes.json not present")
def test_the_published_landscape_figures_are_the_ones_the_results_file_gives():
    result = json.loads(RESULTS.read_text())
    assert len(result["commit"]) == 40 and result["repetitions"] >= 100
    assert result["summary"]["all"]["landscapes"] == 32
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    assert markdown(result) in readme, "benchmarks/README.md is out of date: python benchmarks/landscapes.py --markdown"
