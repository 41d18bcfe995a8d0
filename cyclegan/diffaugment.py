"""Differentiable Augmentation for both discriminators (Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020), `train.diffaugment`.

With a few hundred paintings, D_A and D_B memorise the training images and their feedback to the
generators stops being about style. Augmenting the real images D sees would help D generalise, but then
the fakes are judged against augmented reals and G learns to paint the augmentation (it "leaks"). DiffAugment
applies the same random transforms to every image a discriminator sees, real and fake, in the
discriminator update *and* in the generator's adversarial term. The transforms are differentiable, so
G's gradient passes through them. The generators never see an augmented image, and neither do the cycle
and identity losses.

Policies, as parameterised in the authors' reference implementation, on images in [-1, 1], each with
its own draw per image:
- `color`: brightness + U(-0.5, 0.5), then saturation (distance from the pixel's channel mean) x U(0, 2),
  then contrast (distance from the image mean) x U(0.5, 1.5).
- `translation`: an integer shift of up to 1/8 of the side in each axis, the uncovered border filled with 0
  (mid grey). 1/8 moves content enough that D cannot match pixels, not so far that the patch D sees is empty.
- `cutout`: one square of half the side, centred anywhere in the image (so it may be clipped by the edge),
  set to 0. Half the side hides a large part of any 70x70 PatchGAN receptive field, so D must judge style
  from what is left, not recall a training image.
Whatever order the user writes, the policies apply in the order color, translation, cutout (the
reference's order). Random parameters are drawn from this object's own CPU generator, seeded from
`train.seed` and saved in checkpoints, so a resumed run draws what an uninterrupted one would, on any device.
"""
from __future__ import annotations

import difflib

import torch
import torch.nn.functional as F
from torch import Tensor

from .configtools import UserError

TRANSLATION_FRACTION = 0.125
CUTOUT_FRACTION = 0.5
POLICIES = ("color", "translation", "cutout")


OFF_SPELLINGS = ("", "none", "off")


def parse_policy(text: str) -> tuple[str, ...]:
    """'translation, color' -> ('color', 'translation'); '' or 'none' -> (); a misspelt name is a UserError."""
    if str(text or "").strip().lower() in OFF_SPELLINGS:
        return ()
    names = [p.strip() for p in str(text).split(",") if p.strip()]
    for name in names:
        if name not in POLICIES:
            close = difflib.get_close_matches(name, POLICIES, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]}?" if close else "use a comma list of " + ", ".join(POLICIES)
            raise UserError(f"train.diffaugment: unknown policy {name!r}; {hint} (or none)")
    return tuple(p for p in POLICIES if p in names)


def canonical_policy(text: str) -> str:
    return ",".join(parse_policy(text))


def _uniform(rng: torch.Generator, n: int, low: float, high: float, like: Tensor) -> Tensor:
    """n draws of U(low, high) shaped (n, 1, 1, 1), drawn on the CPU then moved next to `like`."""
    return (torch.rand(n, 1, 1, 1, generator=rng) * (high - low) + low).to(like.device, like.dtype)


def color(x: Tensor, rng: torch.Generator) -> Tensor:
    n = x.shape[0]
    x = x + _uniform(rng, n, -0.5, 0.5, x)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(rng, n, 0.0, 2.0, x) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(rng, n, 0.5, 1.5, x) + mean


def translation(x: Tensor, rng: torch.Generator) -> Tensor:
    n, c, h, w = x.shape
    sy, sx = max(1, round(h * TRANSLATION_FRACTION)), max(1, round(w * TRANSLATION_FRACTION))
    dy = torch.randint(-sy, sy + 1, (n,), generator=rng).to(x.device)
    dx = torch.randint(-sx, sx + 1, (n,), generator=rng).to(x.device)
    padded = F.pad(x, [sx, sx, sy, sy])  # zeros: mid grey in [-1, 1]
    # output pixel (i, j) reads padded (i + sy - dy, j + sx - dx): content moves by (dy, dx)
    rows = (torch.arange(h, device=x.device) + sy - dy[:, None]).view(n, 1, h, 1).expand(n, c, h, w + 2 * sx)
    cols = (torch.arange(w, device=x.device) + sx - dx[:, None]).view(n, 1, 1, w).expand(n, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def cutout(x: Tensor, rng: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    size_y, size_x = max(1, round(h * CUTOUT_FRACTION)), max(1, round(w * CUTOUT_FRACTION))
    cy = torch.randint(0, h, (n,), generator=rng).to(x.device)
    cx = torch.randint(0, w, (n,), generator=rng).to(x.device)
    top, left = cy - size_y // 2, cx - size_x // 2
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    inside_y = (ys[None] >= top[:, None]) & (ys[None] < top[:, None] + size_y)      # (n, h)
    inside_x = (xs[None] >= left[:, None]) & (xs[None] < left[:, None] + size_x)    # (n, w)
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
    return x * keep[:, None].to(x.dtype)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


class DiffAugment:
    """`augment(x)`: the policy's transforms on a batch, each image its own draw; the identity when off."""

    def __init__(self, policy: str, seed: int):
        self.policies = parse_policy(policy)
        # its own stream: turning DiffAugment on changes no other random draw of the run
        self.rng = torch.Generator().manual_seed(seed * 1_000_033 + 0xD1FF)

    def __bool__(self) -> bool:
        return bool(self.policies)

    def __call__(self, x: Tensor) -> Tensor:
        for name in self.policies:
            x = TRANSFORMS[name](x, self.rng)
        return x

    def pair(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """The real and the fake batch a discriminator compares, through the same policy in one call."""
        if not self.policies:
            return real, fake
        both = self(torch.cat([real, fake]))
        return both[:len(real)], both[len(real):]

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
