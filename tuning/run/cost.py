"""What a study costs, before it runs: trials x epochs x training images, and a rough GPU-hours figure.

An epoch visits max(|trainA|, |trainB|) images (cyclegan.data). Sizes of the official sets are those of the
published zips; a folder dataset is counted on disk. The GPU-hours figure assumes one modern data-centre
GPU trains the reference ResNet-9 at 256 px, batch 1, fp32, at about 8 images/s, scaled by the pixels of
the crop; it is a planning figure (within a factor of two or so), not a measurement of this machine.
"""
from __future__ import annotations

from pathlib import Path

from cyclegan.data import list_images
from tuning.results.race_design import budget
from tuning.study.study import Study, grid_cells

TRAIN_IMAGES = {  # max(trainA, trainB) of the official CycleGAN zips
    "vangogh2photo": 6287, "monet2photo": 6287, "cezanne2photo": 6287, "ukiyoe2photo": 6287,
    "horse2zebra": 1334, "apple2orange": 1019, "summer2winter_yosemite": 1231, "maps": 1096,
    "cityscapes": 2975, "facades": 400, "iphone2dslr_flower": 3325,
}
GPU_IMAGES_PER_S_256 = 8.0


def images_per_epoch(cfg) -> int | None:
    """Images an epoch of this engine config visits (None: a folder that is not there yet)."""
    d = cfg.data
    if d.name == "synthetic":
        sizes = d.synthetic_train_size
    elif d.name == "folder":
        root = Path(d.root or "")
        try:
            sizes = max(len(list_images(root / part)) for part in ("trainA", "trainB"))
        except Exception:  # not there yet: the launch will say so
            return None
    else:
        sizes = TRAIN_IMAGES.get(d.name)
        if sizes is None:
            return None
    if d.max_images:
        sizes = min(sizes, d.max_images)
    return min(sizes, d.train_images) if d.train_images else sizes


def estimate(study: Study) -> str:
    """`4+4 trials x 2 epochs x 64 images, CPU` or `42+12 trials x 200 epochs x 6,287 images ≈ 1,800 GPU-h`
    (search + confirmation trials); a grid whose cells train different budgets (e.g. data_efficiency) gives
    images trained per trial on average."""
    base = study.base_config()
    configs = [study.engine_config(cell) for cell in grid_cells(study)] if study.is_grid else [base]
    sizes = [images_per_epoch(cfg) for cfg in configs]
    if any(size is None for size in sizes):
        return f"{study.num_trials} trials x {base.total_epochs} epochs"
    epochs = {cfg.total_epochs for cfg in configs}
    per_trial = sum(size * cfg.total_epochs for size, cfg in zip(sizes, configs)) / len(configs)
    s = study.launch.study
    confirming = budget(study) if s.confirm_top > 0 else 0  # the race's budget (tuning/search/confirm.py), at most
    trials = study.num_trials + confirming
    total = trials * per_trial
    counted = f"{study.num_trials}+{confirming} trials" if confirming else f"{study.num_trials} trials"
    if len(epochs) == 1:
        head = f"{counted} x {base.total_epochs} epochs x {per_trial / base.total_epochs:,.0f} images"
    else:
        head = f"{counted} x ~{per_trial:,.0f} images trained each"
    if base.eval.backbone == "tiny" and base.data.crop_size <= 64:
        return f"{head}, CPU"
    hours = total / (GPU_IMAGES_PER_S_256 * (256 / base.data.crop_size) ** 2) / 3600
    bound = "at most " if study.launch.study.scheduler == "asha" else ""  # ASHA stops weak trials early
    return f"{head}: {bound}~{hours:,.0f} GPU-h"
