"""Gradient penalties on D: a second table, orthogonal to the losses; the functions (torch) are in functions.py.

A penalty takes D (any callable from a batch of inputs to one score per row), the real and the fake batch as D
sees them (already packed, any trailing shape) and a torch generator, and returns a scalar to add to D's loss
before weighting. "WGAN-GP" is therefore a preset (loss wgan + penalty wgan_gp + n_critic + optimiser), not a loss.
Weight clipping (functions.clip_weights) is a constraint, not a penalty: the config's `clip`.
"""

from __future__ import annotations

from engine.lazy import resolve

# name -> its function in functions.py
PENALTIES: dict[str, str] = {"none": "no_penalty", "wgan_gp": "wgan_gp", "r1": "r1", "dragan": "dragan", "lp": "lp"}


def penalty_fn(name: str):
    """(d, real, fake, generator) -> the penalty, a scalar tensor."""
    return resolve(f"engine.penalties.functions:{PENALTIES[name]}")

