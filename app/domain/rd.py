"""Rate-distortion curves: mean bpp against mean PSNR and MS-SSIM, one curve per codec, and
the Bjøntegaard deltas (BD-rate, BD-PSNR) between two curves.

Runs of the same codec that differ only in quality form one curve (a quality ladder); so do
the runs of one sweep over any other parameter (several checkpoints, say). The bpp-matched
JPEG references of neural runs form a curve of their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import exp, isfinite, log
from statistics import mean
from typing import Any

import numpy as np

from app.domain.figures import FigureFormat, new_figure, save

LADDER_KEYS = frozenset({"quality", "qp"})
MATCHED_JPEG = "JPEG at matched bpp"
ANCHOR_CODEC = "jpeg"
BD_MIN_POINTS = 4
"""A cubic has four coefficients: fewer points leave the fit undetermined."""
BD_METHOD = (
    "Bjøntegaard (VCEG-M33): cubic least-squares fits of log-rate against PSNR (BD-rate) and "
    "of PSNR against log-rate (BD-PSNR), integrated over the range both curves cover"
)


@dataclass(frozen=True)
class RunPoints:
    """Per-image figures of one run: (bpp, psnr, ms-ssim) triples."""

    codec: str
    params: dict[str, Any]
    points: list[tuple[float, float | None, float | None]]
    jpeg_points: list[tuple[float, float | None, float | None]]
    sweep_param: str | None = None
    """The parameter the run's sweep varied, if it belongs to one."""


@dataclass(frozen=True)
class Curve:
    label: str
    bpp: list[float]
    psnr: list[float | None]
    ms_ssim: list[float | None]
    codec: str = ""
    """The codec whose runs make the curve; empty for the matched-JPEG references."""


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


def run_curve_label(run: RunPoints) -> str:
    """The curve a run belongs to: its codec's, less the parameter its sweep varied (a sweep
    over the quality needs no exception: the quality is never part of a label)."""
    params = {k: v for k, v in run.params.items() if k != run.sweep_param}
    return curve_label(run.codec, params)


def curves(runs: Iterable[RunPoints]) -> list[Curve]:
    grouped: dict[str, list[tuple[float, float | None, float | None]]] = defaultdict(list)
    codecs: dict[str, str] = {}
    for run in runs:
        own = run_curve_label(run)
        codecs[own] = run.codec
        for label, points in ((own, run.points), (MATCHED_JPEG, run.jpeg_points)):
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
            Curve(
                label,
                [t[0] for t in triples],
                [t[1] for t in triples],
                [t[2] for t in triples],
                codec="" if label == MATCHED_JPEG else codecs.get(label, ""),
            )
        )
    return result


@dataclass(frozen=True)
class BdResult:
    bd_rate: float | None
    """Per cent: the average bit-rate difference at equal PSNR (negative: fewer bits)."""
    bd_psnr: float | None
    """dB: the average PSNR difference at equal bit rate (positive: better)."""
    reason: str | None = None
    """Why a figure is missing."""


@dataclass(frozen=True)
class BdRow:
    label: str
    anchor: str
    points: int
    result: BdResult


def _fit_integral(x: Sequence[float], y: Sequence[float], low: float, high: float) -> float:
    """The integral over [low, high] of the cubic least-squares fit of y against x. The
    abscissa is centred first, which leaves the fit unchanged but keeps the normal equations
    well conditioned."""
    centre = (low + high) / 2
    t = np.asarray(x, dtype=float) - centre
    design = np.vander(t, 4, increasing=True)  # 1, t, t^2, t^3
    coefficients = np.linalg.lstsq(design, np.asarray(y, dtype=float), rcond=None)[0]
    a, b = low - centre, high - centre
    return float(
        sum(c * (b ** (k + 1) - a ** (k + 1)) / (k + 1) for k, c in enumerate(coefficients))
    )


def _usable(bpp: Sequence[float], psnr: Sequence[float | None]) -> list[tuple[float, float]]:
    return sorted(
        (b, p) for b, p in zip(bpp, psnr, strict=True) if p is not None and b > 0 and isfinite(p)
    )


def _curve_problem(points: list[tuple[float, float]], name: str) -> str | None:
    if len({b for b, _ in points}) < BD_MIN_POINTS:
        return f"{name} has fewer than {BD_MIN_POINTS} rate points with a PSNR"
    if any(p2 <= p1 for (_, p1), (_, p2) in zip(points, points[1:], strict=False)):
        return f"PSNR does not rise with the rate along {name}"
    return None


def bd_delta(
    anchor_bpp: Sequence[float],
    anchor_psnr: Sequence[float | None],
    test_bpp: Sequence[float],
    test_psnr: Sequence[float | None],
) -> BdResult:
    """BD-rate and BD-PSNR of a test curve against an anchor curve (Bjøntegaard, VCEG-M33,
    2001): the classic cubic polynomial fit, not the piecewise-cubic interpolation of later
    VCEG/JVET spreadsheets; the two agree closely on smooth, well-sampled curves. Each needs
    at least four points along which PSNR rises with the rate, and the two curves must
    overlap: in PSNR for BD-rate, in rate for BD-PSNR. A missing figure comes with a reason.
    """
    anchor, test = _usable(anchor_bpp, anchor_psnr), _usable(test_bpp, test_psnr)
    for points, name in ((anchor, "the anchor"), (test, "this curve")):
        problem = _curve_problem(points, name)
        if problem:
            return BdResult(None, None, problem)
    reasons = []
    a_rate, a_psnr = [log(b) for b, _ in anchor], [p for _, p in anchor]
    t_rate, t_psnr = [log(b) for b, _ in test], [p for _, p in test]

    low, high = max(min(a_psnr), min(t_psnr)), min(max(a_psnr), max(t_psnr))
    bd_rate = None
    if high > low:
        difference = _fit_integral(t_psnr, t_rate, low, high) - _fit_integral(
            a_psnr, a_rate, low, high
        )
        bd_rate = (exp(difference / (high - low)) - 1) * 100
    else:
        reasons.append("the curves share no PSNR range")

    low, high = max(min(a_rate), min(t_rate)), min(max(a_rate), max(t_rate))
    bd_psnr = None
    if high > low:
        difference = _fit_integral(t_rate, t_psnr, low, high) - _fit_integral(
            a_rate, a_psnr, low, high
        )
        bd_psnr = difference / (high - low)
    else:
        reasons.append("the curves share no rate range")
    return BdResult(bd_rate, bd_psnr, "; ".join(reasons) or None)


def anchor_curve(curve_list: Sequence[Curve]) -> Curve | None:
    """The JPEG curve the others are compared with: of the curves of JPEG runs and the
    matched-JPEG references, the one with the most points with a PSNR; on a tie, the JPEG
    runs (a quality ladder, as in codec papers)."""
    candidates = [c for c in curve_list if c.codec == ANCHOR_CODEC or c.label == MATCHED_JPEG]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda c: (len(_usable(c.bpp, c.psnr)), c.label != MATCHED_JPEG, c.label),
    )


def bd_table(curve_list: Sequence[Curve], anchor: Curve | None = None) -> list[BdRow]:
    """Each curve but the anchor against the anchor (``anchor_curve`` by default)."""
    anchor = anchor or anchor_curve(curve_list)
    if anchor is None:
        return []
    return [
        BdRow(
            curve.label,
            anchor.label,
            len(_usable(curve.bpp, curve.psnr)),
            bd_delta(anchor.bpp, anchor.psnr, curve.bpp, curve.psnr),
        )
        for curve in curve_list
        if curve.label != anchor.label
    ]


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
