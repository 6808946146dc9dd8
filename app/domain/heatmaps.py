"""Rendering distortion maps as colour heat maps (PNG), with fixed, recorded scales so that
maps of different codecs and images compare."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

# Value ranges mapped onto the colour scale; recorded with every map.
SSIM_LOSS_RANGE = (0.0, 1.0)
"""1 - SSIM."""
CIEDE2000_RANGE = (0.0, 20.0)
"""Delta E 2000; above 20 saturates."""


@cache
def _lut(name: str = "inferno") -> NDArray[np.uint8]:
    from matplotlib import colormaps

    table = colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.asarray(np.rint(table * 255), dtype=np.uint8)


def heatmap(
    values: NDArray[np.floating[Any]], value_range: tuple[float, float]
) -> NDArray[np.uint8]:
    lo, hi = value_range
    scaled = np.clip((values.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    indices = np.rint(scaled * 255).astype(np.uint8)
    rgb: NDArray[np.uint8] = _lut()[indices]
    return rgb


def png_bytes(rgb: NDArray[np.uint8], *, compress_level: int = 6) -> bytes:
    """Lossless PNG; maps use level 1 (noisy images gain little from more effort)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def npz_bytes(**arrays: NDArray[np.generic]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
