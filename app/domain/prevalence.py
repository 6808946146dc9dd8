"""How often codecs miscompress: prevalence per codec and bitrate, with intervals.

Each study item contributes, per outcome (a miscompression at all, each category, SYMBOL),
the share of its raters who said so. Random crops estimate the prevalence over every crop
position of the codec's reconstructions: a Hajek (ratio) estimator weighting each crop by
the inverse of its inclusion probability, so that crop sizes drawn at different rates
combine correctly. Guided crops (distortion- or OCR-guided) are not a sample of anything:
their share is reported apart, as what the guides found, never as a prevalence. Intervals
are percentile bootstrap intervals that resample the items of each group (seeded).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.domain.agreement import Estimate
from app.domain.figures import FigureFormat, new_figure, save

F64 = NDArray[np.float64]
RANDOM = "random"
GUIDED = "guided"


@dataclass(frozen=True)
class ItemOutcome:
    """One study item as its raters judged it."""

    codec: str
    bpp_bucket: float
    method: str
    """random (a sample method's crops), or guided (every targeted method's: guided, text...)."""
    inclusion_probability: float | None
    shares: dict[str, float]
    """outcome -> share of the item's raters who gave it."""


@dataclass(frozen=True)
class PrevalenceRow:
    codec: str
    bpp_bucket: float
    method: str
    outcome: str
    n_items: int
    estimate: Estimate

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PrevalenceRow:
        ci = data.get("ci95")
        return cls(
            data["codec"],
            data["bpp_bucket"],
            data["method"],
            data["outcome"],
            data["n_items"],
            Estimate(data["value"], data.get("note"), (ci[0], ci[1]) if ci else None),
        )

    def as_json(self) -> dict[str, object]:
        return {
            "codec": self.codec,
            "bpp_bucket": self.bpp_bucket,
            "method": self.method,
            "outcome": self.outcome,
            "n_items": self.n_items,
            "value": self.estimate.value,
            "ci95": list(self.estimate.ci) if self.estimate.ci else None,
            "note": self.estimate.note,
        }


def _weighted_mean(values: F64, weights: F64) -> float | None:
    total = weights.sum()
    return float((values * weights).sum() / total) if total > 0 else None


def _bootstrap(
    values: F64, weights: F64, replicates: int, rng: np.random.Generator
) -> tuple[float, float] | None:
    if replicates <= 0 or len(values) < 2:
        return None
    draws = rng.integers(0, len(values), size=(replicates, len(values)))
    w = weights[draws]
    means = (values[draws] * w).sum(axis=1) / w.sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def estimate(
    items: Sequence[ItemOutcome],
    outcomes: Sequence[str],
    *,
    replicates: int = 1000,
    seed: int = 0,
) -> list[PrevalenceRow]:
    """One row per (codec, bpp bucket, method, outcome) with items."""
    groups: dict[tuple[str, float, str], list[ItemOutcome]] = defaultdict(list)
    for item in items:
        groups[(item.codec, item.bpp_bucket, item.method)].append(item)
    rng = np.random.default_rng(seed)
    rows = []
    for (codec, bucket, method), members in sorted(groups.items()):
        if method == RANDOM:
            probabilities = [m.inclusion_probability for m in members]
            if any(p is None or p <= 0 for p in probabilities):
                raise ValueError("a random crop without its inclusion probability")
            weights = 1.0 / np.array(probabilities, dtype=np.float64)
        else:
            weights = np.ones(len(members))
        for outcome in outcomes:
            values = np.array([m.shares.get(outcome, 0.0) for m in members], dtype=np.float64)
            value = _weighted_mean(values, weights)
            interval = _bootstrap(values, weights, replicates, rng)
            note = None
            if method != RANDOM:
                note = "share of guided crops: what the guides found, not a prevalence"
            elif interval is None:
                note = "a single item: no interval"
            rows.append(
                PrevalenceRow(
                    codec, bucket, method, outcome, len(members), Estimate(value, note, interval)
                )
            )
    return rows


def render(
    rows: Sequence[PrevalenceRow],
    outcome: str,
    *,
    title: str,
    fmt: FigureFormat = "svg",
) -> bytes:
    """Prevalence against bpp, one line per codec (random crops only), with the intervals
    as error bars."""
    figure = new_figure(6.4, 4.2)
    axis = figure.subplots()
    by_codec: dict[Hashable, list[PrevalenceRow]] = defaultdict(list)
    for row in rows:
        if row.method == RANDOM and row.outcome == outcome and row.estimate.value is not None:
            by_codec[row.codec].append(row)
    for codec, points in sorted(by_codec.items(), key=lambda kv: str(kv[0])):
        points.sort(key=lambda r: r.bpp_bucket)
        xs = [p.bpp_bucket for p in points]
        ys = [float(p.estimate.value or 0.0) for p in points]
        low = [
            y - (p.estimate.ci[0] if p.estimate.ci else y) for p, y in zip(points, ys, strict=True)
        ]
        high = [
            (p.estimate.ci[1] if p.estimate.ci else y) - y for p, y in zip(points, ys, strict=True)
        ]
        axis.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=str(codec))
    axis.set_xlabel("bits per pixel (lower edge of the half-octave bucket)")
    axis.set_ylabel(f"prevalence: {outcome}")
    axis.set_ylim(bottom=0)
    axis.grid(True, alpha=0.3)
    if by_codec:
        axis.legend(fontsize="small")
    else:
        axis.text(0.5, 0.5, "no random crops rated yet", ha="center", transform=axis.transAxes)
    figure.suptitle(title)
    return save(figure, fmt)
