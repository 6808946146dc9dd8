"""Crop proposals: which square crops of a reconstruction are worth a human look.

Three methods, as the study design needs them:
- ``guided``: regions where a distortion map (already normalised per codec and bpp bucket over
  the whole dataset, see ``bucket_scale``) is high. Scored by their peak, not their area, so a
  small high-contrast change (the paper's key example covers 0.2 % of the image) ranks with
  large ones; non-maximum suppression keeps overlapping crops from crowding the top k.
- ``text``: words that OCR reads differently in the original and the reconstruction (a strong
  SYMBOL candidate), with the text before and after as evidence.
- ``random``: positions drawn uniformly without replacement, each with its inclusion
  probability, so prevalence can be estimated without the guided methods' bias.

Boxes are in original-image pixel coordinates. Everything here is pure (NumPy/SciPy); the OCR
engine is passed in.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.domain import sampling

DEFAULT_SIZES = (64, 128, 256)


def rectangle_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, width, height) rectangles; 0 for empty ones."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


@dataclass(frozen=True)
class Box:
    """A square crop: top-left corner and side, in original-image pixels."""

    x: int
    y: int
    size: int

    def iou(self, other: Box) -> float:
        return rectangle_iou(
            (self.x, self.y, self.size, self.size), (other.x, other.y, other.size, other.size)
        )

    def share_percent(self, width: int, height: int) -> float:
        return 100.0 * self.size**2 / (width * height)

    @classmethod
    def centred(cls, cx: float, cy: float, size: int, width: int, height: int) -> Box:
        """The crop of side ``size`` centred on (cx, cy), moved inside the image."""
        x = int(round(cx - size / 2))
        y = int(round(cy - size / 2))
        return cls(min(max(x, 0), width - size), min(max(y, 0), height - size), size)


CONTEXT_FACTORS = (2, 4)
"""How much wider than the crop annotators may look, without leaving the item."""
THUMBNAIL_SIDE = 320
"""The longest side of the whole-image thumbnail shown beside an item."""


def context_window(box: Box, factor: int, width: int, height: int) -> Box | None:
    """The square ``factor`` times the crop's side around it, moved inside the image (and
    cut to the image's shorter side); None when that is no wider than the crop itself."""
    side = min(box.size * factor, width, height)
    if side <= box.size:
        return None
    return Box.centred(box.x + box.size / 2, box.y + box.size / 2, side, width, height)


def thumbnail_size(width: int, height: int, longest: int = THUMBNAIL_SIDE) -> tuple[int, int]:
    """The size of a thumbnail whose longest side is at most ``longest`` pixels."""
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True)
class Proposal:
    box: Box
    method: str
    """The name of the proposal method that found it (``app/studies/methods``), or control."""
    score: float
    inclusion_probability: float | None = None
    """Design-based samples only (random crops): the probability that this crop was drawn."""
    evidence: dict[str, Any] = field(default_factory=dict)


def fits(size: int, width: int, height: int) -> bool:
    return size <= width and size <= height


# ---------------------------------------------------------------------------- random crops


def per_size(sizes: list[int], total: int) -> dict[int, int]:
    """``total`` items split evenly over the crop sizes, the first sizes taking one more
    where it does not divide: how a study's proposal shares its items out."""
    parts = len(sizes)
    return {size: total // parts + (1 if i < total % parts else 0) for i, size in enumerate(sizes)}


def random_positions(width: int, height: int, size: int) -> int:
    return (width - size + 1) * (height - size + 1) if fits(size, width, height) else 0


def random_crops(
    width: int, height: int, size: int, count: int, rng: np.random.Generator
) -> list[Proposal]:
    """``count`` distinct positions, uniformly without replacement: each of the N possible
    positions is drawn with probability count / N (the Horvitz-Thompson weight is N / count)."""
    return [proposal for _, proposal in random_crops_across([(width, height)], size, count, rng)]


def random_crops_across(
    dimensions: Sequence[tuple[int, int]], size: int, count: int, rng: np.random.Generator
) -> list[tuple[int, Proposal]]:
    """``count`` distinct (image, position) units drawn from every position of every image
    of ``dimensions`` (width, height), each with probability count / units: stratified by
    image in proportion to its positions (``sampling.crops_across``), so that no image takes
    more than its share. Returns (index into ``dimensions``, proposal) pairs."""
    total = sum(random_positions(width, height, size) for width, height in dimensions)
    return [
        (
            drawn.index,
            Proposal(
                Box(drawn.x, drawn.y, size),
                "random",
                0.0,
                inclusion_probability=drawn.probability,
                evidence={"units": total},
            ),
        )
        for drawn in sampling.crops_across(dimensions, size, count, rng)
    ]


# ---------------------------------------------------------------------------- guided crops


def bucket_scale(maps: Sequence[NDArray[np.floating[Any]]], percentile: float = 95.0) -> float:
    """The value that the maps of one codec and bpp bucket are divided by: their pooled 95th
    percentile, the bucket's typical high error. Guided crops then look for regions a few
    times above it. Normalising per bucket (not per image) keeps a clean reconstruction's
    noise from being promoted, and lets one image hold many candidates when it is the worst
    of its bucket."""
    if not maps:
        raise ValueError("no maps to normalise")
    rng = np.random.default_rng(0)
    pooled = []
    for values in maps:
        flat = np.asarray(values, dtype=np.float32).ravel()
        # A fixed-size sample per map keeps memory flat for big buckets.
        pooled.append(flat if flat.size <= 65_536 else rng.choice(flat, 65_536, replace=False))
    scale = float(np.percentile(np.concatenate(pooled), percentile))
    return scale if scale > 0 else 1.0


def guided_crops(
    normalised: NDArray[np.floating[Any]],
    size: int,
    *,
    top_k: int = 5,
    threshold: float = 2.0,
    sigma: float = 1.5,
    max_iou: float = 0.25,
) -> list[Proposal]:
    """Crops centred on the peaks of connected regions where the smoothed, normalised map
    exceeds ``threshold``; best peak first, overlapping crops suppressed, at most ``top_k``."""
    from scipy import ndimage

    height, width = normalised.shape
    if not fits(size, width, height):
        return []
    smoothed = ndimage.gaussian_filter(np.asarray(normalised, dtype=np.float32), sigma)
    labels, count = ndimage.label(smoothed > threshold)
    if count == 0:
        return []
    index = np.arange(1, count + 1)
    peaks = ndimage.maximum(smoothed, labels, index)
    peak_positions = ndimage.maximum_position(smoothed, labels, index)
    areas = ndimage.sum_labels(np.ones_like(smoothed), labels, index)
    means = ndimage.mean(smoothed, labels, index)
    regions = sorted(
        zip(peaks, peak_positions, areas, means, strict=True), key=lambda r: -float(r[0])
    )
    chosen: list[Proposal] = []
    for peak, (py, px), area, mean in regions:
        box = Box.centred(px + 0.5, py + 0.5, size, width, height)
        if any(box.iou(p.box) > max_iou for p in chosen):
            continue
        chosen.append(
            Proposal(
                box,
                "guided",
                float(peak),
                evidence={
                    "peak": round(float(peak), 4),
                    "region_mean": round(float(mean), 4),
                    "region_px": int(area),
                    "region_share_percent": round(100.0 * float(area) / (width * height), 4),
                },
            )
        )
        if len(chosen) == top_k:
            break
    return chosen


# ---------------------------------------------------------------------------- text crops


@dataclass(frozen=True)
class Word:
    x: int
    y: int
    width: int
    height: int
    text: str
    confidence: float

    def iou(self, other: Word) -> float:
        return rectangle_iou(
            (self.x, self.y, self.width, self.height),
            (other.x, other.y, other.width, other.height),
        )


_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "|": "1"})


def normalise_text(text: str, *, digits: bool) -> str:
    """Compatibility forms folded (full-width and other Unicode digits become 0-9), case and
    punctuation dropped. In words that are mostly digits, OCR's usual letter-for-digit
    confusions (O for 0, l for 1) are folded too, so that only real changes count."""
    folded = unicodedata.normalize("NFKC", text)
    if digits:
        folded = folded.translate(_DIGIT_LOOKALIKES)
    return re.sub(r"[\W_]+", "", folded.casefold())


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _mostly_digits(*texts: str) -> bool:
    joined = "".join(texts)
    return sum(c.isdigit() for c in joined) * 2 >= len(joined) > 0


def text_changes(
    before: list[Word], after: list[Word], *, min_iou: float = 0.3
) -> list[dict[str, Any]]:
    """Words read differently in the reconstruction, gone from it, or new in it."""
    changes: list[dict[str, Any]] = []
    matched_after: set[int] = set()
    for word in before:
        best, best_iou = None, min_iou
        for j, other in enumerate(after):
            overlap = word.iou(other)
            if overlap >= best_iou:
                best, best_iou = j, overlap
        if best is None:
            changes.append({"word": word, "before": word.text, "after": "", "kind": "missing"})
            continue
        matched_after.add(best)
        other = after[best]
        digits = _mostly_digits(word.text, other.text)
        a = normalise_text(word.text, digits=digits)
        b = normalise_text(other.text, digits=digits)
        if a != b:
            distance = edit_distance(a, b)
            changes.append(
                {
                    "word": word,
                    "before": word.text,
                    "after": other.text,
                    "kind": "changed",
                    "distance": distance,
                    "relative": distance / max(len(a), len(b), 1),
                }
            )
    for j, other in enumerate(after):
        if j not in matched_after and not any(other.iou(w) >= min_iou for w in before):
            changes.append({"word": other, "before": "", "after": other.text, "kind": "new"})
    return changes


def text_crops(
    before: list[Word], after: list[Word], size: int, width: int, height: int
) -> list[Proposal]:
    """One crop per changed word, centred on it; changed digits score highest."""
    if not fits(size, width, height):
        return []
    proposals = []
    for change in text_changes(before, after):
        word: Word = change["word"]
        relative = change.get("relative", 1.0)
        has_digits = any(c.isdigit() for c in change["before"] + change["after"])
        score = (2.0 if change["kind"] == "changed" else 1.0) * relative + (
            1.0 if has_digits else 0.0
        )
        proposals.append(
            Proposal(
                Box.centred(word.x + word.width / 2, word.y + word.height / 2, size, width, height),
                "text",
                round(score, 4),
                evidence={
                    "before": change["before"],
                    "after": change["after"],
                    "change": change["kind"],
                    "distance": change.get("distance"),
                    "word_box": [word.x, word.y, word.width, word.height],
                },
            )
        )
    return sorted(proposals, key=lambda p: -p.score)


def share_of_image(box: Box, width: int, height: int) -> float:
    return round(box.share_percent(width, height), 4)


def log_bpp_bucket(bpp: float, per_octave: int = 2) -> float:
    """The lower edge of the bpp bucket (half-octave buckets by default): results whose bpp
    share a bucket are normalised together."""
    if bpp <= 0:
        return 0.0
    step = math.floor(math.log2(bpp) * per_octave) / per_octave
    return round(float(2.0**step), 4)
