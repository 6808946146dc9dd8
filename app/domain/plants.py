"""Semantic changes planted into crops of photographs: what the detector learns from and what
its benchmark measures it on.

A plant gives two versions of one crop: what the original shows (the photograph, with the
object the change needs drawn on it: a plate of characters, an arrow, a lamp, a small shape)
and the same with one change of meaning (a character re-drawn as another, the arrow turned,
the lamp out, the shape gone or another shape, the object moved, a texture swapped). The
changed version is then passed through a codec, so that the change survives compression as a
miscompression would; the pair (original, reconstruction of the changed version) is a
positive example whose changed pixels are known. Each kind carries the paper's categories
(AMPLITUDE, GEOMETRY, SHAPE) and whether the change is to a SYMBOL.

Pure Pillow and NumPy. Fonts are passed in (paths to TrueType files, or None for Pillow's
built-in font), so that a benchmark can hold out fonts never seen in training.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

RGB8 = NDArray[np.uint8]
Mask = NDArray[np.bool_]
FontSource = Path | None
"""A TrueType file, or None for Pillow's built-in font."""

AMPLITUDE, GEOMETRY, SHAPE = "amplitude", "geometry", "shape"
OUTPUTS = ("miscompression", AMPLITUDE, GEOMETRY, SHAPE, "symbol")
"""What the detector scores, in its output channels' order."""


@dataclass(frozen=True)
class PlantedPair:
    original: RGB8
    changed: RGB8
    mask: Mask
    """The pixels whose meaning changed (the union of the object before and after)."""
    kind: str
    categories: tuple[str, ...]
    symbol: bool
    evidence: dict[str, Any]

    def targets(self) -> list[float]:
        """The pair's labels in ``OUTPUTS`` order."""
        return [1.0, *(float(c in self.categories) for c in OUTPUTS[1:4]), float(self.symbol)]


def _font(source: FontSource, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if source is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(source), size)


def _contrasting(region: RGB8, rng: np.random.Generator) -> tuple[int, int, int]:
    """A colour that stands out from ``region`` (dark on light, light on dark, some hue), by
    a contrast drawn between faint and full: a faint change is a hard one."""
    mean = region.reshape(-1, 3).mean(axis=0)
    light = float(mean.mean()) > 110
    base = rng.integers(0, 70, 3) if light else rng.integers(185, 256, 3)
    contrast = rng.uniform(0.35, 1.0)
    colour = mean + contrast * (base - mean)
    return (int(colour[0]), int(colour[1]), int(colour[2]))


def _box(size: int, rng: np.random.Generator, low: float, high: float) -> tuple[int, int, int]:
    """A square region (x, y, side) inside a crop of side ``size``, its side a share of it."""
    side = max(6, int(size * rng.uniform(low, high)))
    x, y = (int(v) for v in rng.integers(0, size - side + 1, 2))
    return x, y, side


def _drawn(pixels: RGB8, draw: Callable[[ImageDraw.ImageDraw], None]) -> RGB8:
    image = Image.fromarray(pixels)
    draw(ImageDraw.Draw(image))
    return np.asarray(image, dtype=np.uint8).copy()


def _mask_of(shape: tuple[int, ...], draw: Callable[[ImageDraw.ImageDraw], None]) -> Mask:
    image = Image.new("L", (shape[1], shape[0]), 0)
    draw(ImageDraw.Draw(image))
    return np.asarray(image) > 0


LOOKALIKES = {
    "0": "8690", "1": "74", "2": "7Z", "3": "8985", "4": "19", "5": "63", "6": "8590",
    "7": "12", "8": "36905", "9": "8306", "B": "8RE", "C": "GO", "D": "O0", "E": "FB",
    "F": "EP", "G": "C6", "H": "N", "I": "1L", "L": "IE", "M": "NW", "N": "MH", "O": "QDC",
    "P": "RF", "Q": "O", "R": "PB", "S": "5", "U": "V", "V": "U", "W": "M", "Z": "2",
}  # fmt: skip
"""Characters that a codec could plausibly turn into each other (8 and 6, E and F): the
changes whose pixels differ least, and the most dangerous ones."""


def other_character(character: str, rng: np.random.Generator) -> str:
    """Another character of the same class (a digit for a digit, a letter for a letter),
    half the time one that looks like it."""
    pool = string.digits if character.isdigit() else string.ascii_uppercase
    alike = [c for c in LOOKALIKES.get(character, "") if c in pool and c != character]
    if alike and rng.random() < 0.5:
        return str(rng.choice(alike))
    return str(rng.choice([c for c in pool if c != character]))


def glyph(crop: RGB8, rng: np.random.Generator, fonts: Sequence[FontSource]) -> PlantedPair:
    """A plate of 2-6 characters (a number plate, a price, a sign); one is another after."""
    size = crop.shape[0]
    font_source = fonts[int(rng.integers(len(fonts)))]
    text_size = max(8, int(size * rng.uniform(0.14, 0.3)))
    font = _font(font_source, text_size)
    digits = rng.random() < 0.6
    pool = string.digits if digits else string.ascii_uppercase
    text = "".join(rng.choice(list(pool), int(rng.integers(2, 7))))
    # Characters sit in cells of one width, as on a plate or a display: a character of
    # another width does not move its neighbours.
    cell = max(font.getlength(c) for c in pool)
    text = text[: max(1, int((size - 6) // cell))]
    width = int(cell * len(text)) + 4
    height = int(font.getbbox(pool)[3]) + 4
    x = int(rng.integers(0, max(1, size - width)))
    y = int(rng.integers(0, max(1, size - height)))
    plate = rng.random() < 0.6
    region = crop[y : y + height, x : x + width]
    ink = _contrasting(region, rng)
    paper = tuple(255 - c for c in ink) if plate else None
    index = int(rng.integers(len(text)))
    replaced = text[:index] + other_character(text[index], rng) + text[index + 1 :]

    def place(draw: ImageDraw.ImageDraw, at: int, character: str, fill: Any) -> None:
        left = x + 2 + at * cell + (cell - font.getlength(character)) / 2
        draw.text((left, y + 2), character, font=font, fill=fill)

    def writer(words: str) -> Callable[[ImageDraw.ImageDraw], None]:
        def write(draw: ImageDraw.ImageDraw) -> None:
            if paper is not None:
                draw.rectangle((x, y, x + width, y + height), fill=paper)
            for at, character in enumerate(words):
                place(draw, at, character, ink)

        return write

    def one_character(words: str) -> Callable[[ImageDraw.ImageDraw], None]:
        return lambda draw: place(draw, index, words[index], 255)

    mask = _mask_of(crop.shape, one_character(text)) | _mask_of(crop.shape, one_character(replaced))
    return PlantedPair(
        _drawn(crop, writer(text)),
        _drawn(crop, writer(replaced)),
        _grown(mask, 1),
        "glyph",
        (SHAPE,),
        True,
        {"before": text, "after": replaced, "font": font_source.name if font_source else "pillow"},
    )


def _arrow(cx: float, cy: float, length: float, angle: float) -> list[tuple[float, float]]:
    """An arrow's outline (shaft and head) centred on (cx, cy), pointing at ``angle``."""
    half, shaft, head = length / 2, length * 0.12, length * 0.3
    outline = [(-half, -shaft), (half - head, -shaft), (half - head, -head), (half, 0.0),
               (half - head, head), (half - head, shaft), (-half, shaft)]  # fmt: skip
    cos, sin = np.cos(angle), np.sin(angle)
    return [(cx + u * cos - v * sin, cy + u * sin + v * cos) for u, v in outline]


def arrow(crop: RGB8, rng: np.random.Generator, fonts: Sequence[FontSource]) -> PlantedPair:
    """A sign's arrow, turned by a quarter or half turn (GEOMETRY, SYMBOL)."""
    x, y, side = _box(crop.shape[0], rng, 0.25, 0.5)
    colour = _contrasting(crop[y : y + side, x : x + side], rng)
    angle = float(rng.integers(0, 8)) * np.pi / 4
    turn = float(rng.choice([np.pi / 2, np.pi, -np.pi / 2]))
    centre = (x + side / 2, y + side / 2)

    def pointing(direction: float, fill: Any) -> Callable[[ImageDraw.ImageDraw], None]:
        return lambda draw: draw.polygon(_arrow(*centre, side * 0.9, direction), fill=fill)

    before, after = pointing(angle, colour), pointing(angle + turn, colour)
    mask = _mask_of(crop.shape, pointing(angle, 255)) ^ _mask_of(
        crop.shape, pointing(angle + turn, 255)
    )
    return PlantedPair(
        _drawn(crop, before), _drawn(crop, after), _grown(mask, 1), "arrow", (GEOMETRY,), True,
        {"turned_degrees": round(float(np.degrees(turn)))},
    )  # fmt: skip


def light(crop: RGB8, rng: np.random.Generator, fonts: Sequence[FontSource]) -> PlantedPair:
    """A lamp (brake light, signal) that is out after (AMPLITUDE, SYMBOL)."""
    x, y, side = _box(crop.shape[0], rng, 0.08, 0.2)
    hue = [(255, 40, 30), (255, 190, 40), (60, 255, 90)][int(rng.integers(3))]
    dim = tuple(int(c * 0.3) + 20 for c in hue)
    disc = (x, y, x + side, y + side)
    glow = (x - side // 3, y - side // 3, x + side + side // 3, y + side + side // 3)

    def lamp(fill: tuple[int, ...], halo: bool) -> Callable[[ImageDraw.ImageDraw], None]:
        def draw_lamp(draw: ImageDraw.ImageDraw) -> None:
            if halo:
                draw.ellipse(glow, fill=tuple((c + 255) // 2 for c in fill))
            draw.ellipse(disc, fill=fill)

        return draw_lamp

    before = _drawn(crop, lamp(hue, True))
    after = _drawn(crop, lamp(dim, False))
    mask = np.any(before != after, axis=2)
    return PlantedPair(before, after, mask, "light", (AMPLITUDE,), True, {"colour": list(hue)})


def _shape(kind: str, box: tuple[int, int, int, int], fill: Any) -> Callable[..., None]:
    def draw_shape(draw: ImageDraw.ImageDraw) -> None:
        x0, y0, x1, y1 = box
        if kind == "disc":
            draw.ellipse(box, fill=fill)
        elif kind == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)

    return draw_shape


SHAPES = ("disc", "square", "triangle")


def small_shape(crop: RGB8, rng: np.random.Generator, fonts: Sequence[FontSource]) -> PlantedPair:
    """A small object that is gone after (AMPLITUDE), another shape after (SHAPE) or moved a
    few pixels (GEOMETRY)."""
    x, y, side = _box(crop.shape[0], rng, 0.1, 0.25)
    colour = _contrasting(crop[y : y + side, x : x + side], rng)
    kind = SHAPES[int(rng.integers(3))]
    box = (x, y, x + side, y + side)
    change = ("removed", "swapped", "moved")[int(rng.integers(3))]
    before = _drawn(crop, _shape(kind, box, colour))
    if change == "removed":
        after, categories = crop.copy(), (AMPLITUDE,)
    elif change == "swapped":
        other = SHAPES[(SHAPES.index(kind) + int(rng.integers(1, 3))) % 3]
        after, categories = _drawn(crop, _shape(other, box, colour)), (SHAPE,)
    else:
        limit = crop.shape[0] - side - 1
        dx, dy = (int(v) for v in rng.choice([-1, 1], 2) * rng.integers(3, 7, 2))
        moved = (min(max(x + dx, 0), limit), min(max(y + dy, 0), limit))
        box_after = (*moved, moved[0] + side, moved[1] + side)
        after, categories = _drawn(crop, _shape(kind, box_after, colour)), (GEOMETRY,)
    mask = np.any(before != after, axis=2)
    return PlantedPair(before, after, mask, f"shape_{change}", categories, False, {"shape": kind})


def texture(crop: RGB8, rng: np.random.Generator, fonts: Sequence[FontSource]) -> PlantedPair:
    """A patch whose texture is another part of the crop's after (SHAPE)."""
    size = crop.shape[0]
    x, y, side = _box(size, rng, 0.2, 0.35)
    sx, sy = (int(v) for v in rng.integers(0, size - side + 1, 2))
    after = crop.copy()
    after[y : y + side, x : x + side] = np.rot90(crop[sy : sy + side, sx : sx + side])
    mask = np.any(np.abs(after.astype(np.int16) - crop) > 24, axis=2)
    return PlantedPair(crop.copy(), after, mask, "texture", (SHAPE,), False, {"from": [sx, sy]})


PLANTS: dict[str, Callable[[RGB8, np.random.Generator, Sequence[FontSource]], PlantedPair]] = {
    "glyph": glyph,
    "arrow": arrow,
    "light": light,
    "shape": small_shape,
    "texture": texture,
}


def plant(
    crop: RGB8,
    rng: np.random.Generator,
    fonts: Sequence[FontSource] = (None,),
    kinds: Sequence[str] = tuple(PLANTS),
) -> PlantedPair:
    """One change of a kind drawn from ``kinds`` into a square ``crop``. A change too faint to
    see (a texture swapped with its like) is drawn again, so every pair changes something."""
    if crop.ndim != 3 or crop.shape[0] != crop.shape[1] or crop.shape[0] < 24:
        raise ValueError("plants go into square RGB crops of side 24 or more")
    for _ in range(20):
        pair = PLANTS[kinds[int(rng.integers(len(kinds)))]](crop, rng, fonts)
        if pair.mask.sum() >= 6:
            return pair
    raise ValueError("no visible change could be planted in this crop")


def _grown(mask: Mask, pixels: int) -> Mask:
    """``mask`` grown by ``pixels`` in each direction (anti-aliased edges belong to it)."""
    grown = mask.copy()
    for _ in range(pixels):
        shifted = grown.copy()
        shifted[1:] |= grown[:-1]
        shifted[:-1] |= grown[1:]
        shifted[:, 1:] |= grown[:, :-1]
        shifted[:, :-1] |= grown[:, 1:]
        grown = shifted
    return grown
