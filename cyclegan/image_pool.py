"""History of generated images for the discriminators (Shrivastava et al. 2017; CycleGAN §4).

Reference semantics (`util/image_pool.py`): until the pool holds `size` images every new image is
stored and returned; after that, each new image is, with probability 1/2, swapped for a random stored
one (the stored one is returned, the new one takes its place), otherwise returned as is. Size 0 returns
the batch unchanged. The pool keeps its own RNG so that a checkpoint can restore it exactly.
"""
from __future__ import annotations

import random

import torch
from torch import Tensor


class ImagePool:
    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: list[Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                index = self.rng.randint(0, self.size - 1)
                out.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        stacked = torch.cat(self.images, 0).cpu() if self.images else torch.empty(0)
        return {"size": self.size, "images": stacked, "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.size = state["size"]
        images = state["images"]
        self.images = [img.unsqueeze(0).to(device) for img in images] if images.numel() else []
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
