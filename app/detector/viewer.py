"""What the pixel-exact viewer draws for an audit (the web's audit page and the standalone
page of `miscomp audit --html`): the audited pair, whole, side by side, the detector's score
map to overlay on the reconstruction (the difference the viewer computes itself), and the
riskiest regions as numbered read-only boxes. The same viewer data as the result viewer's
(``app/codec_runs/viewer.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.domain import metrics
from app.domain import panes as pane_names

DETECTOR_OVERLAY = "detector_map"


def viewer_data(report: dict[str, Any], image_url: Callable[[str], str]) -> dict[str, Any]:
    """``report``: ``Audit.as_json()``; ``image_url``: where the page finds the original,
    the reconstruction and the score map, by those names."""
    bpp = report.get("bpp")
    panes = [
        {
            "label": pane_names.ORIGINAL,
            "role": pane_names.ORIGINAL,
            "url": image_url("original"),
            "caption": "original",
        },
        {
            "label": pane_names.RECONSTRUCTION,
            "role": "compared",
            "url": image_url("reconstruction"),
            "caption": "reconstruction" + (f", {bpp:.3f} bpp" if bpp is not None else ""),
        },
    ]
    boxes = [
        {
            "pane": pane_names.RECONSTRUCTION,
            "x": region["x"],
            "y": region["y"],
            "w": region["size"],
            "h": region["size"],
            "rater": f"region {rank}",
        }
        for rank, region in enumerate(report.get("regions", []), start=1)
    ]
    width, height = report["width"], report["height"]
    return {
        "size": max(width, height),
        "width": width,
        "height": height,
        "panes": panes,
        "contexts": [],
        "maps": {DETECTOR_OVERLAY: image_url("score")},
        "thumbnail": None,
        "difference_gain": metrics.DIFFERENCE_GAIN,
        "read_only": True,
        "boxes": boxes,
    }
