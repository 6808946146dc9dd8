"""The miscompression detector: a small fully convolutional network over the triple
(original, reconstruction, their difference) that gives, at a quarter of the resolution, a
score map per output of ``plants.OUTPUTS`` (miscompression, AMPLITUDE, GEOMETRY, SHAPE,
SYMBOL).

A crop's scores are read off the maps: its miscompression score is the highest value of the
miscompression map inside the crop, and its category scores are the category maps at that
place. ``crop_grid`` gives the crop score of every crop position on a coarse grid, which the
``detector`` proposal method samples from (``app/domain/sampling.py``).

torch is imported inside the functions: the web process imports this module's names only
through the worker's paths, and must never load torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.domain.plants import OUTPUTS

F32 = NDArray[np.float32]
RGB8 = NDArray[np.uint8]
SCALE = 4
"""Input pixels per map cell along each side."""
WIDTHS = (24, 32, 48)
"""Channels of the network's three stages (about 60,000 weights: CPU-trainable)."""
DIFFERENCE_GAIN = 4.0
"""The difference channels are amplified: the changes that matter are often faint."""
SHIPPED = "miscomp-detector"
MODELS_PACKAGE = "app.detector.models"


def shipped_weights() -> Path:
    return Path(str(resources.files(MODELS_PACKAGE) / f"{SHIPPED}.pt"))


def build_network(widths: tuple[int, ...] = WIDTHS) -> Any:
    """The network: full resolution, then two stride-2 stages, then a dilated stage for
    context, and one 1x1 head per output."""
    from torch import nn

    first, second, third = widths

    def block(inputs: int, outputs: int, stride: int = 1, dilation: int = 1) -> list[Any]:
        return [
            nn.Conv2d(inputs, outputs, 3, stride=stride, padding=dilation, dilation=dilation),
            nn.BatchNorm2d(outputs),
            nn.ReLU(inplace=True),
        ]

    return nn.Sequential(
        *block(9, first),
        *block(first, second, stride=2),
        *block(second, second),
        *block(second, third, stride=2),
        *block(third, third, dilation=2),
        *block(third, third, dilation=4),
        nn.Conv2d(third, len(OUTPUTS), 1),
    )


def network_input(original: RGB8, reconstruction: RGB8) -> F32:
    """The 9 input channels of one pair (channels first): original, reconstruction and their
    amplified signed difference, each around 0."""
    a = original.astype(np.float32) / 255.0
    b = reconstruction.astype(np.float32) / 255.0
    stacked = np.concatenate([a - 0.5, b - 0.5, (b - a) * DIFFERENCE_GAIN], axis=2)
    return np.ascontiguousarray(stacked.transpose(2, 0, 1))


@dataclass(frozen=True)
class ScoreMaps:
    """The detector's probabilities at a quarter of the image's resolution, one map per
    output (``maps[k]`` for ``OUTPUTS[k]``), and the image's size in pixels."""

    maps: F32
    width: int
    height: int

    @property
    def miscompression(self) -> F32:
        first: F32 = self.maps[0]
        return first

    def crop_scores(self, x: int, y: int, size: int) -> dict[str, float]:
        """The crop's miscompression score (the map's peak in it) and its other outputs
        where that peak is."""
        window = self._window(x, y, size)
        peak = window[0]
        row, column = np.unravel_index(int(np.argmax(peak)), peak.shape)
        return {name: round(float(window[k][row, column]), 4) for k, name in enumerate(OUTPUTS)}

    def _window(self, x: int, y: int, size: int) -> F32:
        x0, y0 = x // SCALE, y // SCALE
        x1 = max(x0 + 1, -(-(x + size) // SCALE))
        y1 = max(y0 + 1, -(-(y + size) // SCALE))
        return self.maps[:, y0:y1, x0:x1]

    def crop_grid(self, size: int, stride: int) -> F32:
        """The miscompression score of the crops of side ``size`` whose top-left corners lie
        in each ``stride`` x ``stride`` cell of crop positions: the peak over the cell's
        crops (a sliding maximum of the map)."""
        from scipy import ndimage

        columns, rows = self.width - size + 1, self.height - size + 1
        if columns <= 0 or rows <= 0:
            raise ValueError(f"crops of side {size} do not fit a {self.width} x {self.height}")
        cells = max(1, -(-(size + stride) // SCALE))
        peak = ndimage.maximum_filter(
            self.miscompression, size=cells, origin=-(cells // 2), mode="nearest"
        )
        ys = np.minimum(np.arange(0, rows, stride) // SCALE, peak.shape[0] - 1)
        xs = np.minimum(np.arange(0, columns, stride) // SCALE, peak.shape[1] - 1)
        grid: F32 = peak[np.ix_(ys, xs)].astype(np.float32)
        return grid


class Detector:
    """A trained detector (its weights and model card), ready to score pairs."""

    def __init__(self, path: Path, device: str = "cpu") -> None:
        import torch

        if not path.is_file():
            raise FileNotFoundError(f"no detector weights at {path}")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        self.card: dict[str, Any] = json.loads(saved["card"])
        self.network = build_network(tuple(self.card.get("widths", WIDTHS)))
        self.network.load_state_dict({k: v.float() for k, v in saved["state"].items()})
        self.network.eval().to(device)
        self.device = device
        self.path = path

    def score(self, original: RGB8, reconstruction: RGB8) -> ScoreMaps:
        """Score maps of a whole image (padded to a multiple of the map's scale)."""
        import torch

        if original.shape != reconstruction.shape:
            raise ValueError(
                f"the original is {original.shape[1]} x {original.shape[0]} and the "
                f"reconstruction {reconstruction.shape[1]} x {reconstruction.shape[0]}"
            )
        height, width = original.shape[:2]
        pad = ((0, -height % SCALE), (0, -width % SCALE), (0, 0))
        pixels = network_input(np.pad(original, pad, "edge"), np.pad(reconstruction, pad, "edge"))
        with torch.inference_mode():
            logits = self.network(torch.from_numpy(pixels)[None].to(self.device))
        maps = torch.sigmoid(logits)[0].cpu().numpy().astype(np.float32)
        return ScoreMaps(maps, width, height)


@lru_cache(maxsize=4)
def load(path: Path | None = None, device: str = "cpu") -> Detector:
    """A detector loaded once per process: the shipped one unless ``path`` names another."""
    return Detector(path or shipped_weights(), device)


def pick_device(wanted: str = "auto") -> str:
    """cuda where asked for or, with ``auto``, where a GPU is visible; otherwise cpu."""
    import torch

    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but no GPU is visible")
    if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"
