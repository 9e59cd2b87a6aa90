"""One artifact made ready for the Artifacts page's preview, decoded by its suffix; every failure a Preview, never
a raise. Reads are size-capped (artifacts.PREVIEW_MAX_BYTES); checkpoints are summarised (inference.py)."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard.data import artifacts, inference, store

TEXT_SUFFIXES = {".txt": None, ".log": None, ".md": "markdown", ".yaml": "yaml", ".yml": "yaml", ".py": "python",
                 ".toml": "toml", ".cfg": "ini", ".ini": "ini", ".sh": "bash", "": None}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


@dataclass
class Preview:
    """An artifact made ready for display: kind is json, text, table, image, npz, checkpoint, none or error."""

    kind: str
    value: Any = None
    language: str | None = None
    message: str = ""


def artifact_preview(run_id: str, path: str) -> Preview:
    """Read and decode one artifact by its suffix; every failure is a Preview of kind 'error', never a raise."""
    suffix = Path(path).suffix.lower()
    if suffix in (".pt", ".pth", ".ckpt"):
        try:
            return Preview("checkpoint", inference.checkpoint_summary(run_id, path))
        except store.StoreError as exc:
            return Preview("error", message=str(exc))
    try:
        raw = artifacts.read_artifact(run_id, path)
    except store.StoreError as exc:
        return Preview("error", message=str(exc))
    try:
        if suffix == ".json":
            return Preview("json", json.loads(raw.decode("utf-8")))
        if suffix in (".csv", ".tsv"):
            return Preview("table", pd.read_csv(io.BytesIO(raw), sep="\t" if suffix == ".tsv" else ","))
        if suffix in IMAGE_SUFFIXES:
            from PIL import Image

            with Image.open(io.BytesIO(raw)) as img:
                img.verify()  # a truncated or mislabelled file fails here, not in the browser
            return Preview("image", raw)
        if suffix == ".npz":
            return Preview("npz", artifacts.npz_arrays(raw, path))
        if suffix in TEXT_SUFFIXES or Path(path).name == "MLmodel":
            return Preview("text", raw.decode("utf-8"), TEXT_SUFFIXES.get(suffix, "yaml"))
    except artifacts.ArtifactError as exc:
        return Preview("error", message=str(exc))
    except Exception as exc:  # noqa: BLE001 - bad JSON, CSV, image or encoding: say so, show no traceback
        return Preview("error", message=f"{path}: could not be read as {suffix or 'text'} ({store.one_line(exc)})")
    return Preview("none", message=f"no preview for {suffix or 'files without a suffix'}; use the download button")


def array_summary(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per array: name, shape, dtype, and min / max / mean of the finite values of numeric arrays."""
    rows = []
    for name, a in arrays.items():
        row: dict[str, Any] = {"name": name, "shape": str(tuple(a.shape)), "dtype": str(a.dtype)}
        if a.dtype.kind in "biuf" and a.size:
            fin = a[np.isfinite(a)] if a.dtype.kind == "f" else a
            row.update(min=float(fin.min()) if fin.size else math.nan, max=float(fin.max()) if fin.size else math.nan,
                       mean=float(fin.mean()) if fin.size else math.nan,
                       non_finite=int(a.size - fin.size))
        rows.append(row)
    return pd.DataFrame(rows, columns=["name", "shape", "dtype", "min", "max", "mean", "non_finite"])
