"""The pipeline's own PNG writer: every artefact it writes must decode, in any PNG reader, to
exactly the pixels given."""

from __future__ import annotations

import io
import zlib

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


def _chunks(data: bytes) -> list[tuple[bytes, int]]:
    """(type, length) of every chunk after the signature."""
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        chunks.append((data[offset + 4 : offset + 8], length))
        offset += 12 + length
    return chunks


@pytest.mark.parametrize("shape", [(1, 1), (16, 16), (64, 64), (37, 53)])
def test_equal_length_pngs_share_every_length_and_keep_their_pixels(
    shape: tuple[int, int],
) -> None:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)  # compresses worst
    flat = np.full((*shape, 3), 128, np.uint8)  # compresses best
    steps = (noise // 64 * 64).astype(np.uint8)
    images = [flat, noise, steps]
    encoded = png.encode_equal_length(images)
    assert len({len(data) for data in encoded}) == 1
    assert len({tuple(_chunks(data)) for data in encoded}) == 1
    assert [kind for kind, _ in _chunks(encoded[0])] == [b"IHDR", b"IDAT", b"IEND"]
    for pixels, data in zip(images, encoded, strict=True):
        decoded = _decoded(data)
        assert np.array_equal(np.asarray(decoded), pixels)
        # zlib, which browsers use too, reads the padded stream to its end with nothing over.
        idat = data[8 + 25 + 8 : -12 - 4]
        inflater = zlib.decompressobj()
        inflater.decompress(idat)
        assert inflater.eof and inflater.unused_data == b""


def test_every_padding_length_is_reachable() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    lengths = set()
    for flattened_rows in range(24):
        other = base.copy()
        other[:flattened_rows] = 0  # compresses a little better with every row
        first, second = png.encode_equal_length([base, other])
        assert len(first) == len(second)
        lengths.add(len(png.encode(other, compress_level=6)))
        assert np.array_equal(np.asarray(_decoded(second)), other)
    assert len(lengths) > 10  # the padding covered many different gaps


def test_equal_length_needs_one_size() -> None:
    with pytest.raises(ValueError, match="one size"):
        png.encode_equal_length([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)])
