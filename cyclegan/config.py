"""The engine's configuration (SPEC §2): defaults here <- a YAML file <- `key=value` on the command line.

Every key is a typed field; `Literal[...]` fields list their choices. `load_config` rejects unknown keys,
wrong types, disallowed values and impossible combinations with one `UserError` line before any work.
The resolved config is saved with every run as `config.yaml`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional
from urllib.parse import urlsplit

from .configtools import UserError, build, flatten, load_yaml, merge, parse_overrides, require, to_dict

DatasetName = Literal[
    "synthetic", "folder", "apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo",
    "cezanne2photo", "ukiyoe2photo", "vangogh2photo", "maps", "cityscapes", "facades", "iphone2dslr_flower",
]


def default_cache_dir() -> str:
    return os.environ.get("CATHOLIC2GOGH_CACHE", str(Path.home() / ".cache" / "catholic2gogh"))


@dataclass
class DataConfig:
    name: DatasetName = "synthetic"
    root: Optional[str] = None          # folder with trainA/ trainB/ testA/ testB/; for named sets, the cache
    load_size: int = 286                # resize to load_size x load_size (reference resize_and_crop) ...
    crop_size: int = 256                # ... then a random crop_size crop and a random horizontal flip
    max_images: int = 0                 # cap per domain and split, test split too (0 = all): quick runs
    train_images: int = 0               # cap the train split of each domain only (0 = all): a seeded subset
                                        # (from train.seed), nested (the 32 images of a 32-image run are among
                                        # the 64 of a 64-image run); the test split, and so FID, is unchanged
    skip_bad_images: bool = False       # warn and skip unreadable images instead of stopping with exit 2
    max_pixels: int = 100_000_000       # larger images are unreadable (a 48 KB PNG can claim 20000x20000)
    url: str = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets"  # base URL of the official zips
    download: bool = True               # allow a one-time download of a named dataset into the cache
    synthetic_train_size: int = 256     # images per domain in the synthetic train split
    synthetic_test_size: int = 64
    synthetic_style: Literal["subtle", "strong"] = "subtle"  # the true painting: near-identity, or a strong
                                        # colour cast that identity loss fights (see cyclegan/synthetic.py)
    placement: Literal["auto", "device", "host"] = "auto"  # where the uint8 train images live and are cropped:
                                        # auto = on the GPU when they take <= 1/4 of its free memory


@dataclass
class ModelConfig:
    generator: Literal["resnet", "unet", "unet_keras"] = "resnet"
    g_depth: int = 9                    # resnet: residual blocks; unet: down-samplings; unet_keras: levels
    ngf: int = 64
    ndf: int = 64
    d_layers: int = 3                   # PatchGAN strided layers; 3 = the 70x70 reference
    norm: Literal["instance", "batch", "none"] = "instance"


@dataclass
class LossConfig:
    gan_mode: Literal["lsgan", "vanilla", "hinge", "wgangp"] = "lsgan"
    lambda_gan: float = 1.0             # 0 = no adversarial term ("cycle only" ablation); D is not trained
    lambda_cyc: float = 10.0            # weight of each cycle L1 term (Eqn. 2)
    lambda_cyc_a: Optional[float] = None  # forward cycle |F(G(a)) - a| alone (None: follow lambda_cyc)
    lambda_cyc_b: Optional[float] = None  # backward cycle |G(F(b)) - b| alone (None: follow lambda_cyc)
    lambda_id: float = 5.0              # absolute weight of each identity L1 term = reference 0.5 * 10
    lambda_gp: float = 10.0             # gradient penalty weight, wgangp only, relative to the critic term

    @property
    def cyc_a(self) -> float:
        """Effective weight of the forward cycle term A -> B -> A."""
        return self.lambda_cyc if self.lambda_cyc_a is None else self.lambda_cyc_a

    @property
    def cyc_b(self) -> float:
        """Effective weight of the backward cycle term B -> A -> B."""
        return self.lambda_cyc if self.lambda_cyc_b is None else self.lambda_cyc_b


@dataclass
class OptimConfig:
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


@dataclass
class TrainConfig:
    epochs: int = 100                   # epochs at constant learning rate ...
    decay_epochs: int = 100             # ... then linear decay to zero over this many
    batch_size: int = 1
    pool_size: int = 50                 # image pool of generated images for D (0 disables)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = False                   # bf16 autocast (CUDA, or a CPU with AMX / AVX-512 BF16); eval stays fp32
    channels_last: bool = False
    compile: bool = False               # torch.compile the four networks
    out_dir: str = "runs/cyclegan"
    checkpoint_every: int = 1           # epochs between checkpoints (the final epoch always writes one)
    threads: int = 0                    # CPU threads for torch (0 = the cores not busy with other work)
    diffaugment: str = ""               # DiffAugment for both discriminators: a comma list of color,
                                        # translation, cutout ("" or none = off); see cyclegan/diffaugment.py


@dataclass
class EvalConfig:
    every: int = 1                      # evaluate every N epochs (and always after the last); 0 = never
    backbone: Literal["inception", "tiny"] = "inception"
    inception_weights: Optional[str] = None   # path to weights-inception-2015-12-05-6726825d.pth
    inception_sha256: str = "6726825d"  # expected sha256 prefix of the weights ("" accepts any, recorded)
    inception_url: str = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                          "weights-inception-2015-12-05-6726825d.pth")
    num_images: int = 0                 # test images per domain to evaluate (0 = the whole test split)
    kid_subset_size: int = 1000         # capped at the smallest set, so 58-image test sets work
    kid_subsets: int = 100
    grid_images: int = 4                # test images per direction in the sample grids
    se_groups: int = 20                 # jackknife groups for the FID standard errors (0 = no *_se metrics)
    batch_size: int = 16
    cache_dir: Optional[str] = None     # real-statistics cache (default: $CATHOLIC2GOGH_CACHE/real_stats)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    resume: bool = False                # continue from train.out_dir/checkpoints/last.pt

    def validate(self) -> "Config":
        """Cross-field checks: everything a run would otherwise discover minutes in."""
        from .diffaugment import canonical_policy
        from .networks import check_discriminator_fits, check_generator_fits

        d, m, lo, o, t, e = self.data, self.model, self.loss, self.optim, self.train, self.eval
        require(d.name != "folder" or bool(d.root), "data.root is required for data.name=folder; "
                "point it at a folder with trainA/ trainB/ testA/ testB/")
        for key, value in [("data.load_size", d.load_size), ("data.crop_size", d.crop_size),
                           ("model.ngf", m.ngf), ("model.ndf", m.ndf), ("model.g_depth", m.g_depth),
                           ("model.d_layers", m.d_layers), ("train.batch_size", t.batch_size),
                           ("train.checkpoint_every", t.checkpoint_every), ("eval.batch_size", e.batch_size),
                           ("eval.kid_subsets", e.kid_subsets), ("eval.kid_subset_size", e.kid_subset_size),
                           ("data.synthetic_train_size", d.synthetic_train_size), ("data.max_pixels", d.max_pixels),
                           ("data.synthetic_test_size", d.synthetic_test_size)]:
            require(value >= 1, f"{key}={value} must be at least 1")
        for key, value in [("data.max_images", d.max_images), ("data.train_images", d.train_images),
                           ("train.epochs", t.epochs),
                           ("train.decay_epochs", t.decay_epochs), ("train.pool_size", t.pool_size),
                           ("train.seed", t.seed), ("train.threads", t.threads), ("eval.every", e.every),
                           ("eval.num_images", e.num_images), ("eval.grid_images", e.grid_images),
                           ("eval.se_groups", e.se_groups)]:
            require(value >= 0, f"{key}={value} must not be negative")
        require(t.epochs + t.decay_epochs >= 1, "train.epochs + train.decay_epochs must be at least 1")
        # numpy's generator takes seeds below 2**32; a study adds repeat and confirmation offsets (< 2**20) to it
        require(t.seed < 2**31, f"train.seed={t.seed} must be below 2**31 (the seed generators' range)")
        require(d.crop_size <= d.load_size, f"data.crop_size={d.crop_size} is larger than data.load_size="
                f"{d.load_size}; set data.load_size >= data.crop_size")
        for key in ("lambda_gan", "lambda_cyc", "lambda_cyc_a", "lambda_cyc_b", "lambda_id", "lambda_gp"):
            value = getattr(lo, key)
            require(value is None or value >= 0, f"loss.{key}={value} must be >= 0 (0 switches the term off)")
            # a weight past 1e6 is a typo or a tampered record, never a setting: the loss overflows float32
            require(value is None or value <= 1e6, f"loss.{key}={value} must be at most 1e6")
        require(lo.lambda_gan + lo.cyc_a + lo.cyc_b + lo.lambda_id > 0,
                "loss.lambda_gan, the cycle weights and loss.lambda_id are all 0: nothing to train; set one > 0")
        require(not (t.compile and lo.gan_mode == "wgangp" and lo.lambda_gan > 0 and lo.lambda_gp > 0),
                "train.compile=true cannot train loss.gan_mode=wgangp: its gradient penalty needs a double "
                "backward, which torch.compile does not support; set train.compile=false or loss.lambda_gp=0")
        for key in ("lr_g", "lr_d"):
            value = getattr(o, key)
            require(value > 0, f"optim.{key}={value} must be > 0")
        for key in ("beta1", "beta2"):
            value = getattr(o, key)
            require(0 <= value < 1, f"optim.{key}={value} must be in [0, 1)")
        for key, url in (("data.url", d.url), ("eval.inception_url", e.inception_url)):
            # stored in config.yaml, MLflow params and every trial's config: a password there leaks
            require(not urlsplit(url or "").password, f"{key} carries a password, which would be stored with every "
                    "run (config.yaml, MLflow params); put the files where they can be read without one, or download "
                    "them yourself (data.root / eval.inception_weights)")
        t.diffaugment = canonical_policy(t.diffaugment)  # 'cutout, color' -> 'color,cutout': one spelling per cell
        check_generator_fits(m.generator, m.g_depth, d.crop_size)
        check_discriminator_fits(m.d_layers, d.crop_size)
        return self

    @property
    def total_epochs(self) -> int:
        return self.train.epochs + self.train.decay_epochs

    def effective(self) -> dict:
        """The flat config as training reads it: cycle weights resolved, and keys this run never reads
        set to None (without an adversarial term: gan_mode, lambda_gp, the discriminators and their
        optimiser; lambda_gp outside wgangp; where the run writes). Two configs with the same
        `effective()` train the same model: a study refuses such duplicate cells."""
        flat = flatten(to_dict(self))
        lo = self.loss
        flat.update({"loss.lambda_cyc": None, "loss.lambda_cyc_a": lo.cyc_a, "loss.lambda_cyc_b": lo.cyc_b,
                     "train.out_dir": None, "resume": None})
        if lo.lambda_gan == 0 or lo.gan_mode != "wgangp":
            flat["loss.lambda_gp"] = None
        if lo.lambda_gan == 0:
            for key in ("loss.gan_mode", "model.ndf", "model.d_layers", "optim.lr_d", "train.pool_size",
                        "train.diffaugment"):
                flat[key] = None
        return flat


def load_config(overrides: list[str] = (), yaml_path: str | Path | None = None, base: dict | None = None) -> Config:
    """Defaults <- `base` (e.g. a study's engine keys) <- YAML file <- overrides; validated."""
    overrides = list(overrides)
    config_args = [o for o in overrides if o.startswith("config=")]
    overrides = [o for o in overrides if not o.startswith("config=")]
    if config_args:
        yaml_path = config_args[-1].split("=", 1)[1]
    trees = [to_dict(Config()), base or {}]
    if yaml_path:
        trees.append(load_yaml(yaml_path))
    trees.append(parse_overrides(overrides))
    return build(Config, merge(*trees)).validate()


def config_from_dict(tree: dict) -> Config:
    """Rebuild a saved config (e.g. from a checkpoint), validating it like user input."""
    return build(Config, merge(to_dict(Config()), tree)).validate()


__all__ = ["Config", "DataConfig", "ModelConfig", "LossConfig", "OptimConfig", "TrainConfig", "EvalConfig",
           "load_config", "config_from_dict", "UserError", "default_cache_dir"]
