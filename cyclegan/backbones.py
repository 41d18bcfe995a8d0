"""Feature networks for FID/KID: the standard FID Inception (via torchmetrics) or a tiny CPU stand-in.

`inception`: torchmetrics' `NoTrainInceptionV3` (torch-fidelity's port of the 2015-12-05 TensorFlow FID
graph), 2048-d pool features. Resize mode: `tf1-bilinear`, torch-fidelity's TensorFlow-1 compatible
bilinear resize to 299 px without antialiasing, i.e. what the original TF FID code and the published
CycleGAN/pix2pix numbers used (clean-fid's "legacy" mode). The same features feed FID and KID.
Weights come from `eval.inception_weights`, else the torch hub cache, else a one-time download.

`tiny`: a fixed, seeded 3-layer conv net (mean and std pooled, 128-d) at 64 px with plain bilinear
resizing. It runs in milliseconds on a CPU for smoke runs and tests; its numbers are labelled
`backbone=tiny` and mean nothing next to published FIDs.
"""
from __future__ import annotations

import hashlib
import os
import urllib.request
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .configtools import UserError

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


class TinyBackbone(nn.Module):
    name = "tiny"
    resize_mode = "bilinear-64-noantialias"
    num_features = 128

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList([nn.Conv2d(3, 16, 3, 2, 1), nn.Conv2d(16, 32, 3, 2, 1), nn.Conv2d(32, 64, 3, 2, 1)])
        for conv in self.convs:
            fan_in = conv.weight[0].numel()
            conv.weight.data = torch.randn(conv.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5
            conv.bias.data = torch.randn(conv.bias.shape, generator=g) * 0.1
        self.requires_grad_(False).eval()
        self.weights_sha256 = state_hash(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images.float() / 127.5 - 1, size=(64, 64), mode="bilinear", align_corners=False)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


class InceptionBackbone(nn.Module):
    name = "inception"
    resize_mode = "tf1-bilinear"
    num_features = 2048

    def __init__(self, weights: Path, sha256: str):
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3
        self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                      feature_extractor_weights_path=str(weights), antialias=False)
        self.weights_sha256 = sha256

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def state_hash(module: nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in module.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def inception_weights_path(eval_cfg) -> Path:
    """Find the FID Inception weights: the configured path, the torch hub cache, or a one-time download."""
    if eval_cfg.inception_weights:
        path = Path(eval_cfg.inception_weights).expanduser()
        if not path.is_file():
            raise UserError(f"eval.inception_weights={path} does not exist; point it at {INCEPTION_FILE}")
        return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if cached.is_file():
        return cached
    part = cached.with_name(cached.name + f".part{os.getpid()}")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(eval_cfg.inception_url, timeout=30) as response, open(part, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        os.replace(part, cached)
        return cached
    except OSError as exc:
        part.unlink(missing_ok=True)
        reason = str(getattr(exc, "reason", "") or exc).splitlines()[0]
        raise UserError(f"FID Inception weights not found and the download failed ({reason}); put {INCEPTION_FILE} "
                        f"in {cached.parent} or pass eval.inception_weights=PATH (fetch it once from "
                        f"{eval_cfg.inception_url}), or use eval.backbone=tiny for smoke runs") from None


def load_inception(eval_cfg) -> InceptionBackbone:
    path = inception_weights_path(eval_cfg)
    digest = file_sha256(path)
    if eval_cfg.inception_sha256 and not digest.startswith(eval_cfg.inception_sha256):
        raise UserError(f"{path} has sha256 {digest[:16]}..., not the expected {eval_cfg.inception_sha256}...; "
                        f"replace it with the real {INCEPTION_FILE}, or set eval.inception_sha256='' to accept it")
    try:  # refuse pickled code before torch-fidelity loads the file (it loads with weights_only=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"{path} is not a plain weights file ({type(exc).__name__}); refusing to load it; "
                        f"replace it with {INCEPTION_FILE}") from None
    try:
        return InceptionBackbone(path, digest)
    except RuntimeError as exc:
        raise UserError(f"{path} does not hold FID Inception weights ({str(exc).splitlines()[0][:120]}); "
                        f"replace it with {INCEPTION_FILE}") from None


def build_backbone(eval_cfg, device: torch.device) -> nn.Module:
    net = TinyBackbone() if eval_cfg.backbone == "tiny" else load_inception(eval_cfg)
    return net.to(device)
