"""The building blocks of the image-era architectures (progan, stylegan, sagan, biggan), each as its paper defines it.

- `EqualizedLinear` / `EqualizedConv2d` (Karras et al. 2018, sec. 4.1): weights drawn from N(0, 1) and scaled at
  every call by He's constant gain / sqrt(fan_in), so that Adam's per-parameter step moves every layer alike.
- `PixelNorm` (ibid., sec. 4.2): each pixel's feature vector divided by its root mean square.
- `MinibatchStdDev` (ibid., sec. 3): the standard deviation of every feature at every pixel over a group of the
  minibatch, averaged to one number per group and appended as one more constant map.
- `AdaIN` (Karras et al. 2019, eq. 1): each map instance-normalised, then scaled and shifted by a style y = A(w).
- `NoiseInjection` (ibid., sec. 2): per-pixel Gaussian noise added with a learned per-channel scale B.
- `SelfAttention` (Zhang et al. 2019, sec. 4): x + gamma * o, where o attends over every position of the map.
- `ConditionalBatchNorm` (Brock et al. 2019, sec. 3; de Vries et al. 2017): BatchNorm whose gain and bias are
  linear functions of a condition vector (the shared class embedding and a chunk of z).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


class EqualizedLinear(nn.Linear):
    """y = x (c W)^T + b with W ~ N(0, 1) and c = gain / sqrt(fan_in), applied at run time."""

    def __init__(self, d_in: int, d_out: int, bias: bool = True, gain: float = math.sqrt(2)):
        super().__init__(d_in, d_out, bias)
        self.scale = gain / math.sqrt(d_in)
        nn.init.normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Conv2d):
    """A same-padded convolution whose N(0, 1) weights are scaled by gain / sqrt(in_channels * k * k) at run time."""

    def __init__(self, c_in: int, c_out: int, kernel: int, bias: bool = True, gain: float = math.sqrt(2)):
        super().__init__(c_in, c_out, kernel, padding=kernel // 2, bias=bias)
        self.scale = gain / math.sqrt(c_in * kernel * kernel)
        nn.init.normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """b = a / sqrt(mean over channels of a^2 + eps), at every pixel (or every row of a flat vector)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStdDev(nn.Module):
    """One more map holding, for each group of `group` consecutive rows, the mean over features and pixels of the
    features' standard deviation over the group (biased: divided by the group's size)."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = math.gcd(min(self.group, n), n)  # a group size that divides the batch (the last batch may be short)
        y = x.view(g, n // g, c, h, w)  # rows i, i + n/g, ... form a group, as in the paper's code
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n / g,)
        return torch.cat([x, std.repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


class AdaIN(nn.Module):
    """AdaIN(x, y) = y_s * (x - mu(x)) / sigma(x) + y_b per map, with (y_s, y_b) = A(w) an affine map of the style;
    A starts at y_s = 1, y_b = 0."""

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.affine = EqualizedLinear(w_dim, 2 * channels, gain=1.0)
        with torch.no_grad():
            self.affine.bias[:channels] = 1.0

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        scale, shift = self.affine(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + 1e-8).sqrt()
        return scale * (x - mean) / std + shift


class NoiseInjection(nn.Module):
    """x + B * noise, noise one N(0, 1) map per image broadcast over channels, B a learned per-channel scale that
    starts at 0. In training the noise is fresh every call; in evaluation it is the fixed map drawn at build time
    (kept in the checkpoint), so a latent always gives the same image (StyleGAN2's 'const' noise)."""

    def __init__(self, channels: int, side: tuple[int, int]):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("fixed", torch.randn(1, 1, *side))

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.fixed
        return x + self.weight * noise


class SelfAttention(nn.Module):
    """SAGAN's block: f, g, h 1 x 1 convolutions, beta = softmax over positions i of f(x_i)^T g(x_j), o_j = v(sum_i
    beta_ji h(x_i)), y = gamma * o + x with gamma starting at 0 (the block begins as the identity). f and g have
    C / 8 channels, h and v C / 2 (BigGAN's code; SAGAN's paper C / 8 and C)."""

    def __init__(self, channels: int):
        super().__init__()
        inner, value = max(1, channels // 8), max(1, channels // 2)
        self.f = nn.Conv2d(channels, inner, 1, bias=False)
        self.g = nn.Conv2d(channels, inner, 1, bias=False)
        self.h = nn.Conv2d(channels, value, 1, bias=False)
        self.v = nn.Conv2d(value, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention(self, x: Tensor) -> Tensor:
        """beta: (n, positions j, positions i), each row a distribution over the positions attended to."""
        f, g = self.f(x).flatten(2), self.g(x).flatten(2)  # (n, C', N)
        return torch.softmax(torch.bmm(g.transpose(1, 2), f), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        n, c, height, width = x.shape
        h = self.h(x).flatten(2)  # (n, C / 2, N)
        o = torch.bmm(h, self.attention(x).transpose(1, 2)).view(n, -1, height, width)
        return x + self.gamma * self.v(o)


class ConditionalBatchNorm(nn.Module):
    """BatchNorm without its own affine parameters, then (1 + gain(c)) * x + bias(c) per channel, gain and bias
    linear in the condition c (so a zero condition is plain BatchNorm)."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels, bias=False)
        self.bias = nn.Linear(cond_dim, channels, bias=False)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.bn(x) * (1 + self.gain(c))[:, :, None, None] + self.bias(c)[:, :, None, None]


def side_at(size: tuple[int, int], stages: int, level: int) -> tuple[int, int]:
    """The maps' side at pyramid level `level` (0: the base, `stages`: the image's own)."""
    return size[0] >> (stages - level), size[1] >> (stages - level)


def channels_at(width: int, stages: int, level: int) -> int:
    """Channels at pyramid level `level`: `width` at the image's side, doubling towards the base (DCGAN's rule)."""
    return width * 2 ** (stages - level)


def widths(width: int, stages: int) -> list[int]:
    """channels_at every level, from the base (0) to the image's side (`stages`)."""
    return [channels_at(width, stages, level) for level in range(stages + 1)]


def spectral_norm_all(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every linear and convolution weight of the module (G's; a D
    gets it through ScoringD.attach_head)."""
    for layer in [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]:
        spectral_norm(layer)
    return module
