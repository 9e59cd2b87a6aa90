"""Sweeps: what one submit asks for, turned into the validated configs of its runs. Creates nothing."""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from engine.config import (
    ConfigError,
    TrainConfig,
    build_config,
    check_value,
    parse_assignment,
)
from engine.launch.base import MAX_SUBMIT_DEFAULT, LaunchError


def parse_sweep(items: list[str], flag: str = "--sweep") -> dict[str, list[Any]]:
    """`field=v1,v2` items into {field: typed values}. Every value is checked on its own (type, choices, range)
    and a field or a value given twice is refused; errors start with `flag`, the place the items were typed
    (the CLI's --sweep, a form's box)."""
    from engine.presets import PRESETS

    sweep: dict[str, list[Any]] = {}
    for item in items:
        key, values = parse_assignment(item, flag)
        if key in sweep:
            raise LaunchError(f"{flag}: {key} is given twice; list its values once, e.g. {key}=a,b", key)
        listed = [v.strip() for v in values.split(",") if v.strip()]
        if not listed:
            raise LaunchError(f"{flag}: {key} has no values, give e.g. {key}=a,b", key)
        if key == "preset":
            unknown = [v for v in listed if v not in PRESETS]
            if unknown:
                raise LaunchError(f"{flag}: preset '{unknown[0]}' is unknown, allowed: {', '.join(PRESETS)}", key)
            typed: list[Any] = listed
        else:
            try:
                typed = [check_value(key, v) for v in listed]
            except ConfigError as exc:
                raise LaunchError(f"{flag}: {exc}", key) from None
        for i, value in enumerate(typed):
            if value in typed[:i]:
                first = listed[typed.index(value)]
                what = f"{first} twice" if first == listed[i] else f"{first} and {listed[i]}, one value"
                raise LaunchError(f"{flag}: {key} lists {what} (the same runs twice); give each value once", key)
        sweep[key] = typed
    return sweep


def seed_lists(base_seed: int, seeds: int | list[int], sweep: dict[str, list[Any]], seed_set: bool) -> list[int] | None:
    """The seeds of a combination whose own seed is `base_seed`: `seeds` seeds from it (a count), or the listed
    ones; None when the sweep has a seed axis (each combination then has its own). Refuses the contradictions: a
    seed axis with a count above 1 or a list of seeds, or a seed axis or a list beside a seed that was set
    (`seed_set`)."""
    if "seed" in sweep:
        swept = ", ".join(str(s) for s in sweep["seed"])
        if isinstance(seeds, list) or seeds != 1:
            count = len(seeds) if isinstance(seeds, list) else seeds
            raise LaunchError(f"seeds: {count} seeds per combination and a sweep over seed ({swept}); give the "
                              f"seeds one way: the sweep with 1 seed per combination, or a start seed and a count",
                              "seeds")
        if seed_set:
            raise LaunchError(f"seed: set to {base_seed} and swept over {swept}; give the seed one way", "seed")
        return None
    if isinstance(seeds, list):
        if seed_set and seeds != [base_seed]:
            raise LaunchError(f"seed: set to {base_seed} and also given as seeds {seeds}; give the seed one way",
                              "seed")
        if len(set(seeds)) < len(seeds):
            raise LaunchError(f"seeds: {seeds} repeats a seed (the same run twice)", "seeds")
        return list(seeds)
    return list(range(base_seed, base_seed + seeds))


def expand(preset: str | None, overrides: dict[str, Any], sweep: dict[str, list[Any]] | None = None,
           seeds: int | list[int] = 1, max_runs: int | None = None) -> list[tuple[str | None, TrainConfig]]:
    """(preset, config) for the cartesian product of the sweep values times the seeds, each validated;
    nothing is created here.

    A sweep over `preset` picks the preset per run; other keys override config fields. `seeds` is a count (that
    many seeds from the run's own seed: the `seed` override, else the preset's, else 0) or a list of seeds; a
    sweep over `seed` gives the seeds itself, with a count of 1.
    """
    sweep = dict(sweep or {})
    if (seeds if isinstance(seeds, int) else len(seeds)) < 1:
        raise LaunchError("seeds: at least one seed is needed", "seeds")
    max_runs = max_runs or int(os.environ.get("GANBOARD_MAX_SUBMIT", MAX_SUBMIT_DEFAULT))
    keys = list(sweep)
    combos = list(itertools.product(*(sweep[k] for k in keys))) or [()]
    per_combo = 1 if "seed" in sweep else (seeds if isinstance(seeds, int) else len(seeds))
    total = len(combos) * per_combo
    if total > max_runs:
        raise LaunchError(f"sweep: {total} runs exceeds the cap of {max_runs} per submit (GANBOARD_MAX_SUBMIT)")
    configs = []
    for combo in combos:
        chosen = dict(zip(keys, combo))
        run_preset = chosen.pop("preset", preset)
        base = build_config(run_preset, {**overrides, **{k: v for k, v in chosen.items() if k != "seed"}})
        seed_list = seed_lists(base.seed, seeds, sweep, "seed" in overrides)
        for seed in seed_list if seed_list is not None else [chosen["seed"]]:
            configs.append((run_preset, build_config(run_preset, {**overrides, **chosen, "seed": seed})))
    return configs


def run_name(cfg: TrainConfig, preset: str | None, varied: list[str]) -> str:
    parts = [preset or cfg.loss] + [f"{k}={getattr(cfg, k)}" for k in varied if k not in ("preset", "seed")]
    return " ".join(parts + [f"s{cfg.seed}"])


def new_sweep_id() -> str:
    return f"{int(time.time() * 1000):x}"
