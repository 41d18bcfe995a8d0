"""Unpaired image data: folders in the standard CycleGAN layout, the official sets, and a synthetic set.

Design: images are decoded once at start-up (threads; PIL releases the GIL), resized to
`load_size` x `load_size` (bicubic, the reference's `resize_and_crop`) and kept as uint8 tensors.
Each step then crops and flips on tensors, so there are no worker processes, an unreadable file is
reported before training starts (naming the path), and sampling is exactly reproducible from
`train.seed` and the epoch number, which makes resume exact without saving a data-loader state.
CycleGAN sets are small (at most a few thousand images per domain): 1,000 images at 286 px take
245 MB. Test splits are resized straight to `crop_size` (no crop, no flip, fixed order).
"""
from __future__ import annotations

import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from .configtools import UserError
from .photos import image_files

SPLITS = ("trainA", "trainB", "testA", "testB")


def list_images(folder: Path) -> list[Path]:
    """Image files of a domain folder, sorted by name; hidden files (.DS_Store, ._x.jpg) are ignored."""
    if not folder.is_dir():
        raise UserError(f"missing image folder {folder}; the dataset needs trainA/ trainB/ testA/ testB/")
    files = image_files(folder)
    if not files:
        raise UserError(f"no images in {folder}; put .jpg/.png/.webp files there or fix data.root")
    return files


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB: grayscale, palette, RGBA (alpha dropped), CMYK, 16-bit and float."""
    image = ImageOps.exif_transpose(image)  # photos from phones are stored sideways with an EXIF tag
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 / 65535.0 if array.max() > 255 else 1.0
        image = Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB")


DEFAULT_MAX_PIXELS = 100_000_000
# Our own limit (max_pixels) is checked from the header with a one-line error; PIL's warning between
# 89 and 179 MP would only add a stray stderr line (its hard error above that is still caught below).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def load_image(path: Path, size: int | None = None, max_side: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
    """Decode one image to a uint8 (3, H, W) tensor; an unreadable file raises UserError naming it.

    `size` resizes to size x size (training and test data); `max_side` only shrinks, keeping the
    aspect ratio (user photos of any size, e.g. 6000x4000, in `cyclegan.translate`). An image that
    claims more than `max_pixels` pixels is unreadable: its header is read, its pixels never are (a
    48 KB PNG can claim 20000 x 20000, 1.2 GB decoded).
    """
    try:
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                raise UserError(f"image {path} is {image.width}x{image.height} = {image.width * image.height:,} "
                                f"pixels, over the limit of {max_pixels:,} (data.max_pixels / max_pixels); shrink "
                                "it, raise the limit, or set data.skip_bad_images=true")
            if max_side:
                image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale when it can
            image.load()
            rgb = to_rgb(image)
    except Image.DecompressionBombError as exc:  # PIL refuses headers past ~179 MP before we can look
        raise UserError(f"image {path} claims too many pixels ({str(exc).split(',')[0]}), over data.max_pixels / "
                        f"max_pixels={max_pixels:,}; shrink it or set data.skip_bad_images=true") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot read image {path}: {reason}; remove or replace the file, "
                        "or set data.skip_bad_images=true") from None
    if size is not None:
        rgb = rgb.resize((size, size), Image.BICUBIC)
    elif max_side and max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.BICUBIC)
    return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)


def load_folder(folder: Path, size: int, max_images: int = 0, skip_bad: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Tensor, list[str]]:
    """All images of one domain folder as a uint8 (N, 3, size, size) tensor plus their file names."""
    files = list_images(folder)
    if max_images:
        files = files[:max_images]

    def decode(path):
        try:
            return load_image(path, size, max_pixels=max_pixels)
        except UserError as exc:
            if not skip_bad:
                raise
            return exc

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(decode, files))
    good = [(img, f.name) for img, f in zip(decoded, files) if isinstance(img, Tensor)]
    skipped = len(files) - len(good)
    if skipped:
        print(f"warning: skipped {skipped} unreadable image(s) in {folder}", file=sys.stderr)
    if not good:
        raise UserError(f"no readable images in {folder}; replace the files or fix data.root")
    return torch.stack([g[0] for g in good]), [g[1] for g in good]


@dataclass
class UnpairedData:
    """Train images at load_size, test images at crop_size, all uint8; ground truth for synthetic data."""
    train_a: Tensor
    train_b: Tensor
    test_a: Tensor
    test_b: Tensor
    name: str
    test_a_names: list[str] = field(default_factory=list)
    test_b_names: list[str] = field(default_factory=list)
    truth_a2b: Tensor | None = None   # the true B-domain image of each test A image (synthetic only)
    truth_b2a: Tensor | None = None

    def steps_per_epoch(self, batch_size: int) -> int:
        return -(-max(len(self.train_a), len(self.train_b)) // batch_size)

    def batches(self, epoch: int, batch_size: int, crop_size: int, seed: int):
        """Yield (real_a, real_b) float batches in [-1, 1] for one epoch: unpaired, cropped, flipped.

        As in the reference, an epoch walks max(|A|, |B|) shuffled A indices (modulo |A|) and pairs each
        with a uniformly random B image. The RNG is derived from (seed, epoch) so any epoch can be replayed.
        """
        rng = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        n = max(len(self.train_a), len(self.train_b))
        a_index = torch.randperm(n, generator=rng) % len(self.train_a)
        b_index = torch.randint(len(self.train_b), (n,), generator=rng)
        for start in range(0, n, batch_size):
            a = augment(self.train_a, a_index[start:start + batch_size], crop_size, rng)
            b = augment(self.train_b, b_index[start:start + batch_size], crop_size, rng)
            yield to_float(a), to_float(b)


def place_train_images(data: UnpairedData, device: torch.device, placement: str) -> tuple[UnpairedData, bool]:
    """The data with its uint8 train images on `device` (crop, flip and the float conversion then run there:
    at 100+ images/s the host-side crop and the host-to-device copy of float batches would starve a GPU),
    and whether they were moved. CycleGAN sets fit easily: 1,000 images per domain at 286 px are 245 MB each.
    The crop offsets and flips are still drawn from the CPU generator of (seed, epoch), so the batches are
    the same on any device and a resumed epoch replays exactly."""
    if device.type == "cpu" or placement == "host":
        return data, False
    size = data.train_a.numel() + data.train_b.numel()  # bytes: uint8
    if placement == "auto":
        free, _ = torch.cuda.mem_get_info(device) if device.type == "cuda" else (float("inf"), 0)
        if size > free / 4:
            return data, False
    return replace(data, train_a=data.train_a.to(device), train_b=data.train_b.to(device)), True


def augment(images: Tensor, index: Tensor, crop: int, rng: torch.Generator) -> Tensor:
    """Reference train transform: random crop_size crop of the load_size image, random horizontal flip."""
    size = images.shape[-1]
    out = []
    for i in index.tolist():
        top, left = torch.randint(size - crop + 1, (2,), generator=rng).tolist()
        image = images[i, :, top:top + crop, left:left + crop]
        if torch.rand((), generator=rng) < 0.5:
            image = image.flip(-1)
        out.append(image)
    return torch.stack(out)


def to_float(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [-1, 1] (reference Normalize((0.5,)*3, (0.5,)*3))."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounding as saving a PNG would."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def subset_index(count: int, keep: int, seed: int) -> Tensor:
    """Indices of `keep` of `count` images, in file order: the first `keep` of one seeded permutation, so the
    subset of a smaller run is inside that of a larger one (same seed), and runs of different sizes differ
    only by the images added."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[:keep].sort().values


def cap_train_split(data: UnpairedData, train_images: int, seed: int) -> UnpairedData:
    """`data.train_images`: a nested, seeded subset of each domain's train split; the test split untouched."""
    if not train_images:
        return data
    for domain, images in (("A", data.train_a), ("B", data.train_b)):
        if train_images > len(images):
            raise UserError(f"data.train_images={train_images} but train{domain} of {data.name} has only {len(images)} "
                            f"images; use at most {len(images)}, or 0 for all")
    # one permutation per domain, each from its own seed: |A| and |B| differ
    a = subset_index(len(data.train_a), train_images, seed * 2)
    b = subset_index(len(data.train_b), train_images, seed * 2 + 1)
    return replace(data, train_a=data.train_a[a], train_b=data.train_b[b])


def load_data(cfg) -> UnpairedData:
    """Build the configured dataset (cfg: the full engine Config), its train split capped by data.train_images."""
    return cap_train_split(load_full_data(cfg), cfg.data.train_images, cfg.train.seed)


def load_full_data(cfg) -> UnpairedData:
    d = cfg.data
    if d.name == "synthetic":
        from .synthetic import make_synthetic
        return make_synthetic(d.synthetic_train_size, d.synthetic_test_size, d.load_size, d.crop_size, d.max_images,
                              style=d.synthetic_style)
    if d.name == "folder":
        root = Path(d.root).expanduser()
        if not root.is_dir():
            raise UserError(f"data.root={d.root} does not exist; point it at a folder with trainA/ trainB/ testA/ testB/")
    else:
        from .download import ensure_dataset
        root = ensure_dataset(d.name, d.root, d.url, d.download)
    train_a, _ = load_folder(root / "trainA", d.load_size, d.max_images, d.skip_bad_images, d.max_pixels)
    train_b, _ = load_folder(root / "trainB", d.load_size, d.max_images, d.skip_bad_images, d.max_pixels)
    test_a, names_a = load_folder(root / "testA", d.crop_size, d.max_images, d.skip_bad_images, d.max_pixels)
    test_b, names_b = load_folder(root / "testB", d.crop_size, d.max_images, d.skip_bad_images, d.max_pixels)
    return UnpairedData(train_a, train_b, test_a, test_b, name=d.name if d.name != "folder" else root.name,
                        test_a_names=names_a, test_b_names=names_b)
