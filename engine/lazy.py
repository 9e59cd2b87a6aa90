"""Registry rows that name their implementation instead of importing it, so that a registry can be read (its
names, its documentation, what each entry is) without importing torch: the config's allowed values, the CLI's
--help and the dashboard come from the same tables as the training loop."""

from __future__ import annotations

import importlib
from typing import Any


def resolve(target: Any) -> Any:
    """'engine.losses.functions:non_saturating' -> that object, its module imported on first use; a callable
    is returned as it is (a test may put one in a registry row)."""
    if callable(target):
        return target
    module, _, name = str(target).partition(":")
    return getattr(importlib.import_module(module), name)
