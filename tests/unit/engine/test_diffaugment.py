"""DiffAugment (train.diffaugment): the transforms, and where the trainer applies them.

Why these tests stand for "the augmentation does not leak into what G learns": a leak needs the images a
discriminator calls real to be transformed differently from the ones it calls fake (then G is rewarded
for painting the transform), or the generators / their L1 targets to see transformed images. The trainer
tests below record every batch each network receives in a real training step and check both: every image
D_A and D_B see, real or fake, in the D and the G update, carries the policy's mark; no image G_A or G_B
sees does.
"""
import pytest
import torch

from cyclegan.config import load_config
from cyclegan.configtools import UserError
from cyclegan.diffaugment import DiffAugment, canonical_policy, color, cutout, parse_policy, translation
from cyclegan.trainer import Trainer
from tests.helpers import TINY


def test_policies_parse_in_canonical_order_and_a_misspelling_suggests_the_name():
    assert parse_policy("") == parse_policy("none") == ()
    assert parse_policy("cutout, color") == ("color", "cutout")
    assert canonical_policy("translation,color,cutout,color") == "color,translation,cutout"
    with pytest.raises(UserError, match="did you mean color"):
        parse_policy("colour")
    with pytest.raises(UserError, match="did you mean translation"):
        parse_policy("color,translate")


def test_translation_moves_content_by_whole_pixels_within_an_eighth_and_fills_with_grey():
    x = torch.full((64, 1, 16, 16), -1.0)
    x[:, :, 8, 8] = 1.0  # one white pixel on black
    out = translation(x, torch.Generator().manual_seed(0))
    shifts = set()
    for img in out:
        (ys, xs) = torch.nonzero(img[0] == 1.0, as_tuple=True)
        assert len(ys) == 1  # moved, not blurred
        dy, dx = int(ys[0]) - 8, int(xs[0]) - 8
        assert abs(dy) <= 2 and abs(dx) <= 2  # 16 px / 8
        shifts.add((dy, dx))
        border = (img[0] == 0).sum()  # the uncovered band is mid grey
        assert border == 16 * abs(dy) + 16 * abs(dx) - abs(dy * dx)
    assert len(shifts) > 10  # each image its own draw


def test_cutout_greys_a_square_of_half_the_side_clipped_by_the_edge():
    x = torch.full((200, 3, 16, 16), 0.7)
    out = cutout(x, torch.Generator().manual_seed(1))
    areas = (out == 0).all(1).sum((1, 2))
    assert areas.max() == 64 and areas.min() >= 16  # 8x8, at a corner at least 4x4 of it
    assert ((out == 0) | (out == 0.7)).all()


def test_color_changes_brightness_saturation_and_contrast_per_image():
    x = torch.rand(32, 3, 8, 8) * 2 - 1
    out = color(x, torch.Generator().manual_seed(2))
    assert not torch.allclose(out, x)
    brightness = (out - x).mean((1, 2, 3))
    assert brightness.std() > 0.1  # per-image draws


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_every_policy_passes_gradients_back_to_the_generator_output(policy):
    fake = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = DiffAugment(policy, seed=0)(fake)
    out.square().sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    if policy == "cutout":  # pixels cut out get no gradient (with color, the image mean still reaches them)
        assert (fake.grad == 0).any()


def test_draws_come_from_the_runs_own_seeded_stream_and_restore_exactly():
    x = torch.rand(4, 3, 16, 16)
    a, b = DiffAugment("color,translation,cutout", seed=3), DiffAugment("color,translation,cutout", seed=3)
    assert torch.equal(a(x), b(x))
    state = a.state_dict()
    first = a(x)
    a.load_state_dict(state)
    assert torch.equal(a(x), first)
    assert not torch.equal(DiffAugment("color,translation,cutout", seed=4)(x), b(x))
    before = torch.get_rng_state()
    a(x)
    assert torch.equal(torch.get_rng_state(), before)  # turning it on changes no other draw of the run


def cut_out(batch: torch.Tensor) -> list[bool]:
    """For each image: does it hold an all-channel exact-zero area of >= 16 pixels (a cutout mark)?
    Real images come from uint8 ((v / 127.5) - 1 is never 0) and fakes from tanh, so nothing else does."""
    return [bool((img == 0).all(0).sum() >= 16) for img in batch.detach().float()]


def record_inputs(trainer):
    seen = {name: [] for name in trainer.nets}
    for name, net in trainer.nets.items():
        net.register_forward_pre_hook(lambda module, args, name=name: seen[name].append(args[0].detach().clone()))
    return seen


@pytest.mark.parametrize("norm", ["instance", "batch"])  # one shared pass, and one pass per input
def test_both_discriminators_see_real_and_fake_through_the_same_policy_and_generators_see_none(tmp_path, norm):
    cfg = load_config(TINY + [f"train.out_dir={tmp_path}", "train.diffaugment=cutout", f"model.norm={norm}"])
    trainer = Trainer(cfg, log=lambda *a: None, progress=False)
    seen = record_inputs(trainer)
    real_a, real_b = next(trainer.data.batches(1, 4, cfg.data.crop_size, 0))
    trainer.train_step(real_a, real_b)
    for d in ("D_A", "D_B"):
        images = torch.cat(seen[d])
        # G update: the fake; D update: the real and the pooled fake (4 + 4 + 4 images)
        assert len(images) == 12 and all(cut_out(images)), d
    for g in ("G_A", "G_B"):
        assert seen[g] and not any(cut_out(torch.cat(seen[g]))), g


def test_without_diffaugment_discriminators_see_the_plain_images(tmp_path):
    trainer = Trainer(load_config(TINY + [f"train.out_dir={tmp_path}"]), log=lambda *a: None, progress=False)
    assert not trainer.augment
    seen = record_inputs(trainer)
    real_a, real_b = next(trainer.data.batches(1, 4, 32, 0))
    trainer.train_step(real_a, real_b)
    assert not any(cut_out(torch.cat(seen["D_A"])))
    assert torch.equal(seen["D_A"][-1][:4], real_a)  # the D update's real half is the batch itself
