"""Figures rendered server-side with matplotlib (no display), as SVG, PDF or PNG."""

from __future__ import annotations

import io
from typing import Any, Literal

FigureFormat = Literal["svg", "pdf", "png"]
FORMATS: dict[str, str] = {"svg": "image/svg+xml", "pdf": "application/pdf", "png": "image/png"}


def new_figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(figure: Any, fmt: FigureFormat) -> bytes:
    """The figure's bytes. The same data give the same file: no creation date, and a fixed
    salt for the SVG's element ids."""
    import matplotlib

    buffer = io.BytesIO()
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}[fmt]
    with matplotlib.rc_context({"svg.hashsalt": "miscomp"}):
        figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()
