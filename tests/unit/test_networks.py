import pytest
import torch

from cyclegan.config import ModelConfig
from cyclegan.networks import (KerasUnetGenerator, PatchDiscriminator, ResnetGenerator, UnetGenerator,
                               build_discriminator, build_generator, count_parameters)


@pytest.mark.parametrize("net, expected", [
    (lambda: ResnetGenerator(9, 64), 11_378_179),
    (lambda: ResnetGenerator(6, 64), 7_837_699),
    (lambda: UnetGenerator(7, 64), 41_825_667),
    (lambda: UnetGenerator(8, 64), 54_409_603),
    (lambda: PatchDiscriminator(3, 64), 2_764_737),
])
def test_parameter_counts_equal_the_reference(net, expected):
    assert count_parameters(net()) == expected


@pytest.mark.parametrize("generator, depth, size", [("resnet", 2, 32), ("unet", 5, 32), ("unet_keras", 4, 32),
                                                     ("unet_keras", 5, 64)])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_generators_keep_the_image_size_and_range(generator, depth, size, norm):
    net = build_generator(ModelConfig(generator=generator, g_depth=depth, ngf=4, norm=norm))
    out = net(torch.randn(2, 3, size, size))
    assert out.shape == (2, 3, size, size)
    assert out.abs().max() <= 1


def test_keras_unet_follows_the_seed_architecture():
    net = KerasUnetGenerator(4, ngf=8)
    widths = [block[0][1].out_channels for block in net.down]
    assert widths == [8, 16, 32, 64]  # gf, 2gf, 4gf, ... doubling per level
    assert [block[1][1].out_channels for block in net.up] == [32, 16, 8]  # each matches its skip
    assert isinstance(net.out[-1], torch.nn.Tanh)
    assert net.down[0][2].affine  # keras-contrib InstanceNormalization learns scale and shift


def test_patchgan_70x70_output_and_init():
    torch.manual_seed(0)
    d = build_discriminator(ModelConfig(ndf=64, d_layers=3))
    assert d(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # the reference's 30x30 patch map
    weights = torch.cat([m.weight.flatten() for m in d.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.001
