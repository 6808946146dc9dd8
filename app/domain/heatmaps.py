"""Rendering distortion maps as colour heat maps (PNG), with fixed, recorded scales so that
maps of different codecs and images compare."""

from __future__ import annotations

import io
import zipfile
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.domain import png

# Value ranges mapped onto the colour scale; recorded with every map.
SSIM_LOSS_RANGE = (0.0, 1.0)
"""1 - SSIM."""
CIEDE2000_RANGE = (0.0, 20.0)
"""Delta E 2000; above 20 saturates."""


def warm_up() -> None:
    """Load the colour scale (it imports matplotlib, a second's work) before the first map."""
    _lut()


@cache
def _lut(name: str = "inferno") -> NDArray[np.uint8]:
    from matplotlib import colormaps

    table = colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.asarray(np.rint(table * 255), dtype=np.uint8)


def colour_indices(
    values: NDArray[np.floating[Any]], value_range: tuple[float, float]
) -> NDArray[np.uint8]:
    """Each value's entry (0-255, rounded) in the colour scale; outside the range saturates."""
    lo, hi = value_range
    scale = np.float32(255 / (hi - lo))
    scaled = (values.astype(np.float32) - np.float32(lo)) * scale + np.float32(0.5)
    indices: NDArray[np.uint8] = np.clip(scaled, 0, 255).astype(np.uint8)
    return indices


def heatmap(
    values: NDArray[np.floating[Any]], value_range: tuple[float, float]
) -> NDArray[np.uint8]:
    """The heat map as RGB pixels."""
    rgb: NDArray[np.uint8] = _lut()[colour_indices(values, value_range)]
    return rgb


def heatmap_png(values: NDArray[np.floating[Any]], value_range: tuple[float, float]) -> bytes:
    """The heat map as a palette PNG: the same pixels as ``heatmap`` once decoded, with a
    third of the data to compress (the colour scale has 256 entries)."""
    return png.encode(colour_indices(values, value_range), palette=_lut(), compress_level=1)


def npz_bytes(**arrays: NDArray[np.generic]) -> bytes:
    """An ``.npz`` (read with ``np.load``) deflated at level 1: float maps are noise to zlib,
    so higher levels cost a third more time for under 1 % smaller files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.save(member, array)
            archive.writestr(f"{name}.npy", member.getvalue())
    return buffer.getvalue()
