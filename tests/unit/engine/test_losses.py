import pytest
import torch

from cyclegan import losses


def test_adversarial_terms_on_hand_computable_values():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.5, -1.0])
    # lsgan: G: mean((fake-1)^2) = (0.25 + 4)/2; D: 0.5 * (mean((real-1)^2) + mean(fake^2)) = 0.5 * (0.5 + 0.625)
    assert losses.generator_adversarial(fake, "lsgan").item() == pytest.approx(2.125)
    assert losses.discriminator_adversarial(real, fake, "lsgan").item() == pytest.approx(0.5625)
    # hinge: D: 0.5 * (mean(relu(1-real)) + mean(relu(1+fake))) = 0.5 * (0.5 + 0.75); G: -mean(fake)
    assert losses.discriminator_adversarial(real, fake, "hinge").item() == pytest.approx(0.625)
    assert losses.generator_adversarial(fake, "hinge").item() == pytest.approx(0.25)
    # wgan: D: 0.5 * (mean(fake) - mean(real)) = 0.5 * (-0.25 - 0.5)
    assert losses.discriminator_adversarial(real, fake, "wgangp").item() == pytest.approx(-0.375)
    # vanilla: BCE with logits: G on logit 0 is log 2
    assert losses.generator_adversarial(torch.zeros(3), "vanilla").item() == pytest.approx(0.693147, rel=1e-5)
    d = losses.discriminator_adversarial(torch.zeros(1), torch.zeros(1), "vanilla").item()
    assert d == pytest.approx(0.693147, rel=1e-5)  # 0.5 * (log 2 + log 2)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.full((1, 3, 2, 2), 0.5)  # |grad| = sqrt(12 * 0.25) = sqrt(3) for every interpolate
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    gp = losses.gradient_penalty(critic, torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2))
    assert gp.item() == pytest.approx((3 ** 0.5 - 1) ** 2, rel=1e-5)


def _terms(**weights):
    a, b = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    args = dict(real_a=a, real_b=b, fake_a=a, fake_b=b, rec_a=a + 0.5, rec_b=b - 0.25, idt_a=a + 0.1, idt_b=b,
                pred_fake_a=torch.ones(1), pred_fake_b=torch.zeros(1), gan_mode="lsgan")
    cyc = weights.pop("lambda_cyc", None)
    if cyc is not None:
        weights.setdefault("lambda_cyc_a", cyc)
        weights.setdefault("lambda_cyc_b", cyc)
    return losses.generator_terms(**args, **weights)


def test_cycle_and_identity_are_weighted_l1():
    t = _terms(lambda_gan=1.0, lambda_cyc=10.0, lambda_id=5.0)
    assert t["loss_cyc_a"].item() == pytest.approx(5.0) and t["loss_cyc_b"].item() == pytest.approx(2.5)
    assert t["loss_id_a"].item() == pytest.approx(0.5) and t["loss_id_b"].item() == pytest.approx(0.0)
    assert t["loss_gan_a2b"].item() == pytest.approx(1.0) and t["loss_gan_b2a"].item() == pytest.approx(0.0)
    assert t["loss_G"].item() == pytest.approx(9.0)


def test_a_zero_weight_removes_the_term():
    t = _terms(lambda_gan=0.0, lambda_cyc=10.0, lambda_id=0.0)
    assert set(t) == {"loss_cyc_a", "loss_cyc_b", "loss_G"}


def test_forward_and_backward_cycles_are_weighted_separately():
    t = _terms(lambda_gan=1.0, lambda_cyc_a=10.0, lambda_cyc_b=0.0, lambda_id=0.0)
    assert "loss_cyc_b" not in t and t["loss_cyc_a"].item() == pytest.approx(5.0)
    t = _terms(lambda_gan=1.0, lambda_cyc_a=2.0, lambda_cyc_b=4.0, lambda_id=0.0)
    assert t["loss_cyc_a"].item() == pytest.approx(1.0) and t["loss_cyc_b"].item() == pytest.approx(1.0)


def test_the_gradient_penalty_is_halved_with_the_critic_term():
    """D minimises 0.5 * (critic + lambda_gp * GP): lambda_gp keeps its weight relative to the critic."""
    real, fake, gp = torch.tensor([1.0]), torch.tensor([-1.0]), torch.tensor(0.3)
    critic = (fake.mean() - real.mean()).item()
    loss = losses.discriminator_terms(pred_real=real, pred_fake=fake, gan_mode="wgangp", penalty=gp, lambda_gp=10.0)
    assert loss.item() == pytest.approx(0.5 * (critic + 10.0 * 0.3))
