"""CycleGAN objective (Zhu et al. 2017, Eqn. 1-3 and §5.2) as pure functions that return named terms.

The full generator objective is
    L_G = lambda_gan * (L_GAN(G, D_B) + L_GAN(F, D_A))              Eqn. 1, for both directions
        + lambda_cyc_a * |F(G(a)) - a|_1 + lambda_cyc_b * |G(F(b)) - b|_1   Eqn. 2 (forward, backward cycle)
        + lambda_id  * (|F(a) - a|_1 + |G(b) - b|_1)                 identity loss, §5.2
Both cycle weights follow `lambda_cyc` unless set (the paper's "GAN + forward cycle" ablation sets
lambda_cyc_b = 0). `lambda_id` is an absolute weight: the reference's relative `lambda_identity` (0.5)
times its `lambda_A`/`lambda_B` (10) gives our default 5. Each discriminator minimises half of its whole
objective (reference `backward_D_basic` halves the real + fake terms): for wgangp that objective is
critic + lambda_gp * GP (Gulrajani et al. 2017, Alg. 1), so the penalty is halved with the critic term
and `lambda_gp` keeps its published meaning relative to it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def generator_adversarial(pred_fake: Tensor, mode: str) -> Tensor:
    """The generator's term: make D call its fakes real."""
    if mode == "lsgan":
        return F.mse_loss(pred_fake, torch.ones_like(pred_fake))
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(pred_fake, torch.ones_like(pred_fake))
    if mode in ("hinge", "wgangp"):
        return -pred_fake.mean()
    raise ValueError(f"unknown gan_mode {mode!r}")


def discriminator_adversarial(pred_real: Tensor, pred_fake: Tensor, mode: str) -> Tensor:
    """The discriminator's term, halved as in the reference (slows D relative to G)."""
    if mode == "lsgan":
        loss = F.mse_loss(pred_real, torch.ones_like(pred_real)) + F.mse_loss(pred_fake, torch.zeros_like(pred_fake))
    elif mode == "vanilla":
        loss = (F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
                + F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake)))
    elif mode == "hinge":
        loss = F.relu(1 - pred_real).mean() + F.relu(1 + pred_fake).mean()
    elif mode == "wgangp":
        loss = pred_fake.mean() - pred_real.mean()
    else:
        raise ValueError(f"unknown gan_mode {mode!r}")
    return 0.5 * loss


def gradient_penalty(discriminator, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(|grad D(x_hat)|_2 - 1)^2] on random interpolates x_hat."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    pred = discriminator(mixed)
    (grad,) = torch.autograd.grad(pred.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def generator_terms(*, real_a: Tensor, real_b: Tensor, fake_a: Tensor, fake_b: Tensor,
                    rec_a: Tensor | None, rec_b: Tensor | None, idt_a: Tensor | None, idt_b: Tensor | None,
                    pred_fake_a: Tensor | None, pred_fake_b: Tensor | None,
                    gan_mode: str, lambda_gan: float, lambda_cyc_a: float, lambda_cyc_b: float,
                    lambda_id: float) -> dict[str, Tensor]:
    """Weighted generator terms and their sum `loss_G`. A term whose weight is 0 is absent (its inputs are None).

    rec_a = F(G(a)), rec_b = G(F(b)); idt_a = F(a), idt_b = G(b); pred_fake_b = D_B(G(a)), pred_fake_a = D_A(F(b)).
    """
    terms: dict[str, Tensor] = {}
    if lambda_gan > 0:
        terms["loss_gan_a2b"] = lambda_gan * generator_adversarial(pred_fake_b, gan_mode)
        terms["loss_gan_b2a"] = lambda_gan * generator_adversarial(pred_fake_a, gan_mode)
    if lambda_cyc_a > 0:
        terms["loss_cyc_a"] = lambda_cyc_a * F.l1_loss(rec_a, real_a)
    if lambda_cyc_b > 0:
        terms["loss_cyc_b"] = lambda_cyc_b * F.l1_loss(rec_b, real_b)
    if lambda_id > 0:
        terms["loss_id_a"] = lambda_id * F.l1_loss(idt_a, real_a)
        terms["loss_id_b"] = lambda_id * F.l1_loss(idt_b, real_b)
    terms["loss_G"] = sum(terms.values())
    return terms


def discriminator_terms(*, pred_real: Tensor, pred_fake: Tensor, gan_mode: str,
                        penalty: Tensor | None = None, lambda_gp: float = 0.0) -> Tensor:
    """One discriminator's loss: half of (adversarial term + lambda_gp * gradient penalty), see the module doc."""
    loss = discriminator_adversarial(pred_real, pred_fake, gan_mode)  # already halved
    if penalty is not None:
        loss = loss + 0.5 * lambda_gp * penalty
    return loss
