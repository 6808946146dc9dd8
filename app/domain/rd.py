"""Rate-distortion curves: mean bpp against mean PSNR and MS-SSIM, one curve per codec.

Runs of the same codec that differ only in quality form one curve (a quality ladder); the
bpp-matched JPEG references of neural runs form a curve of their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import mean
from typing import Any

from app.domain.figures import FigureFormat, new_figure, save

LADDER_KEYS = frozenset({"quality", "qp"})


@dataclass(frozen=True)
class RunPoints:
    """Per-image figures of one run: (bpp, psnr, ms-ssim) triples."""

    codec: str
    params: dict[str, Any]
    points: list[tuple[float, float | None, float | None]]
    jpeg_points: list[tuple[float, float | None, float | None]]


@dataclass(frozen=True)
class Curve:
    label: str
    bpp: list[float]
    psnr: list[float | None]
    ms_ssim: list[float | None]


def source_codec(codec: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The codec that made a run's reconstructions and its parameters: an imported run's
    label and the parameters it was imported with (a manifest's row, a bundle's run), any
    other run's own. Records name this codec, so a study brought over from another instance
    still says which codec it compared."""
    if codec == "imported" and "label" in params:
        inner = params.get("params")
        return str(params["label"]), dict(inner) if isinstance(inner, dict) else {}
    return codec, params


def curve_label(codec: str, params: dict[str, Any]) -> str:
    if codec == "imported":
        return str(params.get("label", "imported"))
    if codec == "external":
        # One curve per declared codec across its qualities; runs made before declarations
        # carried a label.
        return str(params.get("name") or params.get("label") or "external")
    rest = {
        k: v
        for k, v in params.items()
        if k not in LADDER_KEYS and k not in ("weights_dir", "device", "check_decode")
    }
    if codec == "compressai":
        return f"{rest.get('arch')} ({rest.get('metric', 'mse')})" + (
            "" if rest.get("pretrained", True) else ", random weights"
        )
    flags = ", ".join(f"{k}={v}" for k, v in sorted(rest.items()))
    return f"{codec} ({flags})" if flags else codec


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return mean(known) if known else None


def curves(runs: Iterable[RunPoints]) -> list[Curve]:
    grouped: dict[str, list[tuple[float, float | None, float | None]]] = defaultdict(list)
    for run in runs:
        for label, points in (
            (curve_label(run.codec, run.params), run.points),
            ("JPEG at matched bpp", run.jpeg_points),
        ):
            if points:
                grouped[label].append(
                    (
                        mean(p[0] for p in points),
                        _mean(p[1] for p in points),
                        _mean(p[2] for p in points),
                    )
                )
    result = []
    for label, triples in sorted(grouped.items()):
        triples.sort()
        result.append(
            Curve(label, [t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples])
        )
    return result


def figure(curve_list: list[Curve], *, title: str) -> Any:
    """PSNR and MS-SSIM against bpp side by side; one legend below both plots, outside
    them, so that it never hides a point."""
    drawn = new_figure(10, 4.6)
    axes = drawn.subplots(1, 2)
    for axis, metric, ylabel in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ms_ssim", "MS-SSIM")):
        for curve in curve_list:
            pairs = [
                (b, v)
                for b, v in zip(curve.bpp, getattr(curve, metric), strict=True)
                if v is not None
            ]
            if pairs:
                xs, ys = zip(*pairs, strict=True)
                axis.plot(xs, ys, marker="o", label=curve.label)
        axis.set_xlabel("bits per pixel")
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        drawn.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=min(3, len(handles)),
            fontsize="small",
        )
    drawn.suptitle(title)
    return drawn


def render(curve_list: list[Curve], *, title: str, fmt: FigureFormat = "svg") -> bytes:
    return save(figure(curve_list, title=title), fmt)
