"""One noise model per study (tuning/results/noise.py): verdicts use every repeated observation the history holds."""
import random

from tuning.results.noise import NoiseModel
from tuning.results.objective import NoiseFloor, compare


def test_a_verdict_uses_the_pooled_noise_not_the_references_two_degrees_of_freedom():
    rng = random.Random(1)
    reference = [10 + rng.gauss(0, 0.2) for _ in range(3)]
    groups = {("ref",): reference, ("a",): [9 + rng.gauss(0, 0.2) for _ in range(6)],
              ("b",): [11 + rng.gauss(0, 0.2) for _ in range(5)], ("single",): [12.0]}
    model = NoiseModel.of(groups, ("ref",))
    assert model.pooled and model.dof == 2 + 5 + 4 and model.groups == 3   # a one-seed configuration adds nothing
    alone, pooled = NoiseFloor.of(reference), NoiseFloor.of(reference, model=model)
    assert alone.dof == 2 and pooled.dof == 11 and pooled.sigma == model.sigma
    c_alone, c_pooled = compare(9.3, None, alone, "min"), compare(9.3, None, pooled, "min")
    assert c_alone.dof == 2 and c_pooled.dof == 11
    assert c_pooled.half_width < c_alone.half_width  # 11 degrees of freedom: a narrower interval
    assert "11 degrees of freedom" in pooled.describe("fid")


def test_unequal_seed_noise_is_not_pooled():
    rng = random.Random(2)
    groups = {("ref",): [rng.gauss(0, 0.14) for _ in range(3)], ("quiet",): [rng.gauss(0, 0.01) for _ in range(8)],
              ("loud",): [rng.gauss(0, 0.5) for _ in range(8)]}
    model = NoiseModel.of(groups, ("ref",))
    assert not model.pooled and model.dof == 2 and "Bartlett" in model.note
    floor = NoiseFloor.of(groups[("ref",)], model=model)
    assert not floor.uses_model and floor.dof == 2  # the reference's own spread, as without a model


def test_no_repeats_no_model():
    model = NoiseModel.of({("a",): [1.0], ("b",): [2.0]})
    assert model.dof == 0 and not NoiseFloor.of([1.0], model=model).uses_model
