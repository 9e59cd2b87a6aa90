"""Presets as data: named overrides of TrainConfig, each with a one-line description and its source.

A preset is never code: "WGAN-GP" is the Wasserstein loss + the gradient penalty + n_critic + its optimiser
settings. Anything a preset sets can still be overridden with --set. This module imports nothing of the engine:
engine.config reads it (build_config) and checks every preset's values like any other.
"""

from __future__ import annotations

from typing import Any

PROTOCOL_A = {
    # PacGAN's code (Lin et al. 2018): see ../shared/reference/toy-protocol.md, protocol A.
    "z_dim": 2, "latent": "normal",
    "g_width": 400, "g_depth": 4, "g_act": "relu", "g_bn": True, "g_bias": False, "g_init": "normal",
    "d_width": 200, "d_depth": 3, "d_maxout": 5, "d_init": "normal", "init_std": 0.02,
    "loss": "ns", "lr_g": 1e-4, "lr_d": 1e-4, "beta1_g": 0.8, "beta2_g": 0.999, "beta1_d": 0.8, "beta2_d": 0.999,
    "batch_size": 100, "n_data": 100_000, "simultaneous": True, "steps": 400_000,
}

PROTOCOL_B = {
    # The small-network lineage of VEEGAN / unrolled-GAN baselines: toy-protocol.md, protocol B. The unrolled-GAN
    # notebook builds G and D under one orthogonal(1.4) initialiser scope, so D gets it too.
    "z_dim": 256, "latent": "normal",
    "g_width": 128, "g_depth": 2, "g_act": "tanh", "g_init": "orthogonal",
    "d_width": 128, "d_depth": 2, "d_act": "tanh", "d_init": "orthogonal", "init_gain": 1.4,
    "loss": "ns", "lr_g": 1e-3, "lr_d": 1e-4, "beta1_g": 0.5, "beta2_g": 0.999, "beta1_d": 0.5, "beta2_d": 0.999,
    "batch_size": 512, "n_data": 0, "steps": 25_000, "n_critic": 1, "simultaneous": False,
}

DCGAN = {
    # Radford et al. 2016, sec. 4: Adam 2e-4, beta1 0.5, minibatch 128, weights from N(0, 0.02), z of 100; the nets
    # are engine/nets/dcgan.py at 64 channels. The step count fits a CPU; raise it where a GPU is lent.
    "dataset": "mnist", "arch": "dcgan", "z_dim": 100, "g_channels": 64, "d_channels": 64, "conv_stages": 2,
    "g_init": "normal", "d_init": "normal", "init_std": 0.02, "loss": "ns", "lr_g": 2e-4, "lr_d": 2e-4,
    "beta1_g": 0.5, "beta2_g": 0.999, "beta1_d": 0.5, "beta2_d": 0.999, "batch_size": 128, "steps": 5_000,
    "eval_every": 1_000,
}

# The image-era architectures (engine/nets), each at the sizes of 28 x 28 data with its paper's objective and
# optimiser; widths and step counts fit a CPU (raise them where a GPU is lent). What the papers set that is not here:
# ProGAN's drift term (0.001 E[D(x)^2]), StyleGAN's 8-layer mapping with a 100x lower learning rate and its blur,
# BigGAN's moving averages of BatchNorm statistics for sampling. fashion-mnist, to compare with DCGAN on one page.
IMAGE_ERA = {"dataset": "fashion-mnist", "z_dim": 128, "g_channels": 32, "d_channels": 32, "conv_stages": 2,
             "batch_size": 64, "steps": 6_000, "eval_every": 1_000}
PROGAN = {
    # Karras et al. 2018, sec. 4 and A.1: WGAN-GP (lambda 10, one critic step), Adam 0.001 (0, 0.99); the phases
    # split the run evenly (their 800k images per phase at a CPU's scale).
    **IMAGE_ERA, "arch": "progan", "loss": "wgan", "penalty": "wgan_gp", "penalty_weight": 10.0, "n_critic": 1,
    "lr_g": 1e-3, "lr_d": 1e-3, "beta1_g": 0.0, "beta2_g": 0.99, "beta1_d": 0.0, "beta2_d": 0.99,
}
STYLEGAN = {
    # Karras et al. 2019, sec. 2 and C: the non-saturating loss with R1 (gamma 10: penalty_weight is gamma / 2),
    # Adam 0.001 (0, 0.99), style mixing on 90% of the rows; psi 0.7 is the paper's truncation for its figures.
    **IMAGE_ERA, "arch": "stylegan", "w_dim": 128, "mapping_layers": 4, "style_mixing": 0.9, "loss": "ns",
    "penalty": "r1", "penalty_weight": 5.0, "lr_g": 1e-3, "lr_d": 1e-3, "beta1_g": 0.0, "beta2_g": 0.99,
    "beta1_d": 0.0, "beta2_d": 0.99,
}
SAGAN = {
    # Zhang et al. 2019, sec. 5: the hinge loss, spectral norm in G and D, TTUR (G 1e-4, D 4e-4), Adam (0, 0.9);
    # attention on the 14 x 14 maps (their best: the middle-to-high feature maps).
    **IMAGE_ERA, "arch": "sagan", "attention_stage": 1, "loss": "hinge", "spectral_norm": True,
    "g_spectral_norm": True, "lr_g": 1e-4, "lr_d": 4e-4, "beta1_g": 0.0, "beta2_g": 0.9, "beta1_d": 0.0,
    "beta2_d": 0.9,
}
BIGGAN = {
    # Brock et al. 2019, sec. 3-4 and B: class-conditional (cGAN with a projection D), the hinge loss, spectral norm
    # in both nets, orthogonal init and regularisation (1e-4), G 1e-4 / D 4e-4 with Adam (0, 0.999), two D steps;
    # truncation is a sampling setting (`truncation`, the Gallery's slider).
    **IMAGE_ERA, "arch": "biggan", "variant": "cgan", "projection": True, "shared_dim": 32, "attention_stage": 1,
    "loss": "hinge", "spectral_norm": True, "g_spectral_norm": True, "ortho_reg": 1e-4, "g_init": "orthogonal",
    "d_init": "orthogonal", "lr_g": 1e-4, "lr_d": 4e-4, "beta1_g": 0.0, "beta2_g": 0.999, "beta1_d": 0.0,
    "beta2_d": 0.999, "n_critic": 2,
}

# The translation GANs on domain pairs whose map is known (engine/data/pairs.py). Both papers: Adam 2e-4, beta1 0.5.
# Pix2Pix (Isola et al. 2017, sec. 3-4): the original GAN objective (non-saturating for G), lambda = 100. CycleGAN
# (Zhu et al. 2017, sec. 4-7): the least-squares loss, lambda = 10, identity off but for photo <-> painting. On
# points, the toy MLPs at the size of the toy presets; on images, the DCGAN nets of the dcgan preset at 32 channels
# (G's input is z and the source image flattened); step counts fit a CPU.
TRANSLATION_POINTS = {"dataset": "ring-rotated", "g_width": 128, "g_depth": 3, "d_width": 128, "d_depth": 3,
                      "lr_g": 2e-4, "lr_d": 2e-4, "beta1_g": 0.5, "beta1_d": 0.5, "batch_size": 256, "steps": 5_000,
                      "eval_every": 1_000}
TRANSLATION_IMAGES = {**{k: v for k, v in DCGAN.items() if k != "z_dim"}, "dataset": "mnist-negative",
                      "g_channels": 32, "d_channels": 32, "batch_size": 64, "steps": 3_000}
PIX2PIX = {"variant": "pix2pix", "loss": "ns", "l1_weight": 100.0}  # z: 2 on points, DCGAN's 100 on images
CYCLEGAN = {"variant": "cyclegan", "loss": "lsgan", "cycle_weight": 10.0}  # F and G take no z

PRESETS: dict[str, dict[str, Any]] = {
    "vanilla": {"doc": "Original minimax GAN: G minimises log(1 - D(G(z))), which saturates early.",
                "source": "Goodfellow et al. 2014", "set": {"loss": "minimax"}},
    "ns": {"doc": "Non-saturating GAN: G maximises log D(G(z)).",
           "source": "Goodfellow et al. 2014, sec. 3", "set": {"loss": "ns"}},
    "hinge": {"doc": "Hinge loss for D, -D(G(z)) for G.",
              "source": "Lim & Ye 2017; Miyato et al. 2018", "set": {"loss": "hinge"}},
    "wgan": {"doc": "Wasserstein critic with weight clipping 0.01, 5 critic steps, RMSprop 5e-5.",
             "source": "Arjovsky et al. 2017, Algorithm 1",
             "set": {"loss": "wgan", "clip": 0.01, "n_critic": 5, "optimizer_g": "rmsprop", "optimizer_d": "rmsprop",
                     "lr_g": 5e-5, "lr_d": 5e-5, "beta2_g": 0.99, "beta2_d": 0.99}},
    "wgan-gp": {"doc": "Wasserstein critic with a one-centred gradient penalty (10) on interpolates, 5 critic steps.",
                "source": "Gulrajani et al. 2017, Algorithm 1 (toy settings of their code)",
                "set": {"loss": "wgan", "penalty": "wgan_gp", "penalty_weight": 10.0, "n_critic": 5,
                        "lr_g": 1e-4, "lr_d": 1e-4, "beta1_g": 0.5, "beta2_g": 0.9, "beta1_d": 0.5,
                        "beta2_d": 0.9}},
    "lsgan": {"doc": "Least-squares GAN with targets a=0, b=1, c=1.", "source": "Mao et al. 2017",
              "set": {"loss": "lsgan"}},
    "sngan": {"doc": "Spectral normalisation of every D layer with the hinge loss.",
              "source": "Miyato et al. 2018", "set": {"loss": "hinge", "spectral_norm": True, "lr_g": 2e-4,
                                                      "lr_d": 2e-4, "beta1_g": 0.5, "beta1_d": 0.5}},
    "r1": {"doc": "Non-saturating GAN with the zero-centred R1 penalty on real data (gamma = 10).",
           "source": "Mescheder et al. 2018", "set": {"loss": "ns", "penalty": "r1", "penalty_weight": 5.0}},
    "dragan": {"doc": "Non-saturating GAN with DRAGAN's one-centred penalty around perturbed real data.",
               "source": "Kodali et al. 2017", "set": {"loss": "ns", "penalty": "dragan", "penalty_weight": 10.0}},
    "unrolled": {"doc": "Protocol B with D unrolled 5 steps inside G's loss.",
                 "source": "Metz et al. 2017; toy-protocol.md protocol B", "set": {**PROTOCOL_B, "unrolled_steps": 5}},
    "pacgan2": {"doc": "Non-saturating GAN whose D judges packs of 2 samples.",
                "source": "Lin et al. 2018", "set": {"loss": "ns", "pack": 2}},
    "pacgan4": {"doc": "Non-saturating GAN whose D judges packs of 4 samples.",
                "source": "Lin et al. 2018", "set": {"loss": "ns", "pack": 4}},
    "featmatch": {"doc": "G matches the mean of D's last hidden features on real data.",
                  "source": "Salimans et al. 2016, sec. 3.1", "set": {"loss": "ns", "feature_matching": True}},
    "mbdisc": {"doc": "D sees minibatch-discrimination features (50 kernels of dimension 5).",
               "source": "Salimans et al. 2016, sec. 3.2", "set": {"loss": "ns", "mbd_kernels": 50, "mbd_dim": 5}},
    "best-grid": {"doc": "GANboard's best grid-25 recipe so far: non-saturating loss, packs of 2, R1 (weight 1), EMA "
                          "0.999 of G, Adam 1e-3 for both nets, 20k steps on the default nets. All 25 modes in 5/5 "
                          "seeds but HQ varies by seed: short of the 95 % target (docs/results.md).",
                  "source": "bench/search_grid.py, candidate pack2-r1-ema-lr10; docs/results.md, stage 2",
                  "set": {"dataset": "grid", "steps": 20_000, "eval_every": 2_000, "loss": "ns", "pack": 2,
                          "penalty": "r1", "penalty_weight": 1.0, "ema": 0.999, "lr_g": 1e-3, "lr_d": 1e-3}},
    "quickstart": {"doc": "A first look in about a minute on a laptop CPU: the ring at Adam 1e-3 for 3k steps, batch "
                          "256, where losses already differ in modes and HQ (the Launch page's first sweep).",
                   "source": "GANboard: bench/first_sweep.py, docs/results.md",
                   "set": {"dataset": "ring", "steps": 3_000, "batch_size": 256, "lr_g": 1e-3, "lr_d": 1e-3,
                           "eval_every": 250}},
    "protocol-a": {"doc": "Reference protocol A exactly: PacGAN's code (maxout D, BN G, 400k steps; pack via --set).",
                   "source": "Lin et al. 2018; toy-protocol.md protocol A", "set": PROTOCOL_A},
    "protocol-b": {"doc": "Reference protocol B exactly: 2x128 tanh nets, TTUR 1e-3/1e-4, 25k steps.",
                   "source": "Metz et al. 2017, Srivastava et al. 2017; toy-protocol.md protocol B",
                   "set": PROTOCOL_B},
    "dcgan": {"doc": "DCGAN on mnist: transposed-convolution G, strided-convolution D, BatchNorm, Adam 2e-4.",
              "source": "Radford et al. 2016", "set": DCGAN},
    "dcgan-wgan-gp": {"doc": "DCGAN nets with the Wasserstein loss and gradient penalty 10 (D without BatchNorm), "
                             "5 critic steps, Adam 1e-4 (0.5, 0.9).",
                      "source": "Gulrajani et al. 2017, the MNIST settings of their code",
                      "set": {**DCGAN, "loss": "wgan", "penalty": "wgan_gp", "penalty_weight": 10.0, "n_critic": 5,
                              "lr_g": 1e-4, "lr_d": 1e-4, "beta2_g": 0.9, "beta2_d": 0.9, "batch_size": 64}},
    "dcgan-sngan": {"doc": "DCGAN nets with the hinge loss and spectral norm on every D layer (no BatchNorm in D).",
                    "source": "Miyato et al. 2018, setting C (Adam 2e-4, 0.5, 0.999, one D step)",
                    "set": {**DCGAN, "loss": "hinge", "spectral_norm": True}},
    "pacdcgan2": {"doc": "PacDCGAN on stacked-mnist: the DCGAN whose D judges packs of 2 images as 2 x 3 channels.",
                  "source": "Lin et al. 2018, sec. 5 (stacked MNIST)",
                  "set": {**DCGAN, "dataset": "stacked-mnist", "pack": 2, "eval_every": 2_500}},
    # The conditional and inference GANs on the toy mixtures, on protocol B's networks (toy-protocol.md), where every
    # mode is a class whose truth is known; and on mnist with the DCGAN nets.
    "cgan": {"doc": "Conditional GAN on grid-25: G(z, y) and D(x, y) with the one-hot label concatenated to both.",
             "source": "Mirza & Osindero 2014", "set": {**PROTOCOL_B, "dataset": "grid", "variant": "cgan"}},
    "cgan-projection": {"doc": "cGAN on grid-25 whose D projects the label onto its features, hinge loss and spectral "
                               "norm.", "source": "Miyato & Koyama 2018",
                        "set": {**PROTOCOL_B, "dataset": "grid", "variant": "cgan", "projection": True,
                                "loss": "hinge", "spectral_norm": True}},
    "acgan": {"doc": "AC-GAN on grid-25: G(z, y), D(x) with a class head; L_D = L_S + L_C, L_G = L_C - L_S.",
              "source": "Odena et al. 2017", "set": {**PROTOCOL_B, "dataset": "grid", "variant": "acgan"}},
    "infogan": {"doc": "InfoGAN on grid-25: a 25-valued code and 2 continuous ones that Q recovers from D's body.",
                "source": "Chen et al. 2016", "set": {**PROTOCOL_B, "dataset": "grid", "variant": "infogan"}},
    "ali": {"doc": "ALI / BiGAN on the ring: an encoder E and a D judging (x, E(x)) against (G(z), z), protocol B's "
                   "nets.", "source": "Dumoulin et al. 2017; Donahue et al. 2017",
            "set": {**PROTOCOL_B, "variant": "bigan"}},
    "wgan-lp": {"doc": "Wasserstein critic with the one-sided Lipschitz penalty (10) on interpolates, 5 critic steps.",
                "source": "Petzka et al. 2018", "set": {"loss": "wgan", "penalty": "lp", "penalty_weight": 10.0,
                                                        "n_critic": 5, "beta1_g": 0.5, "beta2_g": 0.9,
                                                        "beta1_d": 0.5, "beta2_d": 0.9}},
    "acgan-mnist": {"doc": "AC-GAN with the DCGAN nets on mnist: G(z, y), D's class head on its last convolution.",
                    "source": "Odena et al. 2017", "set": {**DCGAN, "variant": "acgan"}},
    "progan": {"doc": "Progressive GAN on fashion-mnist: 7 -> 14 -> 28, each level faded in; WGAN-GP, Adam 1e-3 (0, 0.99).",
               "source": "Karras et al. 2018", "set": PROGAN},
    "stylegan": {"doc": "StyleGAN on fashion-mnist: mapping network, AdaIN styles, noise, style mixing; NS loss + R1.",
                 "source": "Karras et al. 2019", "set": STYLEGAN},
    "sagan": {"doc": "SAGAN on fashion-mnist: self-attention at 14 x 14 in G and D, hinge loss, spectral norm in both, "
                     "TTUR 1e-4 / 4e-4.", "source": "Zhang et al. 2019", "set": SAGAN},
    "biggan": {"doc": "BigGAN on fashion-mnist: class-conditional BatchNorm from a shared embedding, projection D, "
                      "hinge, orthogonal regularisation.", "source": "Brock et al. 2019", "set": BIGGAN},
    "infogan-mnist": {"doc": "InfoGAN with the DCGAN nets on mnist: a 10-valued code and 2 continuous codes.",
                      "source": "Chen et al. 2016, sec. 7.1 (one categorical code of 10, two continuous)",
                      "set": {**DCGAN, "variant": "infogan", "info_cat": 10, "info_cont": 2}},
    "pix2pix-ring": {"doc": "Pix2Pix on ring-rotated: G(s, z) turns the ring by half a mode from paired draws; L1 "
                            "(lambda 100) to the truth.", "source": "Isola et al. 2017",
                     "set": {**TRANSLATION_POINTS, **PIX2PIX, "z_dim": 2}},
    "cyclegan-ring": {"doc": "CycleGAN on ring-rotated from unpaired draws: F and G, least squares, cycle 10. Which "
                             "mode goes where is not identified by the losses; the truth shows what it learnt.",
                      "source": "Zhu et al. 2017", "set": {**TRANSLATION_POINTS, **CYCLEGAN}},
    "pix2pix-mnist": {"doc": "Pix2Pix on mnist-negative (mnist -> its negative) with the DCGAN nets, L1 lambda 100.",
                      "source": "Isola et al. 2017", "set": {**TRANSLATION_IMAGES, **PIX2PIX, "z_dim": 100}},
    "cyclegan-mnist": {"doc": "CycleGAN on mnist-negative from unpaired draws with the DCGAN nets, least squares, "
                              "cycle 10.", "source": "Zhu et al. 2017", "set": {**TRANSLATION_IMAGES, **CYCLEGAN}},
}


# What the Launch page opens on: a sweep whose six runs finish in about a minute on a 2-core CPU and already tell
# the losses apart (ns covers part of the ring, hinge all of it, lsgan collapses): bench/first_sweep.py measures it.
FIRST_SWEEP: dict[str, Any] = {"preset": "quickstart", "sweep": {"loss": ["ns", "hinge", "lsgan"]}, "seeds": 2}


def describe_presets() -> list[str]:
    """One line per preset: name first, then its description and source."""
    width = max(map(len, PRESETS))
    return [f"{name:<{width}}  {p['doc']} [{p['source']}]" for name, p in PRESETS.items()]
