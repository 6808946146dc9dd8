"""The pipeline's own PNG writer: every artefact it writes must decode, in any PNG reader, to
exactly the pixels given."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.domain import png


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("row_filter", list(png.RowFilter))
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (37, 53)])
def test_rgb_pngs_decode_to_the_same_pixels(
    shape: tuple[int, int], row_filter: png.RowFilter
) -> None:
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 255)  # wrap-around of the "up" filter both ways
    decoded = _decoded(png.encode(pixels, row_filter=row_filter))
    assert decoded.mode == "RGB" and decoded.size == (shape[1], shape[0])
    assert np.array_equal(np.asarray(decoded), pixels)


def test_a_non_contiguous_view_is_written_as_its_pixels() -> None:
    pixels = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)[::2, 5:25]
    assert np.array_equal(np.asarray(_decoded(png.encode(pixels))), pixels)


def test_palette_pngs_keep_indices_and_colours() -> None:
    palette = np.stack([np.arange(256), 255 - np.arange(256), np.zeros(256)], axis=1).astype(
        np.uint8
    )
    indices = (np.arange(40 * 70) % 256).astype(np.uint8).reshape(40, 70)
    decoded = _decoded(png.encode(indices, palette=palette, compress_level=1))
    assert decoded.mode == "P"
    assert np.array_equal(np.asarray(decoded), indices)
    assert np.array_equal(np.asarray(decoded.convert("RGB")), palette[indices])


def test_the_up_filter_makes_photograph_like_images_smaller() -> None:
    gradient = np.add.outer(np.arange(200), np.arange(300)) % 256
    pixels = np.repeat(gradient[:, :, None], 3, axis=2).astype(np.uint8)
    up = png.encode(pixels, row_filter=png.RowFilter.UP)
    none = png.encode(pixels, row_filter=png.RowFilter.NONE)
    assert len(up) < len(none)


@pytest.mark.parametrize(
    ("pixels", "palette", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), None, "uint8"),
        (np.zeros((4, 4), np.uint8), None, "RGB"),
        (np.zeros((4, 4, 4), np.uint8), None, "RGB"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 3), np.uint8), "palette"),
        (np.zeros((4, 4), np.uint8), np.zeros((257, 3), np.uint8), "palette"),
        (np.zeros((0, 4, 3), np.uint8), None, "at least one pixel"),
    ],
)
def test_malformed_pixels_are_refused(
    pixels: np.ndarray, palette: np.ndarray | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        png.encode(pixels, palette=palette)
