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


def intervals_chart(
    labels: list[str],
    series: dict[str, list[tuple[float | None, tuple[float, float] | None]]],
    *,
    ylabel: str,
    title: str,
    fmt: FigureFormat = "svg",
) -> bytes:
    """Grouped points with 95 % intervals, one group per label and one marker per series;
    an undefined value is left out (and says so on the axis)."""
    figure = new_figure(max(6.4, 1.1 * len(labels) + 2), 4.2)
    axis = figure.subplots()
    width = 0.8 / max(1, len(series))
    for number, (name, points) in enumerate(series.items()):
        xs, ys, low, high = [], [], [], []
        for index, (value, ci) in enumerate(points):
            if value is None:
                continue
            xs.append(index - 0.4 + width * (number + 0.5))
            ys.append(value)
            low.append(value - (ci[0] if ci else value))
            high.append((ci[1] if ci else value) - value)
        axis.errorbar(xs, ys, yerr=[low, high], fmt="o", capsize=3, label=name)
    undefined = [
        label
        for index, label in enumerate(labels)
        if all(points[index][0] is None for points in series.values())
    ]
    axis.set_xticks(
        range(len(labels)),
        [f"{label}\n(undefined)" if label in undefined else label for label in labels],
        rotation=30,
        ha="right",
        fontsize=8,
    )
    axis.axhline(0, color="#888", linewidth=0.8)
    axis.set_ylabel(ylabel)
    axis.grid(True, axis="y", alpha=0.3)
    axis.legend(fontsize="small")
    figure.suptitle(title)
    return save(figure, fmt)
