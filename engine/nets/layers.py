"""Layers more than one architecture uses: activations by name, maxout, minibatch discrimination, the config's
weight initialisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.2), "tanh": nn.Tanh(), "elu": nn.ELU()}[name]


class Maxout(nn.Module):
    """Goodfellow et al. 2013: `pieces` affine maps per unit, the unit outputs their maximum."""

    def __init__(self, d_in: int, d_out: int, pieces: int):
        super().__init__()
        self.d_out, self.pieces = d_out, pieces
        self.linear = nn.Linear(d_in, d_out * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(-1, self.d_out, self.pieces).amax(-1)


class _L1KernelSums(torch.autograd.Function):
    """o[b, i] = sum_{j != i} exp(-|m[b, i] - m[b, j]|_1) for kernel projections m of shape (B, N, C).

    One kernel at a time, so the largest tensor is one (N, N) matrix (in cache at training sizes) instead of the
    (N, N, B, C) differences of the literal formula: 8x faster forward + backward at N = 512, B = 50, C = 5
    (bench/mbdisc_throughput.py). Where the backward must be differentiable itself (create_graph: gradient
    penalties, unrolling) it is written in out-of-place ops; otherwise it works in two reused (N, N) buffers.
    """

    @staticmethod
    def forward(ctx, m: Tensor) -> Tensor:
        ks = [torch.cdist(a, a, p=1).neg_().exp_() for a in m]  # the diagonal is exp(-0) = 1 exactly
        ctx.save_for_backward(m, *ks)
        return torch.stack([k.sum(-1) for k in ks]) - 1  # less the self-similarity: a lone sample scores 0

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        # d(sum_i g_i o_i)/d a_ic = sum_j (g_i + g_j) k_ij sign(a_jc - a_ic), as k is symmetric
        m, *ks = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: k again as a function of m, so the second derivative sees it
            grads = []
            for a, g_b in zip(m, g):
                w = torch.exp(-torch.cdist(a, a, p=1)) * (g_b.unsqueeze(-1) + g_b.unsqueeze(-2))
                grads.append(torch.stack([(torch.sign(c.unsqueeze(0) - c.unsqueeze(1)) * w).sum(-1)
                                          for c in a.unbind(-1)], dim=-1))
            return torch.stack(grads)
        grad, w, s = torch.empty_like(m), m.new_empty(m.shape[1], m.shape[1]), m.new_empty(m.shape[1], m.shape[1])
        for b, (a, k, g_b) in enumerate(zip(m, ks, g)):
            torch.mul(k, g_b.unsqueeze(-1) + g_b.unsqueeze(-2), out=w)
            for i, c in enumerate(a.unbind(-1)):
                torch.sum(torch.sub(c.unsqueeze(0), c.unsqueeze(1), out=s).sign_().mul_(w), -1, out=grad[b, :, i])
        return grad


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, sec. 3.2: o(x_i)_b = sum_{j != i} exp(-|M_i,b - M_j,b|_1), appended to the features.

    With `h_ref` the sum runs over the reference rows instead of the other rows of h: row i scores as the one
    new member of a minibatch made of the reference, whatever else h holds.
    """

    def __init__(self, d_in: int, kernels: int, kernel_dim: int):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(d_in, kernels * kernel_dim) * 0.1)

    def project(self, h: Tensor) -> Tensor:
        return (h @ self.T).view(-1, self.kernels, self.kernel_dim).transpose(0, 1)  # (B, N, C): kernels first

    def forward(self, h: Tensor, h_ref: Tensor | None = None) -> Tensor:
        m = self.project(h)
        if h_ref is None:
            o = _L1KernelSums.apply(m)
        else:  # (B, N, N_ref): bounded by the caller's chunk of h
            o = torch.exp(-torch.cdist(m, self.project(h_ref), p=1)).sum(-1)
        return torch.cat([h, o.T], dim=1)


class ScoringD(nn.Module):
    """What every architecture's D shares once it has built its `body` (samples -> features), its `mbd` (minibatch
    discrimination or None) and its `head` (-> one score): the features the head reads, and the score.

    With minibatch discrimination each row's statistics come from the other rows of x, or from the `reference`
    rows (packed, like x) when given; without it D is a function of each row alone and `reference` changes
    nothing. The variants' heads (engine/variants) read `hidden` too."""

    body: nn.Module
    mbd: nn.Module | None
    head: nn.Module

    def attach_head(self, cfg, n_features: int, linear: type[nn.Module] = nn.Linear, init: bool = True) -> None:
        """What a D ends with once its body gives `n_features` numbers a row: minibatch discrimination (when the
        config has kernels), the linear head to one score, the config's weight init (unless its layers set their
        own) and spectral norm on every layer (when the config asks)."""
        from torch.nn.utils.parametrizations import spectral_norm

        self.mbd = MinibatchDiscrimination(n_features, cfg.mbd_kernels, cfg.mbd_dim) if cfg.mbd_kernels else None
        self.head = linear(n_features + cfg.mbd_kernels, 1)
        if init:
            init_weights(self, cfg.d_init, cfg.init_std, cfg.init_gain)
        if cfg.spectral_norm:
            for layer in [m for m in self.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]:
                spectral_norm(layer)

    def features(self, x: Tensor) -> Tensor:
        """The body's features (feature matching)."""
        return self.body(x)

    def hidden(self, x: Tensor, reference: Tensor | None = None) -> Tensor:
        """What the head reads: the body's features with minibatch discrimination's statistics appended."""
        h = self.body(x)
        if self.mbd is not None:
            h = self.mbd(h, None if reference is None else self.body(reference))
        return h

    def forward(self, x: Tensor, reference: Tensor | None = None) -> Tensor:
        """Raw scores of the rows of x (engine/losses' sign convention)."""
        return self.head(self.hidden(x, reference)).squeeze(-1)


def init_weights(module: nn.Module, scheme: str, std: float, gain: float) -> None:
    """The config's init scheme on every linear and (transposed) convolution layer; biases start at zero."""
    if scheme == "default":
        return
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            if scheme == "normal":
                nn.init.normal_(layer.weight, 0.0, std)
            else:
                nn.init.orthogonal_(layer.weight, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
