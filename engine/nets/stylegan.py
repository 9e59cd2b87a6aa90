"""The `stylegan` architecture (Karras et al. 2019): a mapping network z -> w and a synthesis network driven by w.

- Mapping: z pixel-normalised, then `mapping_layers` equalised linear layers with LeakyReLU(0.2) to w (`w_dim`).
  A condition a variant appends to z (cGAN's label, InfoGAN's codes) goes through the mapping with it.
- Synthesis: a learned constant at the pyramid's base side (7 x 7 for 28 x 28), then per level two 3 x 3
  convolutions (the first after a nearest upsampling; at the base the constant takes the first one's place), each
  followed by noise injection (B_l * noise), LeakyReLU and AdaIN with the style A_l(w) of its own: 2 (conv_stages +
  1) styles in all; a 1 x 1 convolution makes the image (linear output, as the paper's).
- Style mixing regularisation (sec. 3.1): in training, a `style_mixing` share of the rows get a second latent's w
  from a random layer on (the condition stays the row's).
- Truncation (sec. 2): w-bar is the running mean of w over training (decay 0.995); samples in evaluation use
  w-bar + psi (w - w-bar) (`psi`, 1 = none). Evaluation uses fixed noise maps, so a latent always gives one image.
- D: ProGAN's (engine/nets/progan.py) at the full side, as the paper's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.config import TrainConfig
from engine.nets.blocks import AdaIN, EqualizedConv2d, EqualizedLinear, NoiseInjection, PixelNorm, side_at, widths
from engine.nets.progan import Discriminator

W_AVG_DECAY = 0.995


class Mapping(nn.Sequential):
    def __init__(self, d_in: int, w_dim: int, layers: int):
        parts: list[nn.Module] = [PixelNorm()]
        for i in range(layers):
            parts += [EqualizedLinear(d_in if i == 0 else w_dim, w_dim), nn.LeakyReLU(0.2)]
        super().__init__(*parts)


class StyledLayer(nn.Module):
    """(upsample,) convolution (or nothing: the constant), noise, LeakyReLU, AdaIN with this layer's style."""

    def __init__(self, c_in: int, c_out: int, side: tuple[int, int], w_dim: int, conv: bool, up: bool):
        super().__init__()
        self.up = up
        self.conv = EqualizedConv2d(c_in, c_out, 3) if conv else None
        self.noise = NoiseInjection(c_out, side)
        self.adain = AdaIN(c_out, w_dim)

    def forward(self, h: Tensor, w: Tensor) -> Tensor:
        if self.up:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        if self.conv is not None:
            h = self.conv(h)
        return self.adain(F.leaky_relu(self.noise(h), 0.2), w)


class Generator(nn.Module):
    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], g_in: int | None = None):
        super().__init__()
        channels, height, width = shape
        s = cfg.conv_stages
        ch = widths(cfg.g_channels, s)
        self.z_dim, self.uniform = cfg.z_dim, cfg.latent == "uniform"
        self.mapping = Mapping(g_in or cfg.z_dim, cfg.w_dim, cfg.mapping_layers)
        self.const = nn.Parameter(torch.ones(1, ch[0], *side_at((height, width), s, 0)))
        layers = []
        for level in range(s + 1):
            side = side_at((height, width), s, level)
            c_in = ch[level - 1] if level else ch[0]
            layers += [StyledLayer(c_in, ch[level], side, cfg.w_dim, conv=level > 0, up=level > 0),
                       StyledLayer(ch[level], ch[level], side, cfg.w_dim, conv=True, up=False)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = EqualizedConv2d(ch[s], channels, 1, gain=1.0)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        self.psi, self.mixing = cfg.psi, cfg.style_mixing

    @property
    def n_styles(self) -> int:
        return len(self.layers)

    def styles(self, g_in: Tensor) -> Tensor:
        """w of each row; in training it also moves w-bar."""
        w = self.mapping(g_in)
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(w.mean(0), 1 - W_AVG_DECAY)
        return w

    def truncate(self, w: Tensor, psi: float) -> Tensor:
        return w if psi == 1 else self.w_avg + psi * (w - self.w_avg)

    def synthesize(self, ws: list[Tensor]) -> Tensor:
        """The image from one style per layer (each (n, w_dim))."""
        h = self.const.expand(ws[0].shape[0], *self.const.shape[1:])
        for layer, w in zip(self.layers, ws):
            h = layer(h, w)
        return self.to_rgb(h)

    def forward(self, g_in: Tensor) -> Tensor:
        w = self.styles(g_in)
        if not self.training:
            return self.synthesize([self.truncate(w, self.psi)] * self.n_styles)
        if not self.mixing:
            return self.synthesize([w] * self.n_styles)
        z2 = torch.rand_like(g_in[:, :self.z_dim]) * 2 - 1 if self.uniform else torch.randn_like(g_in[:, :self.z_dim])
        w2 = self.mapping(torch.cat([z2, g_in[:, self.z_dim:]], 1))  # the same condition
        mixed = torch.rand(len(w), device=w.device) < self.mixing
        cut = torch.randint(1, self.n_styles, (len(w),), device=w.device)
        return self.synthesize([torch.where((mixed & (i >= cut)).unsqueeze(1), w2, w) for i in range(self.n_styles)])

    @torch.no_grad()
    def mix(self, coarse: Tensor, fine: Tensor, crossover: int, psi: float = 1.0) -> Tensor:
        """Images whose first `crossover` layers take the styles of `coarse`'s rows and the rest those of `fine`'s
        (the paper's Figure 3), both truncated by psi."""
        w_coarse, w_fine = (self.truncate(self.mapping(g), psi) for g in (coarse, fine))
        return self.synthesize([w_coarse if i < crossover else w_fine for i in range(self.n_styles)])


def build(cfg: TrainConfig, shape: tuple[int, ...], g_in: int | None = None,
          d_in_extra: int = 0) -> tuple[Generator, Discriminator]:
    return Generator(cfg, shape, g_in), Discriminator(cfg, shape, d_in_extra, grows=False)
