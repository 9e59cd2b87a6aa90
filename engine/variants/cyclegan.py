"""CycleGAN (Zhu et al. 2017): unpaired translation. F: X -> Y and G: Y -> X, D_Y judging Y's samples and D_X
judging X's, and the cycle loss lambda (E|G(F(x)) - x|_1 + E|F(G(y)) - y|_1); with `identity_weight` > 0 also
the identity loss w (E|F(y) - y|_1 + E|G(x) - x|_1) (their sec. 5.2, w = 0.5 lambda).

Both directions train as one batch: a real batch stacks Y's draws over X's (D_Y judges the first half, D_X the
second), and G's input stacks the X draws to translate over the Y draws, each row led by its direction (0: F,
1: G). The adversarial loss is the mean over both halves, so its weight is 2 to make L = L_GAN(F, D_Y) +
L_GAN(G, D_X) + cycle, as the paper sums them. The nets are the architecture's, two of each, in one G module and
one D module (trained, averaged and saved as any G and D). Outside training, G's rows all lead with 0: the
evaluation, the Gallery and checkpoint sampling see F, whose samples are the target domain's;
measures.translation_measures scores both directions and both cycles on the evaluation's held-out pairs."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from engine.data import Batch
from engine.nets import build_nets
from engine.variants.base import Judged, Latent, Unconditional
from engine.variants.measures import translation_measures

FORWARD, BACKWARD = 0.0, 1.0  # the direction leading a row of G's input: F (X -> Y), G (Y -> X)


class TwoWayG(nn.Module):
    """F and G: each row of the input is [direction, source flattened], translated by its direction's net."""

    def __init__(self, forward_net: nn.Module, backward_net: nn.Module):
        super().__init__()
        self.forward_net, self.backward_net = forward_net, backward_net

    def forward(self, g_in: Tensor) -> Tensor:
        backward = g_in[:, 0] > 0.5
        source = g_in[:, 1:]
        if not backward.any():
            return self.forward_net(source)
        if backward.all():
            return self.backward_net(source)
        out_f, out_b = self.forward_net(source[~backward]), self.backward_net(source[backward])
        out = out_f.new_empty(len(g_in), *out_f.shape[1:])
        out[~backward], out[backward] = out_f, out_b
        return out


class TwoDomainD(nn.Module):
    """D_Y on the first half of the rows, D_X on the second (the stacked batch of the module docstring)."""

    def __init__(self, d_target: nn.Module, d_source: nn.Module):
        super().__init__()
        self.d_target, self.d_source = d_target, d_source

    def forward(self, x: Tensor) -> Tensor:
        half = len(x) // 2
        return torch.cat([self.d_target(x[:half]), self.d_source(x[half:])])


def led(direction: float, x: Tensor) -> Tensor:
    """G's input rows for translating x in one direction."""
    return torch.cat([x.new_full((len(x), 1), direction), x.flatten(1)], 1)


class CycleGAN(Unconditional):
    """F and G against D_Y and D_X, with the cycle (and identity) loss (the module docstring)."""

    def __init__(self, cfg: Any, dataset):
        super().__init__(cfg, dataset)
        self.source_weight = 2.0  # the mean over both halves, made the paper's sum of the two adversarial losses

    def nets(self) -> tuple[nn.Module, nn.Module]:
        width = math.prod(self.dataset.shape)
        forward_net, d_target = build_nets(self.cfg, self.dataset, g_in=width)
        backward_net, d_source = build_nets(self.cfg, self.dataset, g_in=width)
        return TwoWayG(forward_net, backward_net), TwoDomainD(d_target, d_source)

    def draw(self, n: int, generator) -> Batch:
        return self.dataset.sample_unpaired(n, generator)

    def real(self, batch: Batch) -> Batch:
        """Y's draws over X's (what D_Y and D_X judge), and the sources to translate: X's draws over Y's."""
        return Batch(torch.cat([batch.x, batch.source]), None, torch.cat([batch.source, batch.x]))

    def latent_for(self, real: Batch, generator, device) -> Latent:
        half = len(real.x) // 2
        g_in = torch.cat([led(FORWARD, real.source[:half]), led(BACKWARD, real.source[half:])])
        return Latent(g_in, g_in[:, :0], source=real.source)  # no noise: z is empty

    def latent(self, n: int, generator, device, balanced: bool = False) -> Latent:
        """n paired draws, all to translate X -> Y (the evaluation's fixed sources, with truths and classes)."""
        batch = self.dataset.sample(n, generator).to(device)
        g_in = led(FORWARD, batch.source)
        return Latent(g_in, g_in[:, :0], y=batch.y, source=batch.source, truth=batch.x)

    def g_extra(self, fake, latent: Latent, D, G, batch: Batch, d_input, samples: Tensor) -> Tensor:
        half = len(samples) // 2
        back = torch.cat([led(BACKWARD, samples[:half]), led(FORWARD, samples[half:])])
        total = 2 * self.cfg.cycle_weight * (G(back) - latent.source).abs().mean()  # both directions' means, summed
        if self.cfg.identity_weight:  # F on Y's draws, G on X's: each should leave its own domain's samples alone
            same = torch.cat([led(FORWARD, batch.x[:half]), led(BACKWARD, batch.x[half:])])
            total = total + 2 * self.cfg.identity_weight * (G(same) - batch.x).abs().mean()
        return total

    def measure(self, sample, D, G, context) -> tuple[dict[str, float], dict[str, Any]]:
        return translation_measures(context, G, lambda x: G(led(FORWARD, x)), lambda y: G(led(BACKWARD, y)))
