"""The GAN variants: what G and D take and which terms the losses get. One registry, name -> VariantEntry; each
variant is a class in its own file (base.py holds the plain GAN the others extend), built from the config and the
data set, which the training loop asks for

- `nets() -> (G, D)`: the architecture's nets (engine/nets), wrapped for what the variant feeds them;
- `latent(n, generator, device, balanced) -> Latent`: what G takes (noise, and labels or codes);
- `judge_real` / `judge_fake`: D's scores of real and generated batches, with what its extra heads say;
- `d_extra` / `g_extra`: the terms the variant adds to D's and to G's loss;
- `critic(D, batch)`: D as a function of x alone, for the gradient penalties;
- `measure(...)`: its own metrics at every evaluation (engine/metrics/conditional.py).

So the loop never asks which variant it trains. The table is read without importing torch (the config's allowed
values, the launch form); `build` imports the variant's file.

| name    | G takes            | D judges        | extra terms                                        |
|---------|--------------------|-----------------|----------------------------------------------------|
| gan     | z                  | x               | none                                               |
| cgan    | z, one-hot y       | x, y            | none (concatenated or projected label)             |
| acgan   | z, one-hot y       | x; class head   | L_C: cross-entropy of the class head, D and G      |
| infogan | z, codes c         | x; Q head       | -lambda L_I: Q's log-likelihood of c, D(Q) and G   |
| bigan   | z; E maps x to z   | (x, z) pairs    | none: E and G share the G side of the loss         |
| pix2pix | z, a source s      | (s, x) pairs    | lambda L1 to the paired truth T(s)                 |
| cyclegan| s of X, or of Y    | D_Y: Y, D_X: X  | the cycle loss (and the identity loss)             |

A translation variant (needs_pairs) trains on a domain pair (engine/data/pairs.py): the variant's `draw` says whether
its batches are paired, `real` what D takes of them, `latent_for(real)` makes G's input of the batch's sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.lazy import resolve


@dataclass(frozen=True)
class VariantEntry:
    builder: str  # "module:Class", built as Class(cfg, dataset)
    doc: str
    source: str
    needs_classes: bool  # trains on the data's labels, or measures against them: refused on data without classes
    judges: str  # what D scores, in words: "x" alone, or the pairs it judges ("(x, label) pairs")
    snapshots: tuple[str, ...] = ()  # what its evaluations log beyond samples: labels / codes / translations (sources
    # and truths) beside them (arrays of the samples snapshot), confusion/ and reconstructions/ snapshots; the Gallery
    # offers the views of these
    needs_pairs: bool = False  # translates between the domains of a pair data set: refused on a single domain
    takes_noise: bool = True  # G draws a latent z (its size, prior and truncation apply); CycleGAN's nets take none

    @property
    def judges_x(self) -> bool:
        """D scores a sample alone: D against D*, the field of D on the plane, 1 - D(x) as an anomaly score."""
        return self.judges == "x"


VARIANTS: dict[str, VariantEntry] = {
    "gan": VariantEntry("engine.variants.base:Unconditional", "G(z) against D(x)", "Goodfellow et al. 2014",
                        False, "x"),
    "cgan": VariantEntry("engine.variants.cgan:ConditionalGAN",
                         "G(z, y) against D(x, y): the label concatenated to both inputs, or projected in D",
                         "Mirza & Osindero 2014; projection: Miyato & Koyama 2018", True, "(x, label) pairs",
                         ("labels", "confusion")),
    "acgan": VariantEntry("engine.variants.acgan:AuxiliaryClassifierGAN",
                          "G(z, y) against D(x) with a class head: L_D = L_S + L_C, L_G = L_C - L_S",
                          "Odena et al. 2017", True, "x", ("labels", "confusion")),
    "infogan": VariantEntry("engine.variants.infogan:InfoGAN",
                            "G(z, c) against D(x); Q on D's body recovers c, maximising a bound on I(c; G(z, c))",
                            "Chen et al. 2016", False, "x", ("codes",)),
    "bigan": VariantEntry("engine.variants.bigan:BiGAN",
                          "G(z) and an encoder E(x) against D judging (x, E(x)) and (G(z), z)",
                          "Donahue et al. 2017; Dumoulin et al. 2017 (ALI)", False, "(x, z) pairs",
                          ("reconstructions",)),
    "pix2pix": VariantEntry("engine.variants.pix2pix:Pix2Pix",
                            "G(s, z) translates a source s; D judges (s, x) pairs; plus lambda |T(s) - G(s, z)|_1 "
                            "to the paired truth", "Isola et al. 2017", False, "(source, x) pairs", ("translations",),
                            needs_pairs=True),
    "cyclegan": VariantEntry("engine.variants.cyclegan:CycleGAN",
                             "F: X -> Y and G: Y -> X from unpaired draws, D_Y and D_X, the cycle loss "
                             "lambda (|G(F(x)) - x|_1 + |F(G(y)) - y|_1), optionally the identity loss",
                             "Zhu et al. 2017", False, "x by its domain's D", ("translations",), needs_pairs=True,
                             takes_noise=False),
}


def build(cfg: Any, dataset) -> Any:
    """The config's variant for this data set (its nets are built by `nets()`)."""
    return resolve(VARIANTS[cfg.variant].builder)(cfg, dataset)


__all__ = ["VARIANTS", "VariantEntry", "build"]
