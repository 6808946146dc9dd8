"""Design-based crop samples whose every crop carries its exact inclusion probability.

Two designs, both over the same population (every crop position of every reconstruction,
per crop size), so that their prevalence estimates estimate the same thing:

- uniform (``random`` crops): each result is a stratum given its proportional share of the
  sample, ``count * positions / all positions``, rounded up or down by systematic sampling
  (so that its expectation is exact), then positions drawn without replacement inside it.
  Every position's inclusion probability is ``count / all positions``, as for a simple
  random sample, and no image can take more than its area's share (plus one).
- weighted (``detector`` crops): the same strata, then inside each result probability
  proportional to size, where a position's size is its score on a coarse grid, mixed with a
  floor so that every position keeps a known non-zero probability. Positions are drawn by
  systematic sampling along the grid, and the probability stored is the unconditional one
  (averaged over the stratum's two possible sample sizes).

Pure NumPy; nothing here knows where the scores come from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def systematic_allocation(expected: Sequence[float], rng: np.random.Generator) -> I64:
    """Whole counts per stratum summing to ``round(sum(expected))``, each ``expected[i]``
    rounded down or up, up with probability its fractional part: one uniform start and
    points one apart along the strata's cumulative expectations."""
    shares = np.asarray(expected, dtype=np.float64)
    if shares.size == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(shares)
    # Rounding keeps a sum like 2.9999999 from losing a point to floating point.
    start = rng.random()
    points_before = np.floor(np.round(np.concatenate([[0.0], ends]) - start, 9) + 1)
    counts: I64 = np.diff(np.maximum(points_before, 0)).astype(np.int64)
    return counts


def pps_probabilities(sizes: F64, members: I64, count: int) -> F64:
    """The inclusion probability of each member of each group when ``count`` units are drawn
    with probability proportional to size: groups of ``members`` units that share a size.
    Groups whose units would exceed probability 1 are taken whole and the rest share what
    is left (the usual iterative capping)."""
    probability = np.zeros(len(sizes), dtype=np.float64)
    capped = np.zeros(len(sizes), dtype=bool)
    left = float(count)
    while left > 0:
        open_groups = ~capped & (members > 0) & (sizes > 0)
        total = float((sizes[open_groups] * members[open_groups]).sum())
        if total <= 0:
            break
        probability[open_groups] = left * sizes[open_groups] / total
        over = open_groups & (probability >= 1.0)
        if not over.any():
            break
        probability[over] = 1.0
        capped |= over
        left = count - float(members[capped].sum())
    return np.minimum(probability, 1.0)


def systematic_pps(
    probability: F64, members: I64, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Units drawn by systematic sampling along the groups' cumulative probabilities, each
    with its probability: (group, unit within the group) pairs, no unit twice."""
    lengths = probability * members
    ends = np.cumsum(lengths)
    total = float(ends[-1]) if len(ends) else 0.0
    count = int(round(total))
    if count == 0:
        return []
    points = rng.random() + np.arange(count, dtype=np.float64)
    points = points[points < total]
    groups = np.searchsorted(ends, points, side="right")
    groups = np.minimum(groups, len(ends) - 1)
    offsets = points - (ends - lengths)[groups]
    units = np.minimum(np.floor(offsets / probability[groups]), members[groups] - 1)
    return list(zip(groups.tolist(), units.astype(np.int64).tolist(), strict=True))


@dataclass(frozen=True)
class Grid:
    """Scores of crop positions on a coarse grid: ``scores[i, j]`` for the positions whose
    row lies in ``[i * stride, (i + 1) * stride)`` and column in ``[j * stride, ...)``."""

    scores: NDArray[np.floating[Any]]
    stride: int


@dataclass(frozen=True)
class Drawn:
    """One drawn crop: the result's index, its top-left corner and inclusion probability."""

    index: int
    x: int
    y: int
    probability: float


def _cells(width: int, height: int, size: int, grid: Grid) -> tuple[F64, I64, int]:
    """The grid's cells over the crop positions of an image: each cell's score and how many
    positions it holds (border cells hold fewer), and the number of cell columns."""
    columns, rows = width - size + 1, height - size + 1
    stride = grid.stride
    cell_rows, cell_columns = math.ceil(rows / stride), math.ceil(columns / stride)
    if grid.scores.shape != (cell_rows, cell_columns):
        raise ValueError(
            f"a grid of {grid.scores.shape} for {cell_rows} x {cell_columns} cells of crop "
            f"positions of side {size} in a {width} x {height} image"
        )
    heights = np.minimum(stride, rows - stride * np.arange(cell_rows))
    widths = np.minimum(stride, columns - stride * np.arange(cell_columns))
    members = np.outer(heights, widths).astype(np.int64).ravel()
    return np.asarray(grid.scores, dtype=np.float64).ravel(), members, cell_columns


def floored_sizes(scores: F64, members: I64, floor: float) -> F64:
    """Sizes for probability proportional to score with a floor: ``floor`` of every
    position's share is uniform and the rest follows the scores (negative or non-finite
    scores count as 0), so no position's probability falls below ``floor`` times the
    uniform one."""
    if not 0.0 < floor <= 1.0:
        raise ValueError("the floor must be in (0, 1]")
    clean = np.where(np.isfinite(scores), np.maximum(scores, 0.0), 0.0)
    mean = float((clean * members).sum() / max(int(members.sum()), 1))
    relative = clean / mean if mean > 0 else np.ones_like(clean)
    return floor + (1.0 - floor) * relative


def crops_across(
    dimensions: Sequence[tuple[int, int]],
    size: int,
    count: int,
    rng: np.random.Generator,
    grids: Sequence[Grid] | None = None,
    *,
    floor: float = 1.0,
) -> list[Drawn]:
    """``count`` distinct crop positions of side ``size`` over the images of ``dimensions``
    (width, height), stratified by image in proportion to its positions. Without ``grids``
    uniform inside each image; with them (one per image) proportional to the floored scores
    (``floored_sizes``). Each crop carries its unconditional inclusion probability."""
    columns = np.array([max(w - size + 1, 0) for w, _ in dimensions], dtype=np.int64)
    rows = np.array([max(h - size + 1, 0) for _, h in dimensions], dtype=np.int64)
    units = columns * rows
    total = int(units.sum())
    drawn = min(count, total)
    if drawn == 0:
        return []
    expected = drawn * units / total
    allocated = systematic_allocation(expected.tolist(), rng)
    found: list[Drawn] = []
    for index, wanted in enumerate(allocated.tolist()):
        if grids is None:
            if wanted:
                chosen = rng.choice(int(units[index]), size=wanted, replace=False)
                probability = drawn / total
                found += [
                    Drawn(index, int(c % columns[index]), int(c // columns[index]), probability)
                    for c in np.sort(chosen).tolist()
                ]
            continue
        width, height = dimensions[index]
        scores, members, cell_columns = _cells(width, height, size, grids[index])
        sizes = floored_sizes(scores, members, floor)
        # The stratum holds floor(e) or ceil(e) crops, ceil with probability frac(e): a
        # position's probability is the mixture of its probabilities at the two sizes.
        low = math.floor(expected[index] + 1e-9)
        up_share = float(expected[index] - low) if expected[index] - low > 1e-9 else 0.0
        at_low = pps_probabilities(sizes, members, low)
        at_high = pps_probabilities(sizes, members, low + 1) if up_share else at_low
        unconditional = (1 - up_share) * at_low + up_share * at_high
        if not wanted:
            continue
        conditional = at_low if wanted == low else at_high
        stride = grids[index].stride
        for cell, unit in systematic_pps(conditional, members, rng):
            cell_row, cell_column = divmod(cell, cell_columns)
            cell_width = min(stride, int(columns[index]) - stride * cell_column)
            dy, dx = divmod(unit, cell_width)
            found.append(
                Drawn(
                    index,
                    cell_column * stride + dx,
                    cell_row * stride + dy,
                    float(unconditional[cell]),
                )
            )
    return found
