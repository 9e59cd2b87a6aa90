"""The `progan` architecture (Karras et al. 2018): G and D grow from the base side to the image's, fading each new
level in.

The pyramid is the DCGAN's: `conv_stages` doublings from the base side (28 = 7 x 2 x 2: 7 -> 14 -> 28). Training runs
through 2 * conv_stages + 1 equal phases of `phase_steps` (0: the run's steps split evenly): the base alone, then for
each new level a fade-in, while alpha goes linearly from 0 to 1, and a stable phase (`schedule`). During a fade-in

    G's output = alpha * to_rgb(new block(h)) + (1 - alpha) * upsample(to_rgb of the level below(h)),

and D mirrors it on its input: alpha * new block(from_rgb(x)) + (1 - alpha) * from_rgb of the level below(pool(x)),
with the real images faded the same way (alpha * x + (1 - alpha) * upsample(pool(x))), as in the paper's code.

G always yields the data's shape: its output at the current side is upsampled (nearest) to the image's side, and D
average-pools what it is given down to the current side, which undoes that upsampling exactly; so the loop, the
losses, the penalties and every metric see full-size images at every step, and a growing run is judged as it is.

Both nets use equalised learning rate (every weight N(0, 1), scaled by He's constant at run time), G pixelwise
feature normalisation after every convolution and a linear output, D a minibatch-standard-deviation map before
its last convolution. The nets learn where they are from `set_progress(step, steps)`, which the trainer calls
before every step and evaluation; they log `grow/resolution` and `grow/alpha`.
"""

from __future__ import annotations

import functools
import math

import torch.nn.functional as F
from torch import Tensor, nn

from engine.config import TrainConfig
from engine.nets.blocks import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, side_at, widths
from engine.nets.layers import ScoringD


def schedule(step: int, steps: int, stages: int, phase_steps: int = 0) -> tuple[int, float]:
    """(level, alpha) at `step`: level 0 is the base side, `stages` the image's; alpha < 1 while that level fades in.
    Phases: the base, then (fade-in, stable) per level, each `phase_steps` long (0: steps / (2 stages + 1))."""
    phase = phase_steps or max(1, math.ceil(steps / (2 * stages + 1)))
    p = step // phase
    if p == 0:
        return 0, 1.0
    level = min(stages, (p + 1) // 2)
    fading = p % 2 == 1 and (p + 1) // 2 <= stages
    return level, (step - p * phase) / phase if fading else 1.0


class Growing(nn.Module):
    """What G and D share: where training is in the schedule."""

    def __init__(self, cfg: TrainConfig, size: tuple[int, int], grows: bool = True):
        super().__init__()
        self.stages, self.phase_steps, self.size, self.grows = cfg.conv_stages, cfg.phase_steps, size, grows
        self.level, self.alpha = self.stages, 1.0  # a net built outside training is the grown one

    def set_progress(self, step: int, steps: int) -> dict[str, float]:
        if not self.grows:  # ProGAN's D at its full size (stylegan's D)
            return {}
        self.level, self.alpha = schedule(step, steps, self.stages, self.phase_steps)
        return {"grow/resolution": float(side_at(self.size, self.stages, self.level)[0]), "grow/alpha": self.alpha}


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


class Generator(Growing):
    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], g_in: int | None = None):
        channels, height, width = shape
        super().__init__(cfg, (height, width))
        s = self.stages
        ch = widths(cfg.g_channels, s)
        self.base = side_at(self.size, s, 0)
        self.norm = PixelNorm()
        self.project = EqualizedLinear(g_in or cfg.z_dim, ch[0] * self.base[0] * self.base[1], gain=math.sqrt(2) / 4)
        self.base_conv = EqualizedConv2d(ch[0], ch[0], 3)
        self.blocks = nn.ModuleList(nn.ModuleList([EqualizedConv2d(ch[level - 1], ch[level], 3),
                                                   EqualizedConv2d(ch[level], ch[level], 3)])
                                    for level in range(1, s + 1))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(ch[level], channels, 1, gain=1.0) for level in range(s + 1))

    def block(self, level: int, h: Tensor) -> Tensor:
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        for conv in self.blocks[level - 1]:
            h = self.norm(_act(conv(h)))
        return h

    def forward(self, z: Tensor) -> Tensor:
        h = self.norm(_act(self.project(self.norm(z)).view(z.shape[0], -1, *self.base)))
        h = self.norm(_act(self.base_conv(h)))
        for level in range(1, self.level):
            h = self.block(level, h)
        if self.level == 0:
            out = self.to_rgb[0](h)
        else:
            out = self.to_rgb[self.level](self.block(self.level, h))
            if self.alpha < 1:
                low = F.interpolate(self.to_rgb[self.level - 1](h), scale_factor=2, mode="nearest")
                out = self.alpha * out + (1 - self.alpha) * low
        return F.interpolate(out, size=self.size, mode="nearest") if out.shape[-2:] != self.size else out


class ProgressiveBody(Growing):
    """D's body: the image pooled to the current side (faded in), from_rgb, the blocks down to the base, the
    minibatch-stddev map and the last convolution; flattened features."""

    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], c_in: int, grows: bool = True):
        super().__init__(cfg, tuple(shape[1:]), grows)
        s = self.stages
        ch = widths(cfg.d_channels, s)
        self.from_rgb = nn.ModuleList(EqualizedConv2d(c_in, ch[level], 1) for level in range(s + 1))
        self.blocks = nn.ModuleList(nn.ModuleList([EqualizedConv2d(ch[level], ch[level], 3),
                                                   EqualizedConv2d(ch[level], ch[level - 1], 3)])
                                    for level in range(1, s + 1))
        self.mbstd = MinibatchStdDev(4)
        self.last = EqualizedConv2d(ch[0] + 1, ch[0], 3)
        self.n_features = ch[0] * math.prod(side_at(self.size, s, 0))

    def block(self, level: int, h: Tensor) -> Tensor:
        for conv in self.blocks[level - 1]:
            h = _act(conv(h))
        return F.avg_pool2d(h, 2)

    def forward(self, x: Tensor) -> Tensor:
        factor = 2 ** (self.stages - self.level)
        x = F.avg_pool2d(x, factor) if factor > 1 else x
        if self.level == 0:
            h = _act(self.from_rgb[0](x))
        else:
            lower = F.avg_pool2d(x, 2)
            if self.alpha < 1:  # the real (and fake) images fade from the lower side too
                x = self.alpha * x + (1 - self.alpha) * F.interpolate(lower, scale_factor=2, mode="nearest")
            h = self.block(self.level, _act(self.from_rgb[self.level](x)))
            if self.alpha < 1:
                h = self.alpha * h + (1 - self.alpha) * _act(self.from_rgb[self.level - 1](lower))
        for level in range(self.level - 1, 0, -1):
            h = self.block(level, h)
        return _act(self.last(self.mbstd(h))).flatten(1)


class Discriminator(ScoringD):
    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], d_in_extra: int = 0, grows: bool = True):
        super().__init__()
        self.body = ProgressiveBody(cfg, shape, shape[0] * cfg.pack + d_in_extra, grows)
        self.attach_head(cfg, self.body.n_features, functools.partial(EqualizedLinear, gain=1.0), init=False)


def build(cfg: TrainConfig, shape: tuple[int, ...], g_in: int | None = None,
          d_in_extra: int = 0) -> tuple[Generator, Discriminator]:
    return Generator(cfg, shape, g_in), Discriminator(cfg, shape, d_in_extra)
