"""`python -m cyclegan.translate checkpoint=... input=DIR output=DIR [direction=b2a] [max_side=1024] [overwrite=true]`

Paints a folder of the user's own photos with a trained generator, keeping the file names. Photos of
any size work: an image whose longer side exceeds `max_side` is first resized (aspect kept) so that a
6000x4000 phone photo does not exhaust memory; sides are padded (reflect) up to the multiple the
generator needs and cropped back afterwards. `direction=b2a` is photo -> painting for the official
painting sets, where domain A holds the paintings. The originals are never written over: an output
folder that is the input or inside it is refused, and existing output files are replaced only with
`overwrite=true`. A photo that cannot be read (or claims more than `max_pixels` pixels) is reported on
one line and skipped; the others are painted, and the command then exits 2.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoint import load_checkpoint
from .cli import run_main
from .config import ModelConfig
from .configtools import UserError, build, parse_overrides
from .keyhelp import describe
from .data import DEFAULT_MAX_PIXELS, load_image, to_float, to_uint8
from .networks import build_generator, generator_size_multiple
from .photos import photos_to_paint
from .trainer import pick_device


@dataclass
class TranslateConfig:
    checkpoint: str = ""
    input: str = ""
    output: str = ""
    direction: Literal["a2b", "b2a"] = "b2a"
    max_side: int = 1024
    max_pixels: int = DEFAULT_MAX_PIXELS   # photos claiming more pixels are skipped as unreadable
    overwrite: bool = False                # replace files already in output (never the inputs themselves)
    device: Literal["auto", "cpu", "cuda"] = "auto"


def load_generator(checkpoint: str | Path, direction: str) -> tuple[torch.nn.Module, ModelConfig]:
    state = load_checkpoint(checkpoint)  # a training checkpoint or a generators file
    model_cfg = build(ModelConfig, state["config"]["model"] if "config" in state else state["model"], "model.")
    net = build_generator(model_cfg)
    name = "G_A" if direction == "a2b" else "G_B"
    try:
        net.load_state_dict(state.get("nets", state)[name])
    except (RuntimeError, KeyError) as exc:
        raise UserError(f"checkpoint {checkpoint} has no usable {name} weights ({str(exc).splitlines()[0][:120]})") from None
    return net.eval(), model_cfg


@torch.inference_mode()
def translate_image(net, image: torch.Tensor, multiple: int) -> torch.Tensor:
    """uint8 (3, H, W) -> uint8 (3, H, W), padding to a multiple of `multiple` and cropping back."""
    _, h, w = image.shape
    ph, pw = -h % multiple, -w % multiple
    x = to_float(image.unsqueeze(0))
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return to_uint8(net(x))[0, :, :h, :w]


def main(args: list[str]) -> None:
    cfg = build(TranslateConfig, parse_overrides(args))
    for key in ("checkpoint", "input", "output"):
        if not getattr(cfg, key):
            raise UserError(f"{key}= is required; usage: python -m cyclegan.translate checkpoint=PATH input=DIR output=DIR")
    if cfg.max_side < 16:
        raise UserError(f"max_side={cfg.max_side} must be at least 16")
    files = photos_to_paint(Path(cfg.input))
    device = pick_device(cfg.device)
    net, model_cfg = load_generator(cfg.checkpoint, cfg.direction)
    out_dir = Path(cfg.output)
    check_output(Path(cfg.input), out_dir, files, cfg.overwrite)
    net.to(device)
    multiple = generator_size_multiple(model_cfg.generator, model_cfg.g_depth)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output={out_dir} ({exc.strerror}); choose a writable folder") from None
    skipped = []
    for path in files:
        try:
            image = load_image(path, max_side=cfg.max_side, max_pixels=cfg.max_pixels)
        except UserError as exc:  # one bad photo must not cost the others their painting
            print(f"skipped: {exc}", file=sys.stderr)
            skipped.append(path.name)
            continue
        h, w = image.shape[1:]
        painted = translate_image(net, image.to(device), multiple).cpu()
        target = out_dir / path.name
        tmp = out_dir / f".{path.name}.tmp"
        Image.fromarray(np.ascontiguousarray(painted.permute(1, 2, 0).numpy())).save(
            tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
        os.replace(tmp, target)
        print(f"{path.name} -> {target} ({w}x{h})")
    print(f"translated {len(files) - len(skipped)} image(s) into {out_dir}")
    if skipped:
        raise UserError(f"{len(skipped)} of {len(files)} photo(s) could not be read and were skipped "
                        f"({', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''}); see the lines above")


def check_output(in_dir: Path, out_dir: Path, files: list[Path], overwrite: bool) -> None:
    """The user's photos are never written over: output may not be input or inside it, and a file that
    already exists in output is replaced only with overwrite=true (checked before any work)."""
    source, target = in_dir.resolve(), out_dir.resolve()
    if target == source or source in target.parents:
        raise UserError(f"output={out_dir} is the input folder or inside it, so the originals could be replaced; "
                        "choose an output folder outside input")
    existing = [p.name for p in files if (out_dir / p.name).exists()]
    if existing and not overwrite:
        raise UserError(f"output={out_dir} already has {len(existing)} file(s) of the same name "
                        f"({', '.join(existing[:3])}{', ...' if len(existing) > 3 else ''}); pass overwrite=true "
                        "to replace them or choose another output folder")


if __name__ == "__main__":
    sys.exit(run_main(main, usage=lambda: __doc__ + "\nkeys:\n" + "\n".join(describe(TranslateConfig))))
