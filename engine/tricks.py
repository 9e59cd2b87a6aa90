"""The classic tricks, each one piece that the Trainer calls at its place in the schedule (engine/train.py).

What D sees: instance noise (annealed to 0), packing (engine.nets.pack), label flipping; what G is trained on:
feature matching, an unrolled D; what the nets carry between steps: experience replay of past fakes, historical
averaging of the parameters, an exponential moving average of G; what G's weights are held to: orthogonal
regularisation. One-sided label smoothing is the loss's real
target (engine/losses). Every trick that draws random numbers takes the run's one generator, so that a run is a
function of its seed; every trick that keeps state between steps holds it in an object whose `state` goes into
the checkpoint under the key it always had.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call


# ------------------------------------------------------------------------------------------- what D sees
def instance_noise(x: Tensor, std: float, step: int, steps: int, generator: torch.Generator) -> Tensor:
    """x plus Gaussian noise whose std falls linearly from `std` at step 0 to 0 at the last step."""
    std = std * max(0.0, 1.0 - step / steps)
    return x + std * torch.randn(x.shape, generator=generator).to(x.device)


def flip_labels(real_out: Tensor, fake_out: Tensor, p: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Swap D's real and fake outputs of each row with probability p."""
    flip = (torch.rand(real_out.shape, generator=generator) < p).to(real_out.device)
    return torch.where(flip, fake_out, real_out), torch.where(flip, real_out, fake_out)


# ------------------------------------------------------------------------------------------- G's objective
def feature_matching(D: nn.Module, real_in: Tensor, fake_in: Tensor) -> Tensor:
    """|E f(real) - E f(G(z))|^2 on D's last hidden layer (Salimans et al. 2016, sec. 3.1)."""
    return (D.features(real_in).detach().mean(0) - D.features(fake_in).mean(0)).pow(2).sum()


def orthogonal_regularisation(G: nn.Module) -> Tensor:
    """Brock et al. 2019, sec. 3.1: sum over G's weight matrices W of ||W W^T - I||_F^2, a convolution's W having
    one row per output channel (its input channels x kernel flattened). A spectrally normalised layer's W is the
    normalised one it computes with; a variant's module kept inside G (BiGAN's encoder) is held to it too. Its memory
    is that of the largest W W^T: (output units)^2."""
    total = None
    for layer in G.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            w = layer.weight
            w = (w.transpose(0, 1) if isinstance(layer, nn.ConvTranspose2d) else w).flatten(1)
            gram = w @ w.T
            term = (gram - torch.eye(len(gram), device=w.device, dtype=w.dtype)).pow(2).sum()
            total = term if total is None else total + term
    return total if total is not None else torch.zeros(())


def unrolled_d(D: nn.Module, opt_d: torch.optim.Optimizer, steps: int, objective: Callable, lr: float,
               betas: tuple[float, float], sgd: bool) -> Callable[[Tensor], Tensor]:
    """D after `steps` differentiable optimiser steps on one minibatch, starting from D's real optimiser state
    (Metz et al. 2017). `objective(d)` is D's loss on that minibatch for a callable d; the fakes in it stay
    attached to G's graph, so G's loss sees how D would react to it. Adam (or SGD) is written out so that the
    unrolled steps can be differentiated."""
    names = [n for n, _ in D.named_parameters()]
    params = list(D.parameters())
    state = [opt_d.state.get(p, {}) for p in params]
    m = [s["exp_avg"].clone() if "exp_avg" in s else torch.zeros_like(p) for s, p in zip(state, params)]
    v = [s["exp_avg_sq"].clone() if "exp_avg_sq" in s else torch.zeros_like(p) for s, p in zip(state, params)]
    t = int(state[0]["step"]) if state and "step" in state[0] else 0
    b1, b2 = betas

    def d_with(ps):
        return lambda x: functional_call(D, dict(zip(names, ps)), (x,))

    for _ in range(steps):
        grads = torch.autograd.grad(objective(d_with(params)), params, create_graph=True, allow_unused=True,
                                    materialize_grads=True)  # zeros for the levels a growing D has not reached
        if sgd:
            params = [p - lr * g for p, g in zip(params, grads)]
            continue
        t += 1
        m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
        v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
        params = [p - lr * (mi / (1 - b1**t)) / ((vi / (1 - b2**t)).sqrt() + 1e-8) for p, mi, vi in zip(params, m, v)]
    return d_with(params)


# ------------------------------------------------------------------------------- state kept between steps
class ReplayBuffer:
    """Experience replay: a share of each fake D batch is drawn from the most recent `capacity` fakes."""

    def __init__(self, share: float, capacity: int, sample_shape: tuple[int, ...], device: torch.device):
        self.share, self.capacity = share, capacity
        self.state = torch.empty(0, *sample_shape, device=device)  # newest first

    def mix(self, fake: Tensor, generator: torch.Generator) -> Tensor:
        """Swap a share of the fake batch for past fakes, then remember the fresh ones."""
        n_old = int(self.share * len(fake))
        fresh = fake
        if n_old and len(self.state) >= n_old:
            idx = torch.randint(len(self.state), (n_old,), generator=generator).to(fake.device)
            fake = torch.cat([self.state[idx], fake[n_old:]])
        self.state = torch.cat([fresh.detach(), self.state])[: self.capacity]
        return fake


class HistoricalAverage:
    """weight * |theta - running mean of theta|^2, added to G's and D's losses (Salimans et al. 2016, sec. 3.3);
    the means start at the initial parameters."""

    def __init__(self, weight: float, g_params: list[Tensor], d_params: list[Tensor]):
        self.weight = weight
        self.g_means = [p.detach().clone() for p in g_params]
        self.d_means = [p.detach().clone() for p in d_params]

    def penalty(self, params: list[Tensor], means: list[Tensor]) -> Tensor:
        return self.weight * sum(((p - m) ** 2).sum() for p, m in zip(params, means))

    @torch.no_grad()
    def update(self, step: int, g_params: list[Tensor], d_params: list[Tensor]) -> None:
        """After the updates of iteration `step` (from 0): the mean over the step + 2 parameter sets so far."""
        n = step + 2
        for means, params in ((self.g_means, g_params), (self.d_means, d_params)):
            for mean, p in zip(means, params):
                mean.add_((p - mean) / n)


class EMA:
    """An exponential moving average of G's weights (its buffers copied), which the evaluation samples."""

    def __init__(self, G: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(G).requires_grad_(False)

    @torch.no_grad()
    def update(self, G: nn.Module) -> None:
        for p_ema, p in zip(self.model.parameters(), G.parameters()):
            p_ema.lerp_(p, 1.0 - self.decay)
        for b_ema, b in zip(self.model.buffers(), G.buffers()):
            b_ema.copy_(b)
