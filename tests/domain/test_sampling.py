"""Crop samples carry their exact inclusion probabilities: over many draws each position is
drawn as often as its stored probability says, Horvitz-Thompson totals come out unbiased,
weighted draws follow the scores above their floor, and every image keeps its share."""

from __future__ import annotations

import numpy as np
import pytest

from app.domain import sampling

DIMENSIONS = [(40, 30), (70, 25), (24, 24)]
SIZE = 16
DRAWS = 4000


def _positions(width: int, height: int) -> int:
    return (width - SIZE + 1) * (height - SIZE + 1)


def _grids(rng: np.random.Generator, stride: int = 4) -> list[sampling.Grid]:
    """Scores with a few hot cells per image, as a detector's would be."""
    grids = []
    for width, height in DIMENSIONS:
        shape = (-(-(height - SIZE + 1) // stride), -(-(width - SIZE + 1) // stride))
        scores = rng.random(shape) * 0.1
        scores.flat[rng.choice(scores.size, 2, replace=False)] = 5.0
        grids.append(sampling.Grid(scores, stride))
    return grids


def test_systematic_allocation_rounds_each_share_with_its_exact_expectation() -> None:
    expected = [2.3, 0.45, 1.25, 3.0]
    rng = np.random.default_rng(1)
    counts = np.array([sampling.systematic_allocation(expected, rng) for _ in range(20000)])
    assert set(counts.sum(axis=1).tolist()) == {7}
    for column, share in enumerate(expected):
        assert set(counts[:, column].tolist()) <= {int(np.floor(share)), int(np.ceil(share))}
    assert counts.mean(axis=0) == pytest.approx(expected, abs=0.02)


def test_capping_gives_whole_groups_probability_one_and_keeps_the_sample_size() -> None:
    sizes = np.array([100.0, 1.0, 1.0, 1.0])
    members = np.array([1, 5, 5, 5])
    probability = sampling.pps_probabilities(sizes, members, 4)
    assert probability[0] == 1.0
    assert (probability * members).sum() == pytest.approx(4)
    assert probability[1:] == pytest.approx([0.2, 0.2, 0.2])


@pytest.mark.parametrize("weighted", [False, True])
def test_each_position_is_drawn_as_often_as_its_probability_says(weighted: bool) -> None:
    rng = np.random.default_rng(7)
    grids = _grids(rng) if weighted else None
    count = 9
    hits: dict[tuple[int, int, int], int] = {}
    probability: dict[tuple[int, int, int], float] = {}
    per_image = np.zeros((DRAWS, len(DIMENSIONS)), dtype=np.int64)
    for draw in range(DRAWS):
        drawn = sampling.crops_across(DIMENSIONS, SIZE, count, rng, grids, floor=0.2)
        assert len(drawn) == count
        keys = [(d.index, d.x, d.y) for d in drawn]
        assert len(set(keys)) == count  # no position twice
        for d, key in zip(drawn, keys, strict=True):
            width, height = DIMENSIONS[d.index]
            assert 0 <= d.x <= width - SIZE and 0 <= d.y <= height - SIZE
            hits[key] = hits.get(key, 0) + 1
            assert probability.setdefault(key, d.probability) == d.probability
            per_image[draw, d.index] += 1
    units = sum(_positions(w, h) for w, h in DIMENSIONS)
    shares = [count * _positions(w, h) / units for w, h in DIMENSIONS]
    # Each image holds its proportional share, rounded down or up, never more.
    for column, share in enumerate(shares):
        assert set(per_image[:, column].tolist()) <= {int(np.floor(share)), int(np.ceil(share))}
    # Frequencies match the stored probabilities: pooled by probability band, within five
    # binomial standard errors.
    stored = np.array(list(probability.values()))
    seen = np.array([hits[key] for key in probability])
    if not weighted:
        assert stored == pytest.approx(count / units)
    for low, high in [(0, 0.01), (0.01, 0.05), (0.05, 1.01)]:
        band = (stored >= low) & (stored < high)
        if band.any():
            expected = stored[band].sum() * DRAWS
            assert abs(seen[band].sum() - expected) <= 5 * np.sqrt(expected) + 1, (low, high)


def test_weighted_crops_favour_high_scores_yet_estimate_totals_without_bias() -> None:
    rng = np.random.default_rng(11)
    grids = _grids(rng)
    # A quantity per position: 1 where the position's cell is hot, else 0, and its total.
    truth = []
    for grid, (width, height) in zip(grids, DIMENSIONS, strict=True):
        rows, columns = height - SIZE + 1, width - SIZE + 1
        cell = grid.scores[np.arange(rows)[:, None] // 4, np.arange(columns)[None, :] // 4]
        truth.append(cell > 1.0)
    total = sum(int(t.sum()) for t in truth)
    estimates, hot_weighted, hot_uniform = [], 0, 0
    for _ in range(DRAWS):
        drawn = sampling.crops_across(DIMENSIONS, SIZE, 6, rng, grids, floor=0.2)
        estimates.append(sum(truth[d.index][d.y, d.x] / d.probability for d in drawn))
        hot_weighted += sum(int(truth[d.index][d.y, d.x]) for d in drawn)
        uniform = sampling.crops_across(DIMENSIONS, SIZE, 6, rng)
        hot_uniform += sum(int(truth[d.index][d.y, d.x]) for d in uniform)
    error = np.std(estimates, ddof=1) / np.sqrt(DRAWS)
    assert abs(np.mean(estimates) - total) <= 4 * error
    assert hot_weighted > 3 * hot_uniform  # the scores pay off


def test_every_position_keeps_at_least_its_floor_and_bad_grids_are_refused() -> None:
    rng = np.random.default_rng(3)
    grids = _grids(rng)
    units = sum(_positions(w, h) for w, h in DIMENSIONS)
    for _ in range(200):
        for drawn in sampling.crops_across(DIMENSIONS, SIZE, 9, rng, grids, floor=0.25):
            assert drawn.probability >= 0.25 * 9 / units * 0.999
    nan_scores = sampling.Grid(np.full(grids[0].scores.shape, np.nan), 4)
    drawn = sampling.crops_across(DIMENSIONS[:1], SIZE, 3, rng, [nan_scores], floor=0.5)
    assert len(drawn) == 3  # unreadable scores fall back to uniform
    with pytest.raises(ValueError, match="grid of"):
        sampling.crops_across(DIMENSIONS[:1], SIZE, 3, rng, [sampling.Grid(np.ones((2, 2)), 4)])
    with pytest.raises(ValueError, match="floor"):
        sampling.crops_across(DIMENSIONS[:1], SIZE, 3, rng, grids[:1], floor=0.0)
