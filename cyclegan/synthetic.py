"""A built-in, deterministic, offline dataset whose true translation is known.

Domain A ("photos"): smooth two-colour gradients with a few soft-edged ellipses and rectangles.
Domain B ("paintings"): `paint(a)` for images drawn like A: a fixed warm colour remap, posterised to
5 levels, with dark outlines where the photo has edges (`data.synthetic_style=subtle`, the default), or
`paint_strong(a)`: a strong warm cast with compressed contrast (`strong`). The strong style is far from
the identity on purpose: the identity loss (G(b) ~ b) pulls the generator towards copying its input,
so on this task the reference lambda_id = 5 is not the best setting, and a tuner that works must find
that out (benchmarks/tuner_check.py). Each channel's map is monotone, so it is identifiable from
unpaired samples (matching colour distributions), unlike a channel permutation.
Train A and train B come from independent random streams (unpaired, as CycleGAN assumes). In the
test split testB[i] = paint(testA[i]), so l1/psnr measure how close G(a) is to the true painting and
F(b) to the true photo. Everything is generated with seeded torch generators: same bytes every time.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .data import UnpairedData, to_uint8

# Rows mix (R, G, B) into the painted channels: a warm, slightly desaturated palette (reds up, blues
# down). It stays close to the identity on purpose: the photos' colours are uniformly random, so a
# far-from-identity recolouring (say, a channel rotation) could not be told apart from its mirror images
# by unpaired training, and "how close to the true painting" would measure luck.
PALETTE = torch.tensor([[0.80, 0.25, 0.05],
                        [0.10, 0.75, 0.10],
                        [0.05, 0.20, 0.60]])
OFFSET = torch.tensor([0.12, 0.02, -0.04]).view(1, 3, 1, 1)
LEVELS = 5


def photos(count: int, size: int, seed: int) -> Tensor:
    """`count` float images in [-1, 1] of shape (3, size, size)."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    out = torch.empty(count, 3, size, size)
    for n in range(count):
        c0, c1 = torch.rand(3, 1, 1, generator=g), torch.rand(3, 1, 1, generator=g)
        angle = torch.rand((), generator=g) * 6.2832
        t = (xs * torch.cos(angle) + ys * torch.sin(angle)).clamp(0, 1)
        image = c0 * (1 - t) + c1 * t
        for _ in range(int(torch.randint(2, 5, (), generator=g))):
            cy, cx, ry, rx = (torch.rand(4, generator=g) * torch.tensor([1, 1, 0.3, 0.3]) + torch.tensor([0, 0, .1, .1]))
            colour = torch.rand(3, 1, 1, generator=g)
            if torch.rand((), generator=g) < 0.5:
                d = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2
            else:
                d = torch.maximum(((ys - cy) / ry).abs(), ((xs - cx) / rx).abs()) ** 2
            mask = torch.sigmoid((1 - d) * 12)  # soft edge, so the images are not aliased at low resolution
            image = image * (1 - mask) + colour * mask
        out[n] = image * 2 - 1
    return out


def paint(images: Tensor) -> Tensor:
    """The true A -> B style function on float images in [-1, 1]."""
    x = (images + 1) / 2
    mixed = (torch.einsum("ij,njhw->nihw", PALETTE, x) + OFFSET).clamp(0, 1)
    poster = torch.round(mixed * (LEVELS - 1)) / (LEVELS - 1)
    gray = x.mean(1, keepdim=True)
    gx = torch.nn.functional.pad(gray[..., :, 1:] - gray[..., :, :-1], (0, 1, 0, 0))
    gy = torch.nn.functional.pad(gray[..., 1:, :] - gray[..., :-1, :], (0, 0, 0, 1))
    edges = ((gx.abs() + gy.abs()) * 6).clamp(0, 1)
    painted = poster * (1 - 0.8 * edges)
    return painted * 2 - 1


# Strong style: per channel out = GAIN * in + CAST (images in [0, 1]): half the contrast, a warm cast.
STRONG_GAIN = torch.tensor([0.55, 0.50, 0.45]).view(1, 3, 1, 1)
STRONG_CAST = torch.tensor([0.42, 0.25, 0.05]).view(1, 3, 1, 1)


def paint_strong(images: Tensor) -> Tensor:
    """The strong A -> B style on float images in [-1, 1]: far from the identity, still monotone per channel."""
    x = (images + 1) / 2
    return (x * STRONG_GAIN + STRONG_CAST).clamp(0, 1) * 2 - 1


def make_synthetic(train_size: int, test_size: int, load_size: int, crop_size: int, max_images: int = 0,
                   style: str = "subtle") -> UnpairedData:
    if max_images:
        train_size, test_size = min(train_size, max_images), min(test_size, max_images)
    style_fn = paint_strong if style == "strong" else paint
    train_a = photos(train_size, load_size, seed=1)
    train_b = style_fn(photos(train_size, load_size, seed=2))  # independent of train_a: unpaired
    test_a = photos(test_size, crop_size, seed=3)
    test_b = style_fn(test_a)
    return UnpairedData(
        train_a=to_uint8(train_a), train_b=to_uint8(train_b), test_a=to_uint8(test_a), test_b=to_uint8(test_b),
        name="synthetic" if style == "subtle" else f"synthetic-{style}", test_a_names=[f"a{i:04d}" for i in range(test_size)],
        test_b_names=[f"b{i:04d}" for i in range(test_size)],
        truth_a2b=to_uint8(test_b), truth_b2a=to_uint8(test_a),
    )
