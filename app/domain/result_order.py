"""The figures of a codec result that pages show and sort by, and the order a viewer steps
through a run's results in.

A result's metrics are a JSON object the workers write (``psnr_rgb``, ``ms_ssim_rgb``,
``ciede2000_mean``, ``max_abs_diff``, and ``lpips_alex`` / ``dists`` where their backbones are
installed). Pages name them by a short key (``?sort=psnr``); this table is the one place that
maps a key to the stored field, its label, and which way is better, so the run page, the
result viewer and the image page agree on every column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class MetricColumn:
    key: str
    """As a page names it: ``?sort=psnr``."""
    field: str
    """The key in the result's (and the matched JPEG's) metrics JSON."""
    label: str
    better: Better
    digits: int


METRICS: tuple[MetricColumn, ...] = (
    MetricColumn("psnr", "psnr_rgb", "PSNR (dB)", "higher", 2),
    MetricColumn("ms_ssim", "ms_ssim_rgb", "MS-SSIM", "higher", 4),
    MetricColumn("ciede2000", "ciede2000_mean", "ΔE00 (mean)", "lower", 2),
    MetricColumn("max_abs_diff", "max_abs_diff", "max |difference|", "lower", 0),
    MetricColumn("lpips", "lpips_alex", "LPIPS (AlexNet)", "lower", 4),
    MetricColumn("dists", "dists", "DISTS", "lower", 4),
)
BY_KEY: dict[str, MetricColumn] = {m.key: m for m in METRICS}
ALWAYS_SHOWN = ("psnr", "ms_ssim", "ciede2000")
"""Columns every run page shows; the others only where some result has them."""

IMAGE = "image"
BPP = "bpp"
SORT_KEYS: tuple[str, ...] = (IMAGE, BPP, *BY_KEY)
"""What a run's results can be sorted by: the image (its id, then the seed), the bpp, or a
metric. Results without the figure come last either way."""
SORT_LABELS: dict[str, str] = {IMAGE: "image", BPP: "bpp", **{m.key: m.label for m in METRICS}}


@dataclass(frozen=True)
class ResultOrder:
    key: str = IMAGE
    descending: bool = False

    @property
    def query(self) -> dict[str, str]:
        """The query parameters that ask for this order (empty for the default)."""
        if self == ResultOrder():
            return {}
        return {"sort": self.key, "order": "desc" if self.descending else "asc"}

    @property
    def description(self) -> str:
        """In words, with which end is the worst: "PSNR (dB), ascending (worst first)"."""
        direction = "descending" if self.descending else "ascending"
        metric = BY_KEY.get(self.key)
        if metric is not None:
            worst_first = self.descending == (metric.better == "lower")
            direction += " (worst first)" if worst_first else " (best first)"
        return f"{SORT_LABELS[self.key]}, {direction}"


def parse_order(sort: str | None, order: str | None) -> ResultOrder:
    """The order a page was asked for; ValueError, in plain words, for one it does not know."""
    key = sort or IMAGE
    if key not in SORT_KEYS:
        raise ValueError(f"sort: no {key!r}; choose one of {', '.join(SORT_KEYS)}")
    direction = order or "asc"
    if direction not in ("asc", "desc"):
        raise ValueError(f"order: no {direction!r}; choose asc or desc")
    return ResultOrder(key, direction == "desc")


def shown_metrics(metric_sets: list[dict[str, object]]) -> list[MetricColumn]:
    """The metric columns for results with these metrics: the usual ones, plus any other a
    result has (LPIPS, DISTS where the workers measured them)."""
    present = {field for metrics in metric_sets for field, v in metrics.items() if v is not None}
    return [m for m in METRICS if m.key in ALWAYS_SHOWN or m.field in present]
