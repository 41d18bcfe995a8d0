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


@pytest.mark.parametrize("generator, depth", [("resnet", 2), ("unet", 5), ("unet_keras", 4)])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_instance_norm_computes_what_torchs_instance_norm_computes(generator, depth, memory_format):
    """Our instance norm runs as a one-channel-per-group group norm on the CPU (faster); a whole generator
    with it must give the outputs and gradients that torch's `nn.InstanceNorm2d` gives."""
    torch.manual_seed(0)
    ours = build_generator(ModelConfig(generator=generator, g_depth=depth, ngf=4, norm="instance"))
    with torch.no_grad():  # the seed architecture's (unet_keras) norms are affine: non-trivial values
        for m in ours.modules():
            if isinstance(m, torch.nn.InstanceNorm2d) and m.affine:
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.5, 0.5)
    torchs = build_generator(ModelConfig(generator=generator, g_depth=depth, ngf=4, norm="instance"))
    torchs.load_state_dict(ours.state_dict())
    norms = [m for m in torchs.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(type(m) is not torch.nn.InstanceNorm2d for m in norms)
    for m in norms:
        m.__class__ = torch.nn.InstanceNorm2d
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=memory_format)
    ours.to(memory_format=memory_format), torchs.to(memory_format=memory_format)
    out_ours, out_torchs = ours(x), torchs(x)
    torch.testing.assert_close(out_ours, out_torchs, atol=1e-5, rtol=1e-4)
    grad = torch.randn_like(out_ours)
    out_ours.backward(grad), out_torchs.backward(grad)
    # A conv bias just before a norm has a true gradient of 0: compare against the largest gradient.
    scale = max(p.grad.abs().max().item() for p in torchs.parameters())
    for (name, p), q in zip(ours.named_parameters(), torchs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5 * scale, rtol=1e-4, msg=name)
