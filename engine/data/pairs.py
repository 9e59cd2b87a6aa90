"""Domain pairs: a data set X and its image Y under a known map T, for the translation GANs (pix2pix, CycleGAN).

A pair *is* its target domain Y, with X riding along: `sample` gives Batch(x = T(s), y = s's class, source = s),
so every metric, the classifier and a plain GAN see the data set Y, and a translation G's output is scored against
the target domain as any G's samples are. `sample_unpaired` draws the source independently of the target (two
independent draws: CycleGAN's setting); `sample` keeps them paired (Pix2Pix's). Because T is known, the truth of
every translation is known: the paired draw carries it.

- points: T is a similarity (rotation, scale, mirror), which maps a mixture of isotropic Gaussians onto a mixture of
  isotropic Gaussians exactly, so the target keeps an exact density and its modes (mode k of X goes to mode k of Y):
  ring-rotated (the ring turned by half the angle between modes), grid-scaled (the grid at half its size, each
  Gaussian too), moons-mirrored (the moons reflected in the vertical axis).
- images: T is a deterministic pixel map of mnist: mnist-negative (255 - pixel) and mnist-rot90 (turned 90 degrees
  anticlockwise), exactly invertible on the uint8 pixels, and mnist-edges (the Sobel gradient's magnitude), which
  is not: its way back is known only through the pairs. The target's classifier is trained on the target
  images (its own cache key), and a translation keeps the source's class (the label every draw carries).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from engine.data.batch import Batch
from engine.data.images import ImageSet
from engine.data.toy import Mixture, grid, moons, ring


# ----------------------------------------------------------------------------------------------- points
@dataclass(frozen=True, eq=False)
class PointPair(Mixture):
    """The target mixture Y = T(X) for T(s) = s A^T (A = scale x an orthogonal matrix), and the source X."""

    source_set: Mixture | None = None
    matrix: np.ndarray | None = None  # A (2, 2): T(s) = s A^T

    def translate(self, s: torch.Tensor) -> torch.Tensor:
        """T: X -> Y, the true map."""
        return s @ torch.as_tensor(self.matrix.T, dtype=s.dtype, device=s.device)

    def untranslate(self, x: torch.Tensor) -> torch.Tensor:
        """T^-1: Y -> X."""
        return x @ torch.as_tensor(np.linalg.inv(self.matrix).T, dtype=x.dtype, device=x.device)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Batch:
        """n paired draws: s from X, x = T(s), which is a draw of Y exactly (the same mode, noise mapped by A)."""
        s = self.source_set.sample(n, generator)
        return Batch(self.translate(s.x), s.y, s.x)

    def sample_unpaired(self, n: int, generator: torch.Generator | None = None) -> Batch:
        """n draws of Y and n independent draws of X (the labels are Y's)."""
        target = self.sample(n, generator)
        return Batch(target.x, target.y, self.source_set.sample(n, generator).x)


def _point_pair(name: str, source: Mixture, matrix: np.ndarray, description: str) -> PointPair:
    scale = math.sqrt(abs(np.linalg.det(matrix)))
    return PointPair(name, source.means @ matrix.T, source.sigma * scale, source.weights, source.has_modes,
                     description, source_set=source, matrix=matrix)


def _rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def ring_rotated() -> PointPair:
    source = ring()
    return _point_pair("ring-rotated", source, _rotation(math.pi / source.n_modes),
                       "ring-8 -> ring-8 turned by half the angle between modes (22.5 degrees)")


def grid_scaled() -> PointPair:
    return _point_pair("grid-scaled", grid(), 0.5 * np.eye(2), "grid-25 -> grid-25 at half the size (sigma 0.025)")


def moons_mirrored() -> PointPair:
    return _point_pair("moons-mirrored", moons(), np.diag([-1.0, 1.0]), "moons -> moons mirrored left to right")


# ----------------------------------------------------------------------------------------------- images
@dataclass(frozen=True, eq=False)
class ImagePair(ImageSet):
    """The target images T(X) (train and held-out, row for row with the source's) and the source images X."""

    source_train_x: torch.Tensor | None = None  # uint8, row i is the source of train_x[i]
    source_heldout_x: torch.Tensor | None = None

    def sample(self, n: int, generator: torch.Generator | None = None) -> Batch:
        rows = torch.randint(len(self.train_x), (n,), generator=generator)
        return Batch(self.scale(self.train_x[rows]), self.train_y[rows], self.scale(self.source_train_x[rows]))

    def sample_unpaired(self, n: int, generator: torch.Generator | None = None) -> Batch:
        target = self.sample(n, generator)
        rows = torch.randint(len(self.train_x), (n,), generator=generator)
        return Batch(target.x, target.y, self.scale(self.source_train_x[rows]))

    def heldout(self, n: int | None = None) -> Batch:
        target = super().heldout(n)
        return Batch(target.x, target.y, self.scale(self.source_heldout_x[:len(target.x)]))


def _image_pair(name: str, source_name: str, pixel_map: Callable[[torch.Tensor], torch.Tensor],
                description: str) -> ImagePair:
    """The pair of the registry's data set `source_name` and its pixels under `pixel_map`, row for row."""
    from engine.data import get_dataset  # the registry builds (and keeps) the source; it imports this module

    source: ImageSet = get_dataset(source_name)
    return ImagePair(name, description, pixel_map(source.train_x), source.train_y, pixel_map(source.heldout_x),
                     source.heldout_y, source.max_value, source.n_classes, source.sizes,
                     source_train_x=source.train_x, source_heldout_x=source.heldout_x)


def mnist_negative() -> ImagePair:
    return _image_pair("mnist-negative", "mnist", lambda px: 255 - px,
                       "mnist -> its negative (255 - pixel: white digits become black on white)")


def sobel_edges(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1, H, W) -> the magnitude of the Sobel gradient, uint8, zero padding at the border; scaled so that
    a full step across a straight edge (4 x 255, the largest one axis can give) is 255, and clipped there."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)
    x = pixels.double()
    gx = torch.nn.functional.conv2d(x, kx.double(), padding=1)
    gy = torch.nn.functional.conv2d(x, kx.transpose(2, 3).double(), padding=1)
    magnitude = torch.sqrt(gx**2 + gy**2) / (4.0 * 255.0)
    return torch.round(magnitude * 255.0).clamp(0, 255).to(torch.uint8)


def mnist_edges() -> ImagePair:
    return _image_pair("mnist-edges", "mnist", sobel_edges,
                       "mnist -> its edges (the Sobel gradient's magnitude: outlines of the strokes)")


def mnist_rot90() -> ImagePair:
    return _image_pair("mnist-rot90", "mnist", lambda px: torch.rot90(px, 1, dims=(2, 3)).contiguous(),
                       "mnist -> mnist turned 90 degrees anticlockwise")
