"""Generators and discriminators (Zhu et al. 2017, appendix 7.2; the reference `models/networks.py`).

Which net is which: G_A = G: A -> B (X -> Y in the paper), G_B = F: B -> A. D_A judges images of
domain A (the paper's D_X, real a vs F(b)), D_B judges domain B (D_Y, real b vs G(a)). The reference
code names its discriminators the other way round (its netD_A judges fake B); ours are named by the
domain they judge.

With ngf=ndf=64 and instance norm the parameter counts equal the reference's exactly (tests assert it):
resnet 9 blocks 11,378,179; resnet 6 blocks 7,837,699; unet_128 (7 downs) 41,825,667;
unet_256 (8 downs) 54,409,603; PatchGAN 70x70 (3 layers) 2,764,737.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from .configtools import UserError


class InstanceNorm2d(nn.InstanceNorm2d):
    """Instance norm (Ulyanov et al. 2016): each image's channel normalised over H x W, biased variance.

    On the CPU it runs as a group norm with one channel per group: the same numbers (within 1e-6;
    tests assert the outputs and gradients), but `instance_norm` runs batch norm on a reshaped view and
    the in-place ReLU after it then pays a copy in the backward; at ResNet-9 / 128 px the step takes
    0.95x the time (benchmarks/README.md, "The CPU step beside the reference"). Elsewhere (CUDA) it stays PyTorch's instance norm
    until a GPU measurement says otherwise (`python benchmarks/norm_kernels.py --device cuda`, also a
    line of benchmarks/gpu_speed.py). Same parameters and state dict as `nn.InstanceNorm2d`."""

    group_norm_devices = frozenset({"cpu"})  # device types where the group-norm kernel was measured faster

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Under torch.compile the CPU group norm in bf16 autocast gives NaN within a few steps (inductor's
        # decomposition; torch 2.14.1, a Xeon with AVX-512 BF16): compiled graphs keep instance_norm, which
        # inductor fuses anyway. Eager runs, which the measured speed-up is for, are unchanged.
        if (x.device.type not in self.group_norm_devices or self.track_running_stats or x.dim() != 4
                or torch.compiler.is_compiling()):
            return super().forward(x)
        return nn.functional.group_norm(x, self.num_features, self.weight, self.bias, self.eps)


def norm_layer(kind: str, *, affine_instance: bool = False):
    """Reference `get_norm_layer`: batch norm is affine with running stats; instance norm is not."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(InstanceNorm2d, affine=affine_instance, track_running_stats=False)
    return lambda channels: nn.Identity()


def conv_bias(kind: str) -> bool:
    """A conv followed by batch norm needs no bias (the norm's shift replaces it).

    The reference also drops the bias when norm is `none`, leaving those convs without any shift;
    we keep it there (this only changes norm=none).
    """
    return kind != "batch"


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str):
        super().__init__()
        Norm, bias = norm_layer(norm), conv_bias(norm)
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), Norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), Norm(dim),
        )

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-64, d128, d256, `n_blocks` x R256, u128, u64, c7s1-3 (paper appendix 7.2)."""

    def __init__(self, n_blocks: int, ngf: int = 64, norm: str = "instance", channels: int = 3):
        super().__init__()
        Norm, bias = norm_layer(norm), conv_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7, bias=bias), Norm(ngf), nn.ReLU(True)]
        for i in range(2):  # two stride-2 down-samplings
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), Norm(2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm) for _ in range(n_blocks)]
        for i in range(2):  # two fractionally strided up-samplings
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       Norm(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class UnetSkipBlock(nn.Module):
    """One U-Net level: down -> `inner` -> up, output concatenated with the input (reference block)."""

    def __init__(self, outer: int, inner: int, norm: str, submodule: nn.Module | None = None,
                 in_channels: int | None = None, outermost: bool = False):
        super().__init__()
        Norm, bias = norm_layer(norm), conv_bias(norm)
        self.outermost = outermost
        in_channels = outer if in_channels is None else in_channels
        down_conv = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif submodule is None:  # innermost
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up, Norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, Norm(inner), submodule, nn.ReLU(True), up, Norm(outer)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """Reference U-Net with `num_downs` down-samplings (7 = unet_128, 8 = unet_256); CycleGAN uses no dropout."""

    def __init__(self, num_downs: int, ngf: int = 64, norm: str = "instance", channels: int = 3):
        super().__init__()
        block = UnetSkipBlock(ngf * 8, ngf * 8, norm)  # innermost
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, norm, block)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, norm, block)
        self.model = UnetSkipBlock(channels, ngf, norm, block, in_channels=channels, outermost=True)

    def forward(self, x):
        return self.model(x)


class SamePadConv(nn.Sequential):
    """Keras `Conv2D(kernel 4, padding='same')`: TensorFlow pads the odd remainder at the bottom/right."""

    def __init__(self, cin: int, cout: int, stride: int):
        total = 4 - stride  # for even inputs: (out - 1) * stride + 4 - in
        super().__init__(nn.ZeroPad2d((total // 2, total - total // 2, total // 2, total - total // 2)),
                         nn.Conv2d(cin, cout, 4, stride=stride))


class KerasUnetGenerator(nn.Module):
    """The seed project's Keras U-Net (as in eriklindernoren/Keras-GAN's CycleGAN), with `levels` levels.

    down i: conv 4x4/2 'same' -> LeakyReLU(0.2) -> InstanceNorm, gf * 2**i filters;
    up j:   upsample x2 -> conv 4x4/1 'same' -> ReLU -> InstanceNorm -> concat skip;
    out:    upsample x2 -> conv 4x4/1 'same' -> tanh.
    keras-contrib's InstanceNormalization has a learned scale and shift, so ours is affine here.
    """

    def __init__(self, levels: int, ngf: int = 32, norm: str = "instance", channels: int = 3):
        super().__init__()
        Norm = norm_layer(norm, affine_instance=True)
        widths = [ngf * 2**i for i in range(levels)]
        self.down = nn.ModuleList()
        cin = channels
        for w in widths:
            self.down.append(nn.Sequential(SamePadConv(cin, w, 2), nn.LeakyReLU(0.2), Norm(w)))
            cin = w
        self.up = nn.ModuleList()
        for skip in reversed(widths[:-1]):  # each up block matches the skip it is concatenated with
            self.up.append(nn.Sequential(nn.Upsample(scale_factor=2), SamePadConv(cin, skip, 1),
                                         nn.ReLU(), Norm(skip)))
            cin = 2 * skip
        self.out = nn.Sequential(nn.Upsample(scale_factor=2), SamePadConv(cin, channels, 1), nn.Tanh())

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = torch.cat([block(x), skip], 1)
        return self.out(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN (reference NLayerDiscriminator): `n_layers`=3 classifies 70x70 patches."""

    def __init__(self, n_layers: int = 3, ndf: int = 64, norm: str = "instance", channels: int = 3):
        super().__init__()
        Norm, bias = norm_layer(norm), conv_bias(norm)
        layers = [nn.Conv2d(channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1  # the last feature layer keeps the resolution
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       Norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def generator_size_multiple(generator: str, g_depth: int) -> int:
    """Image sides must be a multiple of this for the generator to return the input's size."""
    return 4 if generator == "resnet" else 2**g_depth


def check_generator_fits(generator: str, g_depth: int, size: int) -> None:
    minimum = {"resnet": 0, "unet": 5, "unet_keras": 1}[generator]
    if g_depth < minimum:
        raise UserError(f"model.g_depth={g_depth} is too shallow for {generator}; use at least {minimum}")
    multiple = generator_size_multiple(generator, g_depth)
    # The reference U-Net's innermost level may be 1x1 (it has no norm there); the Keras U-Net normalises
    # its deepest features, which needs at least 2x2.
    smallest = {"resnet": 4, "unet": multiple, "unet_keras": 2 * multiple}[generator]
    if size < smallest:
        factor = smallest // multiple
        deepest = max([d for d in range(minimum, 16) if factor * 2**d <= size], default=minimum)
        raise UserError(f"model.g_depth={g_depth} is too deep for data.crop_size={size}: {generator} halves the "
                        f"image {g_depth} times; use model.g_depth<={deepest} or data.crop_size>={smallest}")
    if size % multiple:
        raise UserError(f"data.crop_size={size} must be a multiple of {multiple} for {generator} with "
                        f"model.g_depth={g_depth}; use e.g. data.crop_size={max(multiple, size - size % multiple)}")


def check_discriminator_fits(n_layers: int, size: int) -> None:
    out = size
    for _ in range(n_layers):
        out = out // 2
    out -= 2  # the two stride-1 4x4 convs with padding 1 each lose one pixel
    if out < 1:
        raise UserError(f"model.d_layers={n_layers} is too deep for data.crop_size={size}: the PatchGAN output "
                        f"would be empty; lower model.d_layers or raise data.crop_size")


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """Reference 'normal' init: conv weights ~ N(0, 0.02), biases 0; batch-norm scale ~ N(1, 0.02)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


def build_generator(model_cfg) -> nn.Module:
    kind, depth, ngf, norm = model_cfg.generator, model_cfg.g_depth, model_cfg.ngf, model_cfg.norm
    if kind == "resnet":
        net = ResnetGenerator(depth, ngf, norm)
    elif kind == "unet":
        net = UnetGenerator(depth, ngf, norm)
    else:
        net = KerasUnetGenerator(depth, ngf, norm)
    return init_weights(net)


def build_discriminator(model_cfg) -> nn.Module:
    return init_weights(PatchDiscriminator(model_cfg.d_layers, model_cfg.ndf, model_cfg.norm))


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
