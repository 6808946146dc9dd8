"""What the audit page's pixel-exact viewer draws: the audited pair, whole, side by side, the
detector's score map and the difference to overlay on the reconstruction, and the riskiest
regions as numbered read-only boxes (the same viewer data as the result viewer's,
``app/codec_runs/viewer.py``)."""

from __future__ import annotations

from typing import Any

from app.codec_runs.viewer import PathFor
from app.domain import metrics
from app.domain import panes as pane_names
from app.pair_audits.models import PairAudit

DETECTOR_OVERLAY = "detector_map"


def viewer_data(audit: PairAudit, path_for: PathFor) -> dict[str, Any]:
    report = audit.report

    def image_url(name: str) -> str:
        return path_for("pair_audit_image", audit_id=audit.id, name=name)

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
    maps = {DETECTOR_OVERLAY: image_url("score")} if "score" in report.get("images", {}) else {}
    width, height = report["width"], report["height"]
    return {
        "size": max(width, height),
        "width": width,
        "height": height,
        "panes": panes,
        "contexts": [],
        "maps": maps,
        "thumbnail": None,
        "difference_gain": metrics.DIFFERENCE_GAIN,
        "read_only": True,
        "boxes": boxes,
    }
