"""The one typed training configuration, its validation, and how presets and overrides resolve into it.

Every field carries its documentation, its allowed values (`choices`) or range (`lo`, `hi`) in the field's
metadata; the CLI's --help, the dashboard's launch form and the validation all read them from here, so a
field is described in exactly one place. Errors are `ConfigError`s whose message is one line naming the field
and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from engine import data as data_table
from engine import losses as loss_table
from engine import nets as net_table
from engine import penalties as penalty_table
from engine import variants as variant_table
from engine.presets import PRESETS


class ConfigError(ValueError):
    """A bad configuration: the message names the field and what is allowed."""


def _f(default: Any, doc: str, *, choices: tuple | None = None, lo: float | None = None,
       hi: float | None = None, group: str = "training", archs: tuple[str, ...] | None = None,
       modalities: tuple[str, ...] | None = None, variants: tuple[str, ...] | None = None) -> Any:
    """A config field: its doc, allowed values and form group; `archs` / `modalities` / `variants` where it means
    something only for those architectures, data or GAN variants (validate refuses it set elsewhere, forms show it
    only there)."""
    return field(default=default, metadata={"doc": doc, "choices": choices, "lo": lo, "hi": hi, "group": group,
                                            "archs": archs, "modalities": modalities, "variants": variants})


ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu")
INITS = ("default", "normal", "orthogonal")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
LOSSES = tuple(loss_table.LOSSES)
PENALTIES = tuple(penalty_table.PENALTIES)
DATASET_NAMES = tuple(data_table.DATASETS)
ARCH_NAMES = ("auto", *net_table.ARCHS)
MLP, POINTS, CONV = ("mlp",), ("points",), net_table.CONV_ARCHS
PROGAN, STYLEGAN, ATTENTION, BIGGAN = ("progan",), ("stylegan",), ("sagan", "biggan"), ("biggan",)
# the architectures whose weights the init fields set (progan's and stylegan's equalised layers set their own)
INITIALISED = tuple(name for name, entry in net_table.ARCHS.items() if not entry.own_init)
VARIANT_NAMES = tuple(variant_table.VARIANTS)
NOISY = tuple(name for name, entry in variant_table.VARIANTS.items() if entry.takes_noise)  # G takes a z


@dataclass
class TrainConfig:
    """Everything that defines one training run. Field metadata holds the doc and the allowed values."""

    # data
    dataset: str = _f("ring", "Data set: points ring (8 modes), grid (25 modes), spiral or moons (continuous); "
                              "images digits (8 x 8), mnist, fashion-mnist (28 x 28) or stacked-mnist (1,000 modes); "
                              "domain pairs (a source and its image under a known map, for pix2pix and cyclegan; the "
                              "target domain to any other variant) ring-rotated, grid-scaled, moons-mirrored, "
                              "mnist-negative, mnist-rot90, mnist-edges.",
                      choices=DATASET_NAMES, group="data")
    n_data: int = _f(0, "Size of a fixed training set reshuffled every epoch; 0 draws fresh samples every step.",
                     lo=0, hi=10_000_000, group="data")
    arch: str = _f("auto", "Architecture of G and D: mlp (points); dcgan, progan, stylegan, sagan or biggan (images); "
                           "or auto for the data's own (mlp, dcgan).", choices=ARCH_NAMES, group="data")
    # generator
    z_dim: int = _f(16, "Latent dimension of G.", lo=1, hi=4096, group="generator", variants=NOISY)
    latent: str = _f("normal", "Latent prior: standard normal or uniform on [-1, 1].",
                     choices=("normal", "uniform"), group="generator", variants=NOISY)
    g_width: int = _f(128, "Units per hidden layer of G.", lo=1, hi=8192, group="generator", archs=MLP)
    g_depth: int = _f(3, "Hidden layers of G.", lo=0, hi=32, group="generator", archs=MLP)
    g_act: str = _f("relu", "Hidden activation of G.", choices=ACTIVATIONS, group="generator", archs=MLP)
    g_bn: bool = _f(False, "BatchNorm after each hidden linear layer of G.", group="generator", archs=MLP)
    g_bias: bool = _f(True, "Bias in G's hidden linear layers (PacGAN's G has none).", group="generator", archs=MLP)
    g_channels: int = _f(64, "Channels of G's last hidden maps, doubling towards z at each stage.", lo=1,
                         hi=1024, group="generator", archs=CONV)
    conv_stages: int = _f(2, "Stride-2 stages of G (upsampling) and D (downsampling); the image's side must halve "
                             "this often (28 -> 14 -> 7 is 2; progan grows through these sides).", lo=1, hi=6,
                          group="generator", archs=CONV)
    phase_steps: int = _f(0, "ProGAN: steps of each phase (the base side, then a fade-in and a stable phase per "
                             "level); 0 splits the run's steps evenly into 2 conv_stages + 1 phases.", lo=0,
                          hi=100_000_000, group="generator", archs=PROGAN)
    w_dim: int = _f(64, "StyleGAN: dimension of the intermediate latent w (and of each layer's style).", lo=1,
                    hi=4096, group="generator", archs=STYLEGAN)
    mapping_layers: int = _f(4, "StyleGAN: layers of the mapping network z -> w (8 in the paper).", lo=1, hi=16,
                             group="generator", archs=STYLEGAN)
    style_mixing: float = _f(0.9, "StyleGAN: share of the training rows whose styles switch to a second latent's w "
                                  "at a random layer (style-mixing regularisation).", lo=0.0, hi=1.0,
                             group="generator", archs=STYLEGAN)
    attention_stage: int = _f(1, "SAGAN / BigGAN: the stage of G after which the self-attention block sits (side "
                                 "base x 2^k: 14 x 14 of 28 x 28 images at 1), at the same side in D; 0 leaves it "
                                 "out.", lo=0, hi=6, group="generator", archs=ATTENTION)
    g_spectral_norm: bool = _f(False, "Spectral normalisation of every G layer (SAGAN, BigGAN).", group="generator",
                               archs=ATTENTION)
    shared_dim: int = _f(32, "BigGAN: dimension of the shared embedding of the condition that feeds every "
                             "conditional BatchNorm.", lo=1, hi=1024, group="generator", archs=BIGGAN)
    g_init: str = _f("default", "Weight init of G: PyTorch default, normal(0, init_std^2) or orthogonal(init_gain).",
                     choices=INITS, group="generator", archs=INITIALISED)
    # discriminator
    d_width: int = _f(128, "Units per hidden layer of D.", lo=1, hi=8192, group="discriminator", archs=MLP)
    d_depth: int = _f(3, "Hidden layers of D.", lo=0, hi=32, group="discriminator", archs=MLP)
    d_act: str = _f("relu", "Hidden activation of D (ignored by maxout layers).", choices=ACTIVATIONS,
                    group="discriminator", archs=MLP)
    d_maxout: int = _f(0, "Maxout pieces per D unit (Goodfellow et al. 2013); 0 uses d_act instead.",
                       lo=0, hi=16, group="discriminator", archs=MLP)
    d_channels: int = _f(64, "Channels of D's first convolution, doubling at each stage.", lo=1, hi=1024,
                         group="discriminator", archs=CONV)
    d_init: str = _f("default", "Weight init of D: PyTorch default, normal(0, init_std^2) or orthogonal(init_gain).",
                     choices=INITS, group="discriminator", archs=INITIALISED)
    spectral_norm: bool = _f(False, "Spectral normalisation of every D layer (Miyato et al. 2018).",
                             group="discriminator")
    mbd_kernels: int = _f(0, "Minibatch-discrimination kernels appended to D's features (Salimans et al. 2016); "
                             "0 turns it off.", lo=0, hi=1024, group="discriminator")
    mbd_dim: int = _f(5, "Dimension of each minibatch-discrimination kernel.", lo=1, hi=256, group="discriminator")
    pack: int = _f(1, "PacGAN packing degree m: D judges m samples concatenated (Lin et al. 2018).",
                   lo=1, hi=16, group="discriminator")
    init_std: float = _f(0.02, "Std of the normal init (g_init/d_init = normal); biases start at zero.",
                         lo=0.0, hi=10.0, group="generator", archs=INITIALISED)
    init_gain: float = _f(1.0, "Gain of the orthogonal init (g_init/d_init = orthogonal).", lo=0.0, hi=10.0,
                          group="generator", archs=INITIALISED)
    # objective
    loss: str = _f("ns", "Adversarial loss: minimax (saturating G), ns (non-saturating), hinge, wgan, lsgan.",
                   choices=LOSSES, group="objective")
    penalty: str = _f("none", "Gradient penalty on D: wgan_gp (one-centred on interpolates), r1 (zero-centred on "
                              "real data), dragan (one-centred near real data), lp (one-sided on interpolates).",
                   choices=PENALTIES, group="objective")
    penalty_weight: float = _f(10.0, "Weight of the gradient penalty (R1: this is gamma/2).", lo=0.0, hi=1e6,
                               group="objective")
    clip: float = _f(0.0, "Clip every D weight to [-clip, clip] after each D step (WGAN); 0 turns it off.",
                     lo=0.0, hi=1e3, group="objective")
    ortho_reg: float = _f(0.0, "Orthogonal regularisation of G (Brock et al. 2019): this weight times the sum over "
                               "G's weight matrices W (a row per output unit) of ||W W^T - I||_F^2; 0 turns it off.",
                          lo=0.0, hi=1e3, group="objective")
    # variant
    variant: str = _f("gan", "What G and D take: gan (G(z), D(x)), cgan (both conditioned on the label), acgan (D "
                             "classifies too), infogan (codes Q recovers), bigan (an encoder; D judges (x, z) pairs), "
                             "pix2pix (paired translation: G(s, z), D judges (s, x) pairs, L1 to the truth), cyclegan "
                             "(unpaired translation both ways, the cycle loss).",
                      choices=VARIANT_NAMES, group="variant")
    projection: bool = _f(False, "cGAN's D projects the label onto its features (Miyato & Koyama 2018) instead of "
                                 "taking it concatenated to the sample.", group="variant", variants=("cgan",))
    ac_source_weight: float = _f(1.0, "AC-GAN: weight w_S of the source (adversarial) loss in both nets' "
                                      "objectives.", lo=0.0, hi=1e3, group="variant", variants=("acgan",))
    ac_class_weight: float = _f(1.0, "AC-GAN: weight w_C of the class head's cross-entropy (real and fake for D, "
                                     "fake for G).", lo=0.0, hi=1e3, group="variant", variants=("acgan",))
    info_cat: int = _f(0, "InfoGAN: values of the categorical code; 0 takes as many as the data's classes.", lo=0,
                       hi=1000, group="variant", variants=("infogan",))
    info_cont: int = _f(2, "InfoGAN: continuous codes, uniform on [-1, 1].", lo=0, hi=64, group="variant",
                        variants=("infogan",))
    info_cat_weight: float = _f(1.0, "InfoGAN: lambda of the categorical code's term of the bound.", lo=0.0, hi=1e3,
                                group="variant", variants=("infogan",))
    info_cont_weight: float = _f(0.1, "InfoGAN: lambda of the continuous codes' term (Gaussian, unit variance).",
                                 lo=0.0, hi=1e3, group="variant", variants=("infogan",))
    l1_weight: float = _f(100.0, "Pix2Pix: lambda of G's L1 distance to the paired truth (the paper's 100).",
                          lo=0.0, hi=1e4, group="variant", variants=("pix2pix",))
    cycle_weight: float = _f(10.0, "CycleGAN: lambda of the cycle loss |G(F(x)) - x|_1 + |F(G(y)) - y|_1 (the "
                                   "paper's 10).", lo=0.0, hi=1e4, group="variant", variants=("cyclegan",))
    identity_weight: float = _f(0.0, "CycleGAN: weight of the identity loss |F(y) - y|_1 + |G(x) - x|_1; 0 turns "
                                     "it off (the paper's is half the cycle weight).", lo=0.0, hi=1e4,
                                group="variant", variants=("cyclegan",))
    # optimisation
    steps: int = _f(10_000, "Training iterations (G updates).", lo=1, hi=100_000_000, group="optimisation")
    batch_size: int = _f(512, "Minibatch size of real and of fake samples.", lo=1, hi=1_000_000,
                         group="optimisation")
    seed: int = _f(0, "Random seed of data, latents, init and evaluation batch.", lo=0, hi=2**31 - 1,
                   group="optimisation")
    lr_g: float = _f(1e-4, "Learning rate of G (TTUR: set apart from lr_d).", lo=0.0, hi=10.0, group="optimisation")
    lr_d: float = _f(1e-4, "Learning rate of D.", lo=0.0, hi=10.0, group="optimisation")
    optimizer_g: str = _f("adam", "Optimiser of G.", choices=OPTIMIZERS, group="optimisation")
    optimizer_d: str = _f("adam", "Optimiser of D.", choices=OPTIMIZERS, group="optimisation")
    beta1_g: float = _f(0.5, "Adam beta1 (RMSprop alpha is beta2; SGD momentum is beta1) of G.", lo=0.0, hi=0.9999,
                        group="optimisation")
    beta2_g: float = _f(0.999, "Adam beta2 of G.", lo=0.0, hi=0.99999, group="optimisation")
    beta1_d: float = _f(0.5, "Adam beta1 of D.", lo=0.0, hi=0.9999, group="optimisation")
    beta2_d: float = _f(0.999, "Adam beta2 of D.", lo=0.0, hi=0.99999, group="optimisation")
    n_critic: int = _f(1, "D steps per G step.", lo=1, hi=100, group="optimisation")
    simultaneous: bool = _f(False, "Update G and D from gradients taken at the same parameters (PacGAN's code) "
                                   "instead of alternating D then G.", group="optimisation")
    # tricks
    label_smoothing: float = _f(0.0, "One-sided label smoothing: D's target for real data is 1 - this "
                                     "(BCE and least-squares losses).", lo=0.0, hi=0.5, group="tricks")
    label_flip: float = _f(0.0, "Probability of swapping the real and fake labels of each D sample.",
                           lo=0.0, hi=0.5, group="tricks")
    instance_noise: float = _f(0.0, "Std of Gaussian noise added to every D input, annealed linearly to 0 "
                                    "over training.", lo=0.0, hi=100.0, group="tricks")
    feature_matching: bool = _f(False, "G matches the mean of D's last hidden features on real data instead of "
                                       "fooling D (Salimans et al. 2016).", group="tricks")
    unrolled_steps: int = _f(0, "Unroll D's optimiser k steps on a fixed minibatch and back-propagate through the "
                                "unroll into G's loss (Metz et al. 2017); 0 turns it off.", lo=0, hi=50,
                             group="tricks")
    hist_avg: float = _f(0.0, "Weight of historical averaging: |theta - running mean of theta|^2 added to G's and "
                              "D's losses (Salimans et al. 2016).", lo=0.0, hi=1e4, group="tricks")
    replay: float = _f(0.0, "Share of each fake D batch drawn from a buffer of past fakes (experience replay).",
                       lo=0.0, hi=1.0, group="tricks")
    replay_size: int = _f(10_000, "Capacity of the experience-replay buffer, in samples.", lo=1, hi=10_000_000,
                          group="tricks")
    ema: float = _f(0.0, "Decay of an exponential moving average of G's weights, used for evaluation; 0 turns "
                         "it off.", lo=0.0, hi=0.99999, group="tricks")
    # sampling: how evaluation (and the Gallery) draws from G; training is not affected
    truncation: float = _f(0.0, "Truncation trick at sampling: the latent's noise drawn from the normal truncated to "
                                "[-t, t] (Brock et al. 2019); 0 turns it off.", lo=0.0, hi=10.0, group="sampling",
                           variants=NOISY)
    psi: float = _f(1.0, "StyleGAN: truncation in w at sampling, w-bar + psi (w - w-bar); 1 turns it off.", lo=-2.0,
                    hi=2.0, group="sampling", archs=STYLEGAN)
    # evaluation and logging
    eval_every: int = _f(1000, "Steps between snapshots, metrics and checkpoints; 0 turns them off (the final "
                               "step is still evaluated).", lo=0, hi=100_000_000, group="logging")
    eval_samples: int = _f(2500, "Size of the fixed evaluation latent batch (the protocol's N).", lo=10,
                           hi=1_000_000, group="logging", modalities=POINTS)
    grid_size: int = _f(64, "Points per side of the grid on which D and D* are recorded.", lo=8, hi=1024,
                        group="logging", modalities=POINTS)
    log_every: int = _f(10, "Steps between logged training scalars (losses, D outputs, gradient norms).",
                        lo=1, hi=1_000_000, group="logging")
    device: str = _f("auto", "Where to train: auto (CUDA when available), cpu or cuda.",
                     choices=("auto", "cpu", "cuda"), group="logging")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


FIELDS = {f.name: f for f in fields(TrainConfig)}


def _show(value: Any, limit: int = 80) -> str:
    """A value as it goes into a one-line error: repr, cut short, so an oversized input cannot flood it."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def coerce(name: str, raw: Any) -> Any:
    """Turn a raw value (a CLI string or a JSON value) into the field's type, or fail naming the field."""
    spec = FIELDS[name]
    kind = spec.type if isinstance(spec.type, type) else {"int": int, "float": float, "bool": bool, "str": str}[spec.type]
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return raw.lower() in ("true", "1", "yes", "on")
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        raise ConfigError(f"{name}: expected a boolean (true/false), got {_show(raw)}")
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(f"{name}: expected an integer, got {_show(raw)}")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        try:
            return int(str(raw).replace("_", ""))
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {_show(raw)}") from None
    if kind is float:
        if isinstance(raw, bool):
            raise ConfigError(f"{name}: expected a number, got {_show(raw)}")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {_show(raw)}") from None
        if not math.isfinite(value):
            raise ConfigError(f"{name}: expected a finite number, got {_show(raw)}")
        return value
    if not isinstance(raw, str):
        raise ConfigError(f"{name}: expected text, got {_show(raw)}")
    return raw


def allowed(name: str) -> str:
    """Human description of what a field allows, used in error messages and in --help."""
    meta = FIELDS[name].metadata
    if meta["choices"]:
        return "one of " + ", ".join(meta["choices"])
    if meta["lo"] is not None:
        return f"{meta['lo']:g} to {meta['hi']:g}"
    return "true or false" if FIELDS[name].type in (bool, "bool") else "any value"


def _check_allowed(name: str, value: Any) -> None:
    meta = FIELDS[name].metadata
    if meta["choices"] and value not in meta["choices"]:
        raise ConfigError(f"{name}: {_show(value)} is not allowed, use {allowed(name)}")
    if meta["lo"] is not None and not (meta["lo"] <= value <= meta["hi"]):
        shown = f"{value:g}" if isinstance(value, float) else value
        raise ConfigError(f"{name}: {shown} is out of range, allowed {allowed(name)}")


def check_value(name: str, raw: Any) -> Any:
    """One field's value on its own: typed and checked against its choices or range (the combinations of
    fields are `validate`'s). Returns the typed value; raises ConfigError naming the field."""
    if name not in FIELDS:
        raise ConfigError(f"{str(name)[:60]}: unknown field")
    value = coerce(name, raw)
    _check_allowed(name, value)
    return value


def _check_data_and_arch(cfg: TrainConfig) -> None:
    """The data set is installed, the architecture is built for its modality and fits its shape, and no field of
    another architecture or modality is set."""
    problem = data_table.missing(cfg.dataset)
    if problem:
        raise ConfigError(f"dataset: {problem}")
    entry = data_table.DATASETS[cfg.dataset]
    arch = net_table.arch_name(cfg.arch, entry.modality)
    if entry.modality not in net_table.ARCHS[arch].modalities:
        allowed_archs = [a for a, e in net_table.ARCHS.items() if entry.modality in e.modalities]
        raise ConfigError(f"arch: {arch} is not built for {entry.modality} ({cfg.dataset}), use auto or "
                          f"{', '.join(allowed_archs)}")
    for name, spec in FIELDS.items():
        meta, value = spec.metadata, getattr(cfg, name)
        if value == spec.default:
            continue
        if meta["archs"] and arch not in meta["archs"]:
            kind = "architecture" if len(meta["archs"]) == 1 else "architectures"
            raise ConfigError(f"{name}: only for the {', '.join(meta['archs'])} {kind}; {cfg.dataset} trains "
                              f"{arch}, leave it at {spec.default!r}")
        if meta["modalities"] and entry.modality not in meta["modalities"]:
            raise ConfigError(f"{name}: only for {', '.join(meta['modalities'])} data; {cfg.dataset} is "
                              f"{entry.modality}, leave it at {spec.default!r}")
        if meta["variants"] and cfg.variant not in meta["variants"]:
            raise ConfigError(f"{name}: only for the {', '.join(meta['variants'])} variant; this run is "
                              f"{cfg.variant}, leave it at {spec.default!r}")
    if arch in CONV:
        side = min(entry.shape[1:])
        if any(s % 2**cfg.conv_stages for s in entry.shape[1:]) or side // 2**cfg.conv_stages < 1:
            fits = [k for k in range(1, 7) if all(s % 2**k == 0 for s in entry.shape[1:])]
            raise ConfigError(f"conv_stages: {cfg.dataset}'s {side} x {side} images do not halve {cfg.conv_stages} "
                              f"times, allowed {fits[0]} to {fits[-1]}")


def _check_image_era(cfg: TrainConfig) -> None:
    """What the image-era architectures and the sampling rules need of the other fields."""
    if cfg.attention_stage > cfg.conv_stages:
        raise ConfigError(f"attention_stage: {cfg.attention_stage} is past G's last stage, allowed 0 to "
                          f"conv_stages ({cfg.conv_stages})")
    if cfg.arch == "biggan" and cfg.z_dim < cfg.conv_stages + 1:
        raise ConfigError(f"z_dim: biggan splits z into conv_stages + 1 = {cfg.conv_stages + 1} chunks, set at least "
                          f"{cfg.conv_stages + 1}")
    if cfg.truncation and cfg.latent != "normal":
        raise ConfigError("truncation: truncates a normal latent, set latent to normal or leave it at 0")


# What the plain GAN's tricks assume and the variants break: (field, is it on, why not with a variant)
PLAIN_GAN_ONLY = (
    ("pack", lambda c: c.pack > 1, "a pack mixes samples of different labels, codes or latents"),
    ("feature_matching", lambda c: c.feature_matching, "G would ignore the label, codes or pairs D judges"),
    ("unrolled_steps", lambda c: c.unrolled_steps > 0, "the unrolled D judges samples alone"),
    ("replay", lambda c: c.replay > 0, "a replayed fake has lost its label, codes or latent"),
)


def _check_variant(cfg: TrainConfig) -> None:
    """The variant's needs: classes to condition on or to size the code, and the tricks that still mean something."""
    if cfg.variant == "gan":
        return
    entry, classes = variant_table.VARIANTS[cfg.variant], data_table.DATASETS[cfg.dataset].n_classes
    if entry.needs_pairs and not data_table.DATASETS[cfg.dataset].source:
        raise ConfigError(f"variant: {cfg.variant} translates between the two domains of a pair data set, "
                          f"{cfg.dataset} is one domain; use one of {', '.join(data_table.PAIRS)}")
    if entry.needs_classes and not classes:
        with_classes = [n for n, d in data_table.DATASETS.items() if d.n_classes]
        raise ConfigError(f"variant: {cfg.variant} trains on the data's labels and {cfg.dataset} has none, use a "
                          f"data set with classes ({', '.join(with_classes)})")
    if cfg.variant == "infogan" and (cfg.info_cat == 1 or not (cfg.info_cat or classes)):
        raise ConfigError(f"info_cat: {cfg.info_cat} values, {cfg.dataset} has {classes} classes to size the code; "
                          "set 2 or more")
    for name, on, why in PLAIN_GAN_ONLY:
        if on(cfg):
            raise ConfigError(f"{name}: not with the {cfg.variant} variant ({why}), leave it at "
                              f"{FIELDS[name].default!r}")
    if cfg.variant == "bigan" and (cfg.penalty != "none" or cfg.mbd_kernels):
        name = "penalty" if cfg.penalty != "none" else "mbd_kernels"
        raise ConfigError(f"{name}: not with bigan, whose D judges (x, z) pairs: a penalty or minibatch statistics "
                          "of x alone would not see z; leave it off")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check every field's range and the combinations that cannot work together; return cfg."""
    for name in FIELDS:
        _check_allowed(name, getattr(cfg, name))
    _check_data_and_arch(cfg)
    _check_image_era(cfg)
    _check_variant(cfg)
    if cfg.batch_size % cfg.pack:
        raise ConfigError(f"batch_size: {cfg.batch_size} must be a multiple of pack ({cfg.pack})")
    if cfg.n_data and cfg.n_data < cfg.batch_size:
        raise ConfigError(f"n_data: {cfg.n_data} must be 0 or at least batch_size ({cfg.batch_size})")
    if cfg.label_smoothing and cfg.loss not in loss_table.REAL_TARGET:
        targets = loss_table.REAL_TARGET
        raise ConfigError(f"label_smoothing: only for {', '.join(targets[:-1])} and {targets[-1]} losses, "
                          f"not '{cfg.loss}'")
    if cfg.feature_matching and cfg.d_depth == 0 and cfg.mbd_kernels == 0:
        raise ConfigError("feature_matching: needs D hidden features, set d_depth >= 1")
    if cfg.unrolled_steps and (cfg.spectral_norm or cfg.simultaneous or cfg.n_critic > 1):
        raise ConfigError("unrolled_steps: cannot be combined with spectral_norm, simultaneous or n_critic > 1")
    if cfg.unrolled_steps and cfg.optimizer_d == "rmsprop":
        raise ConfigError("unrolled_steps: unrolls adam or sgd, not rmsprop (set optimizer_d)")
    if cfg.simultaneous and cfg.n_critic > 1:
        raise ConfigError("simultaneous: one D and one G update per step, so n_critic must be 1")
    if cfg.clip and cfg.spectral_norm:
        raise ConfigError("clip: weight clipping and spectral_norm both constrain D, choose one")
    return cfg


def parse_assignment(text: str, flag: str = "--set") -> tuple[str, str]:
    """'key=value' as typed after `flag` (the CLI's --set or --sweep, a form's box): the error names it."""
    if "=" not in text:
        raise ConfigError(f"{flag}: expected field=value, got {_show(text)}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, raw in overrides.items():
        if key not in FIELDS:
            raise ConfigError(f"{str(key)[:60]}: unknown field, see --help for the list of fields")
        out[key] = coerce(key, raw)
    return out


def preset_overrides(name: str) -> dict[str, Any]:
    """The fields a preset sets; ConfigError for a name that is no preset."""
    if name not in PRESETS:
        raise ConfigError(f"preset: unknown '{name}', allowed: {', '.join(PRESETS)}")
    return dict(PRESETS[name]["set"])


def build_config(preset: str | None = None, overrides: dict[str, Any] | None = None,
                 base: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then a config file's values (base), then a preset, then --set overrides; validated."""
    values = TrainConfig().to_dict()
    if base:
        values = apply_overrides(values, base)
    if preset:
        values = apply_overrides(values, preset_overrides(preset))
    if overrides:
        values = apply_overrides(values, overrides)
    return validate(TrainConfig(**values))


def load_json(path: str) -> dict[str, Any]:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"--config: file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config: {path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config: {path} must hold a JSON object of field: value")
    return data


def schema() -> list[dict[str, Any]]:
    """One dict per field (name, type, default, doc, choices, lo, hi, group, archs, modalities, variants) for forms
    and --help."""
    out = []
    for name, spec in FIELDS.items():
        meta = spec.metadata
        type_name = spec.type if isinstance(spec.type, str) else spec.type.__name__
        out.append({"name": name, "type": type_name, "default": spec.default, "doc": meta["doc"],
                    "choices": meta["choices"], "lo": meta["lo"], "hi": meta["hi"], "group": meta["group"],
                    "archs": meta["archs"], "modalities": meta["modalities"], "variants": meta["variants"]})
    return out
