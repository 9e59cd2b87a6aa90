"""The gradient penalties' functions and weight clipping (the table is engine/penalties/__init__.py).

A penalty takes D (any callable from a batch of inputs to one score per row), the real and the fake batch as D
sees them (already packed, any trailing shape) and a torch generator, and returns a scalar to add to D's loss
before weighting. "WGAN-GP" is therefore a preset (loss wgan + penalty wgan_gp + n_critic + optimiser), not a loss.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn


def _grad_norm_sq(d: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """|grad_x D(x)|^2 per row, kept in the graph so the penalty itself can be differentiated."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1)


def no_penalty(d, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    return real.new_zeros(())


def wgan_gp(d, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    # Gulrajani et al.: E[(|grad D(x_hat)| - 1)^2] at x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per row.
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator, device=real.device)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return (_grad_norm_sq(d, x_hat).add(1e-12).sqrt() - 1).pow(2).mean()


def lp(d, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    # Petzka et al. 2018: the one-sided E[max(0, |grad D(x_hat)| - 1)^2] at WGAN-GP's interpolates: only slopes
    # above 1 are penalised, so D stays 1-Lipschitz without being pushed to slope 1 everywhere.
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator, device=real.device)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return (_grad_norm_sq(d, x_hat).add(1e-12).sqrt() - 1).clamp_min(0).pow(2).mean()


def r1(d, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    # Mescheder et al.: E_real[|grad D(x)|^2]; the weight plays gamma / 2.
    return _grad_norm_sq(d, real).mean()


def dragan(d, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    # Kodali et al.: one-centred penalty at real data perturbed by 0.5 * std(real) * U[0, 1] noise.
    noise = torch.rand(real.shape, generator=generator, device=real.device)
    x_hat = real.detach() + 0.5 * real.detach().std() * noise
    return (_grad_norm_sq(d, x_hat).add(1e-12).sqrt() - 1).pow(2).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, bound: float) -> None:
    """WGAN's Lipschitz constraint: clamp every parameter of D to [-bound, bound] after its step."""
    for p in module.parameters():
        p.clamp_(-bound, bound)
