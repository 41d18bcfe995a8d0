import pytest
import torch

from cyclegan.image_pool import ImagePool
from cyclegan.trainer import lr_factor


def reference_lambda_rule(epoch_index, n_epochs, n_epochs_decay, epoch_count=1):
    """The reference's `lambda_rule`, evaluated at the scheduler's 0-based epoch index."""
    return 1.0 - max(0, epoch_index + epoch_count - n_epochs) / float(n_epochs_decay + 1)


def test_lr_schedule_matches_the_reference_formula():
    # Epoch e (1-based) trains at the rate the reference scheduler has after e - 1 steps.
    for e in range(1, 201):
        assert lr_factor(e, 100, 100) == reference_lambda_rule(e - 1, 100, 100)
    assert lr_factor(100, 100, 100) == 1.0
    assert lr_factor(101, 100, 100) == 1 - 1 / 101
    assert lr_factor(200, 100, 100) == pytest.approx(1 / 101)
    assert lr_factor(2, 2, 0) == 1.0  # no decay: constant to the end


def test_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(3, seed=0)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as given
    returned_old = 0
    for i in range(200):
        new = torch.full((1, 1, 1, 1), 100.0 + i)
        out = pool.query(new)
        returned_old += int(out.item() != new.item())
        assert len(pool.images) == 3
    assert 70 < returned_old < 130  # p = 0.5


def test_pool_size_zero_is_a_pass_through_and_state_restores():
    assert ImagePool(0).query(torch.ones(2, 1, 1, 1)).shape == (2, 1, 1, 1)
    a = ImagePool(2, seed=5)
    for i in range(4):
        a.query(torch.full((1, 1, 1, 1), float(i)))
    b = ImagePool(2, seed=99)
    b.load_state_dict(a.state_dict())
    stream = [torch.full((1, 1, 1, 1), float(10 + i)) for i in range(20)]
    assert all(torch.equal(a.query(x), b.query(x)) for x in stream)
