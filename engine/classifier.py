"""The feature network of each image data set: a small CNN classifier trained here, on the training split only, at
first use (image-protocol.md: no pretrained Inception exists offline).

Its softmax p(y | x) feeds the Inception Score and the class (mode) histogram; its penultimate layer (FEATURES
ReLU units) feeds FID, KID and the k-NN metrics. Training is deterministic (fixed seed, one thread, a fixed number
of epochs per data set) and takes seconds for digits and mnist and about two minutes for fashion-mnist on one core.
The trained net is cached in `cache_dir()/classifiers/` under its key, the data set's name and a hash of the code
that defines it (this file and engine/data/images.py): a number is comparable only with numbers from the same
classifier, so every run logs the key (tag ganboard.classifier) and its held-out accuracy (classifier/accuracy).
Processes that need the same classifier at once wait on a file lock, and one of them trains it.

stacked-mnist has no classifier of its own: each of its three channels goes through mnist's, p(y | x) is the product
of the three channels' over the 1,000 triples, and the features are the three channels' concatenated.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from engine.data import get_dataset

FEATURES = 64  # penultimate units: the feature space of FID, KID and the k-NN metrics
SEED = 0
BATCH = 128
EXAMPLES = 45_000  # training examples seen (epochs = EXAMPLES / training-set size, at least 4, at most 30)
CHUNK = 1000  # images per forward pass when scoring: bounds memory for any number of samples


def code_version() -> str:
    """A hash of the code that defines a classifier: its net and training here, its data's decoding."""
    sources = [Path(__file__), Path(__file__).parent / "data" / "images.py"]
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:10]


class ClassifierNet(nn.Module):
    """Two stride-2 convolutions + ReLU (5 x 5 to 32 channels, 3 x 3 to 64), a FEATURES-unit ReLU layer, a linear
    head. Strided rather than pooled: scoring the 78,000 channels of a stacked-mnist evaluation stays a few seconds."""

    def __init__(self, shape: tuple[int, int, int], n_classes: int):
        super().__init__()
        channels, height, width = shape
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(64 * (height // 4) * (width // 4), FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, n_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(logits, penultimate features) of images in [-1, 1]."""
        features = self.body(x)
        return self.head(features), features


def _train(name: str) -> dict:
    """Train the classifier of data set `name` deterministically; its state, held-out accuracy and timing."""
    data = get_dataset(name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            net = ClassifierNet(data.shape, data.n_classes)
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            x, y = data.scale(data.train_x), data.train_y
            epochs = int(np.clip(round(EXAMPLES / len(x)), 4, 30))
            gen = torch.Generator().manual_seed(SEED)
            t0 = time.perf_counter()
            net.train()
            for _ in range(epochs):
                for rows in torch.randperm(len(x), generator=gen).split(BATCH):
                    loss = nn.functional.cross_entropy(net(x[rows])[0], y[rows])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
            seconds = time.perf_counter() - t0
        net.eval()
        held = data.heldout()
        with torch.no_grad():
            predicted = torch.cat([net(chunk)[0].argmax(1) for chunk in held.x.split(CHUNK)])
        accuracy = float((predicted == held.y).float().mean())
    finally:
        torch.set_num_threads(threads)
    return {"state": net.state_dict(), "accuracy": accuracy, "epochs": epochs, "train_s": seconds}


def cache_path(name: str) -> Path:
    from engine.tracking import cache_dir

    return cache_dir() / "classifiers" / f"{name}-{code_version()}.pt"


@dataclass
class Classifier:
    """A trained classifier of one data set: its net (eval mode), key and held-out accuracy."""

    net: ClassifierNet
    key: str
    accuracy: float

    @torch.no_grad()
    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(logits, features) of images (N, C, H, W) in [-1, 1], CHUNK at a time."""
        out = [self.net(chunk) for chunk in x.split(CHUNK)]
        return torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out])


@lru_cache(maxsize=None)
def load(name: str) -> Classifier:
    """The classifier of data set `name`: from the cache, or trained now (under a lock) and cached."""
    path = cache_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here while the first trains
        if not path.exists():
            trained = _train(name)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            torch.save(trained, tmp)
            os.replace(tmp, path)
    stored = torch.load(path, weights_only=True)
    data = get_dataset(name)
    net = ClassifierNet(data.shape, data.n_classes)
    net.load_state_dict(stored["state"])
    net.eval()
    return Classifier(net, path.stem, stored["accuracy"])


class Scorer:
    """What an image data set's metrics read off images: log p(y | x) over its classes and its feature vectors."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.channels = bool(dataset.classifier_data)  # stacked: one classifier per channel
        self.classifier = load(dataset.classifier_data or dataset.name)

    @property
    def key(self) -> str:
        return self.classifier.key

    @property
    def accuracy(self) -> float:
        return self.classifier.accuracy

    def __call__(self, x: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(log-probabilities (N, K), features (N, F)) of images in [-1, 1], as float32 numpy."""
        if not self.channels:
            logits, features = self.classifier(x)
            return torch.log_softmax(logits, 1).numpy(), features.numpy()
        per_channel = [self.classifier(x[:, c:c + 1]) for c in range(x.shape[1])]
        logp = [torch.log_softmax(logits, 1) for logits, _ in per_channel]
        # log p(d0, d1, d2 | x) = sum of the channels' log p, the triple (d0, d1, d2) at index 100 d0 + 10 d1 + d2
        joint = logp[0][:, :, None, None] + logp[1][:, None, :, None] + logp[2][:, None, None, :]
        return joint.flatten(1).numpy(), torch.cat([f for _, f in per_channel], 1).numpy()
