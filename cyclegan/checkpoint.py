"""Checkpoints: written atomically, read with `weights_only=True`, refused with one line when unusable.

A checkpoint is a plain dict of tensors, numbers, strings and lists, so `torch.load(weights_only=True)`
reads it and a file carrying pickled code is refused instead of executed. Two kinds: a training
checkpoint (`nets`, `optim`, `pool`, `rng`, `config`, ...) and a generators file (`model`, `G_A`, `G_B`),
the smaller export that studies log and register as a trial's best generators.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import warnings
import zipfile
from pathlib import Path

import torch

from .configtools import UserError

FORMAT = 1
ARCH_KEYS = ("generator", "g_depth", "ngf", "ndf", "d_layers", "norm")


def architecture(model_cfg) -> dict:
    return {key: getattr(model_cfg, key) for key in ARCH_KEYS}


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; check the path (a run keeps it at <train.out_dir>/checkpoints/last.pt)")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing; one line is enough
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = [line for line in str(exc).splitlines() if "WeightsUnpickler error" in line]
        reason = (found[0].split("error:", 1)[1].strip() if found else "not plain tensors")[:160]
        raise UserError(f"checkpoint {path} carries pickled objects that are not plain weights ({reason}); "
                        "refusing to load it: use a checkpoint written by cyclegan.train") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:160]
        raise UserError(f"checkpoint {path} is truncated or corrupt ({reason}); "
                        "use an earlier checkpoint or start fresh") from None
    if not isinstance(state, dict) or "G_A" not in state.get("nets", state):
        raise UserError(f"{path} is not a cyclegan checkpoint (no generator weights); use one written by cyclegan.train")
    return state


def check_architecture(state: dict, model_cfg, path) -> None:
    saved, wanted = state.get("architecture", {}), architecture(model_cfg)
    diff = [f"model.{k}={saved.get(k)!r} (config says {wanted[k]!r})" for k in ARCH_KEYS if saved.get(k) != wanted[k]]
    if diff:
        raise UserError(f"checkpoint {path} is from another architecture: {', '.join(diff)}; "
                        "use the same model settings or another checkpoint")
