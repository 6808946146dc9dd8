from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.domain.images import ImageRejected, decode_image
from tests.factories import image_bytes

MAX = 20_000_000


def _decode(data: bytes):  # type: ignore[no-untyped-def]
    return decode_image(data, max_pixels=MAX)


@pytest.mark.parametrize(
    ("fmt", "mode", "expected_mode"),
    [
        ("PNG", "RGB", "RGB"),
        ("JPEG", "RGB", "RGB"),
        ("PNG", "L", "L"),
        ("PNG", "P", "P"),
        ("PNG", "RGBA", "RGBA"),
        ("PNG", "LA", "LA"),
        ("PNG", "1", "1"),
        ("TIFF", "CMYK", "CMYK"),
        ("JPEG", "CMYK", "CMYK"),
        ("WEBP", "RGB", "RGB"),
        ("BMP", "RGB", "RGB"),
        ("GIF", "P", "P"),
    ],
)
def test_every_colour_mode_becomes_8bit_rgb_and_the_original_mode_is_recorded(
    fmt: str, mode: str, expected_mode: str
) -> None:
    decoded = _decode(image_bytes(fmt, mode=mode))
    assert decoded.rgb.mode == "RGB"
    assert decoded.original_mode == expected_mode
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == (32, 24)
    assert np.asarray(decoded.rgb).dtype == np.uint8


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    values = np.array([[0, 128 * 257, 65535, 1000]], dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    decoded = _decode(buffer.getvalue())
    assert decoded.original_mode.startswith("I")
    assert np.asarray(decoded.rgb)[0, :, 0].tolist() == [0, 128, 255, 4]
    assert "16-bit greyscale scaled to 8 bits" in decoded.notes


def test_alpha_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    decoded = _decode(buffer.getvalue())
    assert decoded.rgb.getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (10, 200, 30))
    image.paste((250, 0, 0), (0, 0, 4, 4))  # marker in the top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display = rotate 90 degrees clockwise
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif)
    decoded = _decode(buffer.getvalue())
    assert (decoded.width, decoded.height) == (20, 40)
    red, green, _ = decoded.rgb.getpixel((18, 1))
    assert red > 200 and green < 50, "the top-left marker must end top-right after rotation"
    assert any("EXIF orientation" in note for note in decoded.notes)


def test_hashes_identify_bytes_and_pixels() -> None:
    png = image_bytes("PNG", colour=(1, 2, 3))
    same_pixels_other_bytes = image_bytes("PNG", colour=(1, 2, 3), compress_level=1)
    a, b = _decode(png), _decode(same_pixels_other_bytes)
    assert a.source_sha256 != b.source_sha256
    assert a.pixels_sha256 == b.pixels_sha256


def test_stored_png_is_lossless() -> None:
    decoded = _decode(image_bytes("PNG"))
    again = Image.open(io.BytesIO(decoded.png_bytes()))
    assert np.array_equal(np.asarray(again), np.asarray(decoded.rgb))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"this is a text file, not an image\n" * 10, "not an image"),
        (b"%PDF-1.7\n" + b"0" * 200, "not an image"),
    ],
)
def test_non_images_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(ImageRejected, match=message):
        _decode(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_are_rejected(fmt: str) -> None:
    data = image_bytes(fmt, size=(256, 256))
    with pytest.raises(ImageRejected, match="corrupt or truncated|unreadable|not an image"):
        _decode(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (6000, 4000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 100_000, "a bomb is small on disk"
    with pytest.raises(ImageRejected, match="decompression bomb"):
        _decode(buffer.getvalue())
