"""Chance-corrected agreement between raters: Krippendorff's alpha, Fleiss' kappa, Cohen's
kappa per pair of raters, Gwet's AC1 and percent agreement, with bootstrap confidence
intervals that resample units.

Ratings are (unit, rater, value) triples; a rater may leave units out (missing data) and
units may have any number of ratings. Units with fewer than two ratings are not pairable:
they drop out of Krippendorff's alpha, of Cohen's kappa and of the observed (percent)
agreement, but Fleiss' kappa and Gwet's AC1 count every rated unit, single ratings included,
in their chance agreement (the category shares pi_k), as Gwet (2014) defines them and irrCAC
computes them. A statistic that is undefined for the data (no variation, no
pairable unit, a single category) is ``None`` with a note saying why, never 0 or 1 in its
place.

Definitions:
- Krippendorff (2011), "Computing Krippendorff's alpha-reliability": coincidence matrix,
  alpha = 1 - (n - 1) * sum(o_ck * d_ck) / sum(n_c * n_k * d_ck), with the nominal, ordinal,
  interval and ratio difference functions.
- Fleiss (1971), generalised to a varying number of raters per unit as in Gwet (2014),
  "Handbook of Inter-Rater Reliability": percent agreement P_a over units with two or more
  ratings, P_e = sum_k pi_k^2 with pi_k the mean over units of each category's share.
- Gwet's AC1 (2008): the same P_a, P_e = sum_k pi_k (1 - pi_k) / (q - 1) over q categories.
- Cohen (1960) for each pair of raters, on the units both rated.

Everything is computed from per-unit counts, so that 100,000 units and their bootstrap
replicates take seconds.

Why one long module: the five statistics share the per-unit counts, the coincidence matrix,
the difference functions and one bootstrap over units; kept together, a reader checks each
formula against the same counts in one place (tests/domain/test_agreement.py compares them
with published examples).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from app.domain.crops import rectangle_iou

F64 = NDArray[np.float64]


class Level(StrEnum):
    NOMINAL = "nominal"
    ORDINAL = "ordinal"
    INTERVAL = "interval"
    RATIO = "ratio"


@dataclass(frozen=True)
class Rating:
    unit: Hashable
    rater: Hashable
    value: Hashable | None
    """None: the rater did not rate the unit (missing)."""


@dataclass(frozen=True)
class Estimate:
    """A statistic's value, or None with the reason it is undefined; and its bootstrap 95 %
    interval when one was asked for and could be computed."""

    value: float | None
    note: str | None = None
    ci: tuple[float, float] | None = None

    @classmethod
    def undefined(cls, why: str) -> Estimate:
        return cls(None, why)


@dataclass(frozen=True)
class Table:
    """Ratings as counts: ``counts[u, c]`` ratings of unit u in category c (``categories``
    in order), plus who gave which value for Cohen's pairwise kappas."""

    units: list[Hashable]
    raters: list[Hashable]
    categories: list[Hashable]
    counts: NDArray[np.int64]
    by_rater: NDArray[np.int64]
    """``by_rater[u, r]``: the category index rater r gave unit u, -1 where missing."""

    @property
    def ratings_per_unit(self) -> NDArray[np.int64]:
        totals: NDArray[np.int64] = self.counts.sum(axis=1)
        return totals

    @property
    def pairable(self) -> NDArray[np.bool_]:
        flags: NDArray[np.bool_] = self.ratings_per_unit >= 2
        return flags


def _sort_key(value: Hashable) -> tuple[int, float | str]:
    if isinstance(value, bool):
        return (0, float(value))
    if isinstance(value, int | float):
        return (0, float(value))
    return (1, str(value))


def table_of(ratings: Iterable[Rating], categories: Sequence[Hashable] | None = None) -> Table:
    """The counts table of ``ratings``. ``categories`` fixes the scale (for example both
    values of a yes/no question, when the data show only one); else the values seen, sorted.
    A rater who rated a unit twice is an error."""
    kept = [r for r in ratings if r.value is not None]
    units = list(dict.fromkeys(r.unit for r in kept))
    raters = list(dict.fromkeys(r.rater for r in kept))
    seen = sorted({r.value for r in kept}, key=_sort_key)
    scale = list(categories) if categories is not None else seen
    unknown = [v for v in seen if v not in set(scale)]
    if unknown:
        raise ValueError(f"values outside the categories given: {unknown[:5]}")
    unit_index = {u: i for i, u in enumerate(units)}
    rater_index = {r: i for i, r in enumerate(raters)}
    category_index = {c: i for i, c in enumerate(scale)}
    counts = np.zeros((len(units), len(scale)), dtype=np.int64)
    by_rater = np.full((len(units), len(raters)), -1, dtype=np.int64)
    for rating in kept:
        u, r = unit_index[rating.unit], rater_index[rating.rater]
        if by_rater[u, r] >= 0:
            raise ValueError(f"rater {rating.rater!r} rated unit {rating.unit!r} twice")
        c = category_index[rating.value]
        by_rater[u, r] = c
        counts[u, c] += 1
    return Table(units, raters, scale, counts, by_rater)


# ---- Krippendorff's alpha ------------------------------------------------------------------


def _numeric(categories: Sequence[Hashable], level: Level) -> F64:
    try:
        values = np.array([float(c) for c in categories], dtype=np.float64)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{level.value} alpha needs numbers; got {list(categories)[:5]}") from None
    return values


def difference_matrix(categories: Sequence[Hashable], level: Level, n_c: F64) -> F64:
    """Squared differences delta^2(c, k) between the categories, for ``level``; the
    ordinal one depends on the values' frequencies ``n_c`` (Krippendorff 2011), and for a
    stack of frequencies (``n_c[..., c]``, one row per bootstrap replicate) is a stack of
    matrices."""
    q = len(categories)
    if level is Level.NOMINAL:
        nominal: F64 = 1.0 - np.eye(q)
        return nominal
    values = _numeric(categories, level)
    if level is Level.INTERVAL:
        interval: F64 = np.square(values[:, None] - values[None, :])
        return interval
    if level is Level.RATIO:
        total = values[:, None] + values[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = ((values[:, None] - values[None, :]) / total) ** 2
        result: F64 = np.where(total == 0, 0.0, ratio)
        return result
    order = np.argsort(values, kind="stable")
    ranked = n_c[..., order]
    start = np.zeros((*ranked.shape[:-1], 1))
    cumulative = np.concatenate([start, np.cumsum(ranked, axis=-1)], axis=-1)
    i, j = np.meshgrid(np.arange(q), np.arange(q), indexing="ij")
    low, high = np.minimum(i, j), np.maximum(i, j)
    # The frequencies of the ranks from i to j, less half of those of i and j themselves.
    between = (
        cumulative[..., high + 1] - cumulative[..., low] - (ranked[..., i] + ranked[..., j]) / 2
    )
    d = np.where(i == j, 0.0, between**2)
    inverse = np.empty(q, dtype=np.int64)
    inverse[order] = np.arange(q, dtype=np.int64)
    ordinal: F64 = d[..., inverse[:, None], inverse[None, :]]
    return ordinal


def _coincidences(counts: F64, weights: F64) -> F64:
    """Krippendorff's coincidence matrix from per-unit counts (pairable units only), each
    unit weighted (1 for the data itself; bootstrap multiplicities for replicates)."""
    m = counts.sum(axis=1)
    scale = weights / (m - 1)
    weighted = counts * scale[:, None]
    o: F64 = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    return o


def _alphas(o: F64, categories: Sequence[Hashable], level: Level) -> F64:
    """Alpha of each coincidence matrix ``o[..., c, k]`` (the data's, or every bootstrap
    replicate's at once); NaN where it is undefined (fewer than two pairable values, or no
    variation)."""
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    d = difference_matrix(categories, level, n_c)
    expected = np.einsum("...c,...ck,...k->...", n_c, d, n_c)
    observed = (o * d).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        alphas = 1.0 - (n - 1) * observed / expected
    defined: F64 = np.where((n > 1) & (expected > 0), alphas, np.nan)
    return defined


def _defined(value: F64) -> float | None:
    """A statistic computed for the data alone (a 0-d array) as a float; None for NaN."""
    number = float(value)
    return None if math.isnan(number) else number


def krippendorff_alpha(table: Table, level: Level = Level.NOMINAL) -> Estimate:
    pairable = table.pairable
    if not pairable.any():
        return Estimate.undefined("no unit has two or more ratings")
    counts = table.counts[pairable].astype(np.float64)
    value = _defined(_alphas(_coincidences(counts, np.ones(len(counts))), table.categories, level))
    if value is None:
        return Estimate.undefined("no variation: every pairable rating has the same value")
    return Estimate(value)


# ---- Fleiss' kappa, Gwet's AC1, percent agreement ------------------------------------------


def _unit_terms(counts: F64) -> tuple[F64, F64, F64]:
    """Per rated unit: whether it is pairable (1.0 or 0.0), its agreement (the share of
    agreeing ordered pairs of its ratings; 0 where unpairable) and each category's share of
    its ratings. As in Gwet (2014), agreement is averaged over pairable units and the
    category shares over every rated unit."""
    m = counts.sum(axis=1)
    pairable = (m >= 2).astype(np.float64)
    pairs = np.where(m >= 2, m * (m - 1), 1.0)
    agreement: F64 = (counts * (counts - 1)).sum(axis=1) / pairs
    shares: F64 = counts / m[:, None]
    return pairable, agreement, shares


def _chance_corrected(agreement: F64, pi: F64, chance: Callable[[F64], F64]) -> F64:
    """(agreement - chance agreement) / (1 - chance agreement), of the data or of every
    bootstrap replicate at once (``pi[..., c]``); NaN where chance agreement is 1."""
    expected = chance(pi)
    with np.errstate(invalid="ignore", divide="ignore"):
        corrected = (agreement - expected) / (1.0 - expected)
    defined: F64 = np.where(expected >= 1.0 - 1e-12, np.nan, corrected)
    return defined


def _fleiss_chance(pi: F64) -> F64:
    chance: F64 = (pi**2).sum(axis=-1)
    return chance


def _gwet_chance(pi: F64) -> F64:
    q = pi.shape[-1]
    if q < 2:
        return np.ones(pi.shape[:-1])
    chance: F64 = (pi * (1 - pi)).sum(axis=-1) / (q - 1)
    return chance


def _pooled(table: Table) -> tuple[F64, F64] | None:
    """Percent agreement over the pairable units and the mean category shares over every
    rated unit; None when no unit is pairable."""
    if not table.pairable.any():
        return None
    pairable, agreement, shares = _unit_terms(table.counts.astype(np.float64))
    pooled: F64 = agreement.sum() / pairable.sum()
    return pooled, shares.mean(axis=0)


def percent_agreement(table: Table) -> Estimate:
    terms = _pooled(table)
    if terms is None:
        return Estimate.undefined("no unit has two or more ratings")
    return Estimate(float(terms[0]))


def fleiss_kappa(table: Table) -> Estimate:
    terms = _pooled(table)
    if terms is None:
        return Estimate.undefined("no unit has two or more ratings")
    value = _defined(_chance_corrected(*terms, _fleiss_chance))
    if value is None:
        return Estimate.undefined("no variation: every rating is in one category")
    return Estimate(value)


def gwet_ac1(table: Table) -> Estimate:
    terms = _pooled(table)
    if terms is None:
        return Estimate.undefined("no unit has two or more ratings")
    if len(table.categories) < 2:
        return Estimate.undefined("a single category: pass the scale's categories")
    value = _defined(_chance_corrected(*terms, _gwet_chance))
    if value is None:
        return Estimate.undefined("chance agreement is 1")
    return Estimate(value)


# ---- Cohen's kappa per pair ----------------------------------------------------------------


def _cohen(a: NDArray[np.int64], b: NDArray[np.int64], q: int, weights: F64) -> float | None:
    total = weights.sum()
    if total <= 0:
        return None
    observed = float(weights[a == b].sum() / total)
    pa = np.bincount(a, weights=weights, minlength=q) / total
    pb = np.bincount(b, weights=weights, minlength=q) / total
    expected = float(pa @ pb)
    if expected >= 1.0 - 1e-12:
        return None
    return (observed - expected) / (1.0 - expected)


def cohen_kappa_pairs(table: Table) -> dict[tuple[Hashable, Hashable], Estimate]:
    """Cohen's kappa of every pair of raters on the units both rated."""
    q = len(table.categories)
    pairs = {}
    for i, j in itertools.combinations(range(len(table.raters)), 2):
        a, b = table.by_rater[:, i], table.by_rater[:, j]
        shared = (a >= 0) & (b >= 0)
        key = (table.raters[i], table.raters[j])
        if not shared.any():
            pairs[key] = Estimate.undefined("the two raters share no unit")
            continue
        value = _cohen(a[shared], b[shared], q, np.ones(int(shared.sum())))
        pairs[key] = (
            Estimate(value)
            if value is not None
            else Estimate.undefined("both raters used a single, identical category")
        )
    return pairs


def mean_defined(estimates: Iterable[Estimate], what: str) -> Estimate:
    values = [e.value for e in estimates if e.value is not None]
    if not values:
        return Estimate.undefined(f"no {what} is defined")
    return Estimate(float(np.mean(values)))


# ---- bootstrap -----------------------------------------------------------------------------

SINGLE_RATINGS_NOTE = (
    "Items rated once count in the chance agreement of Fleiss' kappa and Gwet's AC1 "
    "(Gwet 2014, as irrCAC computes them), not in Krippendorff's alpha, Cohen's kappa or "
    "percent agreement."
)
"""What every agreement report says of units with a single rating (see the module's docs)."""

BOOTSTRAP_REPLICATES = 1000
BOOTSTRAP_CHUNK = 100
MIN_DEFINED_SHARE = 0.5
"""Fewer defined replicates than this share and the interval is left out."""


def _unit_weights(n_units: int, replicates: int, rng: np.random.Generator) -> Iterable[F64]:
    """For each replicate, how often each unit was drawn (units resampled with
    replacement), in chunks to bound memory."""
    for start in range(0, replicates, BOOTSTRAP_CHUNK):
        size = min(BOOTSTRAP_CHUNK, replicates - start)
        draws = rng.integers(0, n_units, size=(size, n_units))
        offsets = (np.arange(size) * n_units)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=size * n_units)
        yield counts.reshape(size, n_units).astype(np.float64)


def _interval(values: F64) -> tuple[float, float] | None:
    """The percentile interval of the replicates' values (NaN: undefined in a replicate)."""
    defined = values[np.isfinite(values)]
    if len(defined) < MIN_DEFINED_SHARE * len(values) or len(defined) == 0:
        return None
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high)


@dataclass
class Report:
    """Every statistic of one question, as ``miscomp agreement compute`` prints it."""

    n_units: int
    n_raters: int
    n_pairable_units: int
    krippendorff_alpha: Estimate
    fleiss_kappa: Estimate
    cohen_kappa_mean: Estimate
    cohen_kappa_pairs: dict[tuple[Hashable, Hashable], Estimate]
    gwet_ac1: Estimate
    percent_agreement: Estimate
    level: Level
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        named = {
            "krippendorff_alpha": self.krippendorff_alpha,
            "fleiss_kappa": self.fleiss_kappa,
            "cohen_kappa_mean": self.cohen_kappa_mean,
            "gwet_ac1": self.gwet_ac1,
            "percent_agreement": self.percent_agreement,
        }
        notes = list(self.notes)
        out: dict[str, object] = {
            "n_units": self.n_units,
            "n_raters": self.n_raters,
            "n_pairable_units": self.n_pairable_units,
            "level": self.level.value,
        }
        for name, estimate in named.items():
            out[name] = estimate.value
            out[f"{name}_ci95"] = list(estimate.ci) if estimate.ci else None
            if estimate.note:
                notes.append(f"{name}: {estimate.note}")
        out["cohen_kappa_pairs"] = {
            f"{a} / {b}": e.value for (a, b), e in self.cohen_kappa_pairs.items()
        }
        for (a, b), estimate in self.cohen_kappa_pairs.items():
            if estimate.note:
                notes.append(f"cohen_kappa {a} / {b}: {estimate.note}")
        out["notes"] = notes
        return out


def agreement(
    ratings: Iterable[Rating],
    level: Level = Level.NOMINAL,
    *,
    categories: Sequence[Hashable] | None = None,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
) -> Report:
    """Every statistic with bootstrap 95 % intervals (``replicates`` = 0: none)."""
    table = table_of(ratings, categories)
    pairs = cohen_kappa_pairs(table)
    report = Report(
        n_units=len(table.units),
        n_raters=len(table.raters),
        n_pairable_units=int(table.pairable.sum()),
        krippendorff_alpha=krippendorff_alpha(table, level),
        fleiss_kappa=fleiss_kappa(table),
        cohen_kappa_mean=mean_defined(pairs.values(), "pairwise kappa"),
        cohen_kappa_pairs=pairs,
        gwet_ac1=gwet_ac1(table),
        percent_agreement=percent_agreement(table),
        level=level,
    )
    if level is not Level.NOMINAL:
        report.notes.append(
            f"the kappas, AC1 and percent agreement treat the values as nominal categories; "
            f"alpha uses the {level.value} difference"
        )
    if replicates > 0 and report.n_pairable_units > 0:
        _bootstrap(report, table, level, replicates, np.random.default_rng(seed))
    return report


@dataclass(frozen=True)
class _Pair:
    """One pair of raters on the units both rated: unit indices, whether they agreed, and
    each one's category as one-hot rows."""

    units: NDArray[np.int64]
    agree: F64
    first: F64
    second: F64


def _pair_terms(table: Table) -> list[_Pair]:
    q = len(table.categories)
    eye = np.eye(q)
    pairs = []
    for i, j in itertools.combinations(range(len(table.raters)), 2):
        a, b = table.by_rater[:, i], table.by_rater[:, j]
        shared = np.flatnonzero((a >= 0) & (b >= 0))
        if len(shared):
            sa, sb = a[shared], b[shared]
            pairs.append(_Pair(shared, (sa == sb).astype(np.float64), eye[sa], eye[sb]))
    return pairs


def _mean_pair_kappas(pairs: list[_Pair], weights: F64) -> F64:
    """Per replicate (row of ``weights``), the mean of the defined pairwise kappas; NaN
    where none is defined."""
    total = np.zeros(len(weights))
    defined = np.zeros(len(weights))
    for pair in pairs:
        w = weights[:, pair.units]
        n = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            observed = (w @ pair.agree) / n
            expected = ((w @ pair.first) * (w @ pair.second)).sum(axis=1) / n**2
            kappa = (observed - expected) / (1.0 - expected)
        ok = (n > 0) & (expected < 1.0 - 1e-12)
        total[ok] += kappa[ok]
        defined[ok] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: F64 = np.where(defined > 0, total / defined, np.nan)
    return mean


def _bootstrap(
    report: Report, table: Table, level: Level, replicates: int, rng: np.random.Generator
) -> None:
    """Resample units (with replacement) and recompute each statistic per replicate, a
    chunk of replicates at once."""
    counts = table.counts.astype(np.float64)
    pairable_u, agreement_u, shares_u = _unit_terms(counts)
    m = counts.sum(axis=1)
    # Per-unit coincidences, flattened: a replicate's matrix is a weighted sum of them
    # (units with a single rating contribute none).
    q = len(table.categories)
    outer = counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(q)
    per_unit = outer / np.where(m >= 2, m - 1, np.inf)[:, None, None]
    flat = per_unit.reshape(len(counts), q * q)
    samples: dict[str, list[F64]] = {k: [] for k in ("a", "f", "g", "p", "c")}
    pairs = _pair_terms(table)
    for weights in _unit_weights(len(counts), replicates, rng):
        coincidences = (weights @ flat).reshape(len(weights), q, q)
        pairable_drawn = weights @ pairable_u
        agreements = weights @ agreement_u / np.maximum(pairable_drawn, 1e-300)
        pis = weights @ shares_u / weights.sum(axis=1)[:, None]
        # A replicate that drew no pairable unit has no statistic at all.
        unpairable = pairable_drawn == 0
        for key, values in (
            ("a", _alphas(coincidences, table.categories, level)),
            ("f", _chance_corrected(agreements, pis, _fleiss_chance)),
            ("g", _chance_corrected(agreements, pis, _gwet_chance)),
            ("p", agreements),
            ("c", _mean_pair_kappas(pairs, weights)),
        ):
            samples[key].append(np.where(unpairable, np.nan, values))
    for key, name in (
        ("a", "krippendorff_alpha"),
        ("f", "fleiss_kappa"),
        ("g", "gwet_ac1"),
        ("p", "percent_agreement"),
        ("c", "cohen_kappa_mean"),
    ):
        estimate: Estimate = getattr(report, name)
        if estimate.value is not None:
            interval = _interval(np.concatenate(samples[key]))
            setattr(report, name, Estimate(estimate.value, estimate.note, interval))


# ---- long-format CSV -----------------------------------------------------------------------

CSV_COLUMNS = ("unit", "rater", "value")


def read_long_csv(lines: Iterable[str], level: Level = Level.NOMINAL) -> list[Rating]:
    """Ratings from a CSV with the columns ``unit,rater,value`` (others are ignored; an empty
    value is a missing rating). Numbers are required for the ordinal, interval and ratio
    levels. Raises ValueError naming the line of the first problem."""
    import csv

    reader = csv.DictReader(lines)
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"the CSV needs the columns unit,rater,value; missing: {missing}")
    ratings = []
    for line, row in enumerate(reader, start=2):
        unit, rater, raw = (row[c].strip() if row[c] else "" for c in CSV_COLUMNS)
        if not unit or not rater:
            raise ValueError(f"line {line}: unit and rater must not be empty")
        value: Hashable | None = raw or None
        if value is not None and level is not Level.NOMINAL:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(
                    f"line {line}: {level.value} values are numbers, not {raw!r}"
                ) from None
        ratings.append(Rating(unit, rater, value))
    return ratings


# ---- region agreement ----------------------------------------------------------------------

Rectangle = tuple[int, int, int, int]
"""x, y, width, height."""
DEFAULT_IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class RegionReport:
    """How far raters' boxes on the same items coincide. Boxes are matched across raters by
    IoU (at least the threshold; the best pairs first; a region holds at most one box per
    rater). ``matched_share``: boxes in a region with another rater's box; ``mean_iou``: of
    the matched pairs; ``alpha``: Krippendorff's alpha (nominal) with every region a unit and
    each rater of its item saying whether they marked it."""

    threshold: float
    n_boxes: int
    n_regions: int
    matched_share: Estimate
    mean_iou: Estimate
    alpha: Estimate


def _regions(
    boxes: list[tuple[Hashable, Rectangle]], threshold: float
) -> tuple[list[set[int]], list[float]]:

    pairs = sorted(
        (
            (rectangle_iou(boxes[i][1], boxes[j][1]), i, j)
            for i, j in itertools.combinations(range(len(boxes)), 2)
            if boxes[i][0] != boxes[j][0]
        ),
        reverse=True,
    )
    group = list(range(len(boxes)))
    members: dict[int, set[int]] = {i: {i} for i in range(len(boxes))}
    ious = []
    for iou, i, j in pairs:
        if iou < threshold:
            break
        gi, gj = group[i], group[j]
        if gi == gj:
            continue
        raters_i = {boxes[k][0] for k in members[gi]}
        if raters_i & {boxes[k][0] for k in members[gj]}:
            continue  # a rater's two boxes never stand for one region
        members[gi] |= members.pop(gj)
        for k in members[gi]:
            group[k] = gi
        ious.append(iou)
    return list(members.values()), ious


def region_agreement(
    items: dict[Hashable, dict[Hashable, list[Rectangle]]],
    threshold: float = DEFAULT_IOU_THRESHOLD,
) -> RegionReport:
    """``items``: item -> rater -> that rater's boxes on it (an empty list: the rater saw the
    item and drew nothing, which counts as saying "no region here")."""
    if not 0 < threshold <= 1:
        raise ValueError("the IoU threshold is above 0 and at most 1")
    ratings: list[Rating] = []
    n_boxes = matched = n_regions = 0
    ious: list[float] = []
    for item, by_rater in items.items():
        boxes = [(rater, tuple(box)) for rater, drawn in by_rater.items() for box in drawn]
        n_boxes += len(boxes)
        regions, item_ious = _regions(boxes, threshold)  # type: ignore[arg-type]
        ious += item_ious
        for number, region in enumerate(regions):
            n_regions += 1
            if len(region) > 1:
                matched += len(region)
            marked = {boxes[k][0] for k in region}
            ratings += [Rating((item, number), r, r in marked) for r in by_rater]
    if n_boxes == 0:
        none = Estimate.undefined("no rater drew a box")
        return RegionReport(threshold, 0, 0, none, none, none)
    alpha = krippendorff_alpha(table_of(ratings, categories=[False, True]))
    return RegionReport(
        threshold,
        n_boxes,
        n_regions,
        Estimate(matched / n_boxes),
        Estimate(float(np.mean(ious))) if ious else Estimate.undefined("no two boxes matched"),
        alpha,
    )
