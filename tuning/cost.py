"""What a study costs, before it runs: trials x epochs x training images, and a rough GPU-hours figure.

An epoch visits max(|trainA|, |trainB|) images (cyclegan.data). Sizes of the official sets are those of the
published zips; a folder dataset is counted on disk. The GPU-hours figure assumes one modern data-centre
GPU trains the reference ResNet-9 at 256 px, batch 1, fp32, at about 8 images/s, scaled by the pixels of
the crop; it is a planning figure (within a factor of two or so), not a measurement of this machine.
"""
from __future__ import annotations

from pathlib import Path

from cyclegan.data import list_images

from .study import Study

TRAIN_IMAGES = {  # max(trainA, trainB) of the official CycleGAN zips
    "vangogh2photo": 6287, "monet2photo": 6287, "cezanne2photo": 6287, "ukiyoe2photo": 6287,
    "horse2zebra": 1334, "apple2orange": 1019, "summer2winter_yosemite": 1231, "maps": 1096,
    "cityscapes": 2975, "facades": 400, "iphone2dslr_flower": 3325,
}
GPU_IMAGES_PER_S_256 = 8.0


def train_images(study: Study, data_name: str) -> int | None:
    cfg = study.engine_config({"data.name": data_name}) if data_name != study.base_config().data.name \
        else study.base_config()
    d = cfg.data
    if d.name == "synthetic":
        return d.synthetic_train_size
    if d.name == "folder":
        root = Path(d.root or "")
        try:
            counts = [len(list_images(root / part)) for part in ("trainA", "trainB")]
        except Exception:  # not there yet: the launch will say so
            return None
        sizes = max(counts)
    else:
        sizes = TRAIN_IMAGES.get(d.name)
    if sizes is None:
        return None
    return min(sizes, d.max_images) if d.max_images else sizes


def estimate(study: Study) -> str:
    """`4 trials x 2 epochs x 64 images, CPU` or `42 trials x 200 epochs x 6,287 images ≈ 1,800 GPU-h`."""
    base = study.base_config()
    names = study.search.get("data.name")
    datasets = list(names.choices) if names is not None else [base.data.name]
    sizes = [train_images(study, name) for name in datasets]
    if any(size is None for size in sizes):
        return f"{study.num_trials} trials x {base.total_epochs} epochs"
    per_trial = sum(sizes) / len(sizes)
    total = study.num_trials * base.total_epochs * per_trial
    head = f"{study.num_trials} trials x {base.total_epochs} epochs x {per_trial:,.0f} images"
    if base.eval.backbone == "tiny" and base.data.crop_size <= 64:
        return f"{head}, CPU"
    hours = total / (GPU_IMAGES_PER_S_256 * (256 / base.data.crop_size) ** 2) / 3600
    bound = "at most " if study.launch.study.scheduler == "asha" else ""  # ASHA stops weak trials early
    return f"{head}: {bound}~{hours:,.0f} GPU-h"
