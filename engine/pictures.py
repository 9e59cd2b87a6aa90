"""Images as pictures: a batch of samples in [-1, 1] tiled into one grid, and that grid as PNG bytes. Used by the
image evaluation's snapshots and the dashboard's galleries; numpy and Pillow only."""

from __future__ import annotations

import io
import math

import numpy as np

PAD = 1  # pixels of background between tiles


def grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """(N, C, H, W) or (N, H, W) samples in [-1, 1] -> one uint8 picture (rows, cols) or (rows, cols, 3), tiled
    row by row, `columns` wide (a square by default). Values outside [-1, 1] are clipped; NaN shows black."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise ValueError(f"images: expected (N, C, H, W) with C 1 or 3, or (N, H, W), got shape {x.shape}")
    n, c, h, w = x.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    pixels = np.round((np.nan_to_num(np.clip(x, -1, 1), nan=-1.0) + 1) * 127.5).astype(np.uint8)
    out = np.zeros((c, rows * (h + PAD) + PAD, columns * (w + PAD) + PAD), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        out[:, PAD + r * (h + PAD):PAD + r * (h + PAD) + h, PAD + col * (w + PAD):PAD + col * (w + PAD) + w] = pixels[i]
    return out[0] if c == 1 else out.transpose(1, 2, 0)


def png(picture: np.ndarray, scale: int = 1, compress_level: int = 6) -> bytes:
    """A uint8 picture (grey or RGB) as PNG bytes, each pixel blown up to scale x scale (nearest neighbour);
    `compress_level` 0-9 is zlib's (Pillow's default 6; 1 is several times quicker for a few % more bytes)."""
    from PIL import Image

    if scale > 1:
        picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()
