"""What the result viewer draws for one codec result: the whole original, the reconstruction
and the matched JPEG side by side, and the run's maps to overlay on the reconstruction.

The same data the annotators' viewer reads (``app/studies/panes.py``), for whole images: no
crop, so no wider context, thumbnail or boxes. Researchers and admins only; it names the
codec under its pane, which a blind study never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Image
from app.domain import metrics
from app.domain import panes as pane_names
from app.domain.rd import curve_label

MAP_OVERLAYS = {"ssim": "ssim_map", "ciede2000": "ciede2000_map"}
"""Stored map (``CodecResult.maps``) -> the overlay's name in the viewer, as studies call it."""

PathFor = Callable[..., str]
"""``path_for(route_name, **params)``: the route paths the images are served under."""


def viewer_data(
    run: CodecRun, result: CodecResult, image: Image, path_for: PathFor
) -> dict[str, Any]:
    """The viewer's panes and maps. Maps are URLs only: the browser fetches one when it is
    first overlaid, so a large image's maps cost nothing until someone asks for them."""

    def result_url(kind: str) -> str:
        return path_for("result_image", result_id=result.id, kind=kind)

    panes = [
        {
            "label": pane_names.ORIGINAL,
            "role": pane_names.ORIGINAL,
            "url": path_for("image_pixels", image_id=image.id),
            "caption": image.filename,
        }
    ]
    if result.recon_key:
        caption = curve_label(run.codec, run.params)
        if result.bpp is not None:
            caption += f", {result.bpp:.3f} bpp"
        panes.append(
            {
                "label": pane_names.RECONSTRUCTION,
                "role": "compared",
                "url": result_url("reconstruction"),
                "caption": caption,
            }
        )
    if result.jpeg_key:
        caption = f"JPEG quality {result.jpeg_quality}"
        if result.jpeg_bpp is not None:
            caption += f", {result.jpeg_bpp:.3f} bpp"
        panes.append(
            {
                "label": pane_names.JPEG,
                "role": "compared",
                "url": result_url("jpeg"),
                "caption": caption,
            }
        )
    maps = {
        overlay: result_url(stored)
        for stored, overlay in MAP_OVERLAYS.items()
        if result.maps.get(stored) and result.recon_key
    }
    gain = result.maps.get("difference_gain", "")
    return {
        "size": max(image.width, image.height),
        "width": image.width,
        "height": image.height,
        "panes": panes,
        "contexts": [],
        "maps": maps,
        "thumbnail": None,
        "difference_gain": int(gain) if gain.isdigit() else metrics.DIFFERENCE_GAIN,
        "read_only": True,
        "boxes": [],
    }
