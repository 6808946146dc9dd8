"""Planted semantic changes: each kind changes its crop only where its mask says, carries the
paper's categories and the SYMBOL flag, and the same seed plants the same change."""

from __future__ import annotations

import numpy as np
import pytest

from app.domain import plants


def _photo_like(seed: int, size: int = 96) -> np.ndarray:
    """A textured crop: smooth colour gradients with noise, like a patch of a photograph."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([120 + 80 * xx, 90 + 60 * yy, 140 - 50 * xx * yy], axis=2)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


EXPECTED = {
    "glyph": ({"glyph"}, True),
    "arrow": ({"arrow"}, True),
    "light": ({"light"}, True),
    "shape": ({"shape_removed", "shape_swapped", "shape_moved"}, False),
    "texture": ({"texture"}, False),
}


@pytest.mark.parametrize("kind", list(plants.PLANTS))
def test_each_kind_changes_only_inside_its_mask_and_says_what_it_is(kind: str) -> None:
    for seed in range(12):
        crop = _photo_like(seed)
        pair = plants.plant(crop, np.random.default_rng(seed), kinds=[kind])
        kinds, symbol = EXPECTED[kind]
        assert pair.kind in kinds and pair.symbol is symbol
        assert pair.original.shape == pair.changed.shape == crop.shape
        assert pair.mask.shape == crop.shape[:2] and pair.mask.sum() >= 6
        difference = np.abs(pair.original.astype(np.int16) - pair.changed).max(axis=2)
        assert difference[pair.mask].max() > 40  # a change one can see
        outside = difference[~pair.mask]
        assert outside.max(initial=0) <= (24 if kind == "texture" else 0)
        # Outside the change, the original is the photograph (or the drawn object, the same
        # in both versions).
        targets = pair.targets()
        assert targets[0] == 1.0 and targets[4] == float(symbol)
        assert sum(targets[1:4]) == 1.0
        assert {plants.OUTPUTS[i] for i in (1, 2, 3) if targets[i]} == set(pair.categories)


def test_the_same_seed_plants_the_same_change_and_kinds_mix() -> None:
    crop = _photo_like(1, 128)
    first = plants.plant(crop, np.random.default_rng(5))
    again = plants.plant(crop, np.random.default_rng(5))
    assert np.array_equal(first.changed, again.changed) and first.evidence == again.evidence
    drawn = {plants.plant(crop, np.random.default_rng(s)).kind.split("_")[0] for s in range(40)}
    assert drawn == set(plants.PLANTS)


def test_a_glyph_changes_one_character_into_another_of_its_class() -> None:
    for seed in range(20):
        pair = plants.plant(_photo_like(seed, 128), np.random.default_rng(seed), kinds=["glyph"])
        before, after = pair.evidence["before"], pair.evidence["after"]
        changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
        assert len(changed) == 1
        a, b = changed[0]
        assert a.isdigit() == b.isdigit()


def test_crops_that_cannot_take_a_plant_are_refused() -> None:
    with pytest.raises(ValueError, match="square RGB"):
        plants.plant(np.zeros((32, 48, 3), np.uint8), np.random.default_rng(0))
    with pytest.raises(ValueError, match="square RGB"):
        plants.plant(np.zeros((16, 16, 3), np.uint8), np.random.default_rng(0))
