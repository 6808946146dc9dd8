"""Training and evaluation examples for the detector, reproducible from a seed: crops of
photographs with a semantic change planted before compression (positives) and the same kind
of crops compressed as they are (negatives), through real codecs.

Half of the negatives carry a drawn object too (a plate of characters, an arrow, a lamp, a
shape), unchanged: compression blurs them as it blurs any edge, and the detector must learn
that such error alone is no miscompression. Where distortion alone is enough (a lone plate
on a photograph), any method finds it; these negatives are what make the rest hard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from app.domain import plants
from app.domain.codecs.base import Codec

RGB8 = NDArray[np.uint8]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
JPEG_QUALITIES = (8, 12, 18, 25, 35, 50)


@dataclass(frozen=True)
class Example:
    original: RGB8
    reconstruction: RGB8
    mask: NDArray[np.bool_]
    """Where the meaning changed (empty for a negative)."""
    targets: tuple[float, ...]
    """In ``plants.OUTPUTS`` order (all 0 for a negative)."""
    kind: str
    codec: str


def photographs(folder: Path, *, limit: int | None = None) -> list[tuple[str, RGB8]]:
    """The images of ``folder`` (sorted by name), as RGB, with their names."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder of photographs at {folder}")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images in {folder}")
    found = []
    for path in paths[:limit]:
        with Image.open(path) as image:
            found.append((path.name, np.asarray(image.convert("RGB"), dtype=np.uint8)))
    return found


def split(names: Sequence[str], held_out_every: int = 5) -> tuple[list[int], list[int]]:
    """Indices of training and held-out photographs: every ``held_out_every``-th name (in
    sorted order) is held out, so that evaluation sees photographs training never did."""
    held = [i for i in range(len(names)) if i % held_out_every == held_out_every - 1]
    return [i for i in range(len(names)) if i not in held], held


def _crop(photo: RGB8, size: int, rng: np.random.Generator) -> RGB8:
    height, width = photo.shape[:2]
    if height < size or width < size:
        raise ValueError(f"a {width} x {height} photograph is smaller than crops of {size}")
    y = int(rng.integers(0, height - size + 1))
    x = int(rng.integers(0, width - size + 1))
    return np.ascontiguousarray(photo[y : y + size, x : x + size])


CodecChoice = Callable[[np.random.Generator], tuple[str, Codec]]


def codec_choice(neural: Codec | None) -> CodecChoice:
    """JPEG at a quality drawn from ``JPEG_QUALITIES``, or the neural codec (half the time
    when there is one)."""
    from app.domain.codecs import registry

    jpegs = {q: registry.build("jpeg", quality=q) for q in JPEG_QUALITIES}

    def choose(rng: np.random.Generator) -> tuple[str, Codec]:
        if neural is not None and rng.random() < 0.5:
            return neural.name, neural
        quality = JPEG_QUALITIES[int(rng.integers(len(JPEG_QUALITIES)))]
        return f"jpeg q{quality}", jpegs[quality]

    return choose


def synthetic(
    photos: Sequence[RGB8],
    count: int,
    rng: np.random.Generator,
    choose: CodecChoice,
    *,
    size: int = 96,
    fonts: Sequence[plants.FontSource] = (None,),
    kinds: Sequence[str] = tuple(plants.PLANTS),
    progress: Callable[[int, int], None] | None = None,
) -> list[Example]:
    """``count`` examples, half positive, from random crops of ``photos``."""
    examples = []
    for n in range(count):
        crop = _crop(photos[int(rng.integers(len(photos)))], size, rng)
        name, codec = choose(rng)
        role = n % 4  # positive, positive, plain negative, negative with an object
        if role < 2:
            pair = plants.plant(crop, rng, fonts, kinds)
            shown, changed, mask = pair.original, pair.changed, pair.mask
            targets, kind = tuple(pair.targets()), pair.kind
        elif role == 2:
            shown = changed = crop
            mask, targets, kind = np.zeros(crop.shape[:2], bool), (0.0,) * 5, "none"
        else:
            pair = plants.plant(crop, rng, fonts, kinds)
            shown = changed = pair.original
            mask, targets, kind = np.zeros(crop.shape[:2], bool), (0.0,) * 5, f"same {pair.kind}"
        reconstruction = codec.encode_decode(changed, seed=0).reconstruction
        examples.append(Example(shown, reconstruction, mask, targets, kind, name))
        if progress is not None:
            progress(n + 1, count)
    return examples
