"""Figure panels of confirmed miscompressions, in the paper's style: original, reconstruction
and bpp-matched JPEG crops side by side, scaled by nearest neighbour (no smoothing), each
captioned with its bitrate, the image's size and the crop's size and share of the image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.domain.figures import FigureFormat, new_figure, save


@dataclass(frozen=True)
class Pane:
    title: str
    caption: str
    pixels: NDArray[np.uint8]


def compressed_caption(bpp: float, width: int, height: int, size: int, share: float) -> str:
    """As the paper captions its crops: "compressed: 0.48 bpp 2048x1368, cropped scene
    64x64 (0.15 %)"."""
    return (
        f"compressed: {bpp:.2f} bpp {width}x{height}, cropped scene {size}x{size} ({share:.2f} %)"
    )


def panel(panes: Sequence[Pane], *, title: str, fmt: FigureFormat = "png") -> bytes:
    """The panes in one row; nearest-neighbour display, no smoothing, no axes."""
    figure = new_figure(3.2 * len(panes), 3.9)
    axes = figure.subplots(1, len(panes), squeeze=False)[0]
    for axis, pane in zip(axes, panes, strict=True):
        axis.imshow(pane.pixels, interpolation="nearest", resample=False)
        axis.set_title(pane.title, fontsize=11)
        axis.set_xlabel(pane.caption, fontsize=7.5, wrap=True)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(title, fontsize=11)
    return save(figure, fmt)
