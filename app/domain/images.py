"""Accepting an image: fully decode it, normalise it to 8-bit RGB, and say why when we can't.

Everything downstream (codecs, metrics, crops, the viewer) assumes 8-bit RGB pixels that were
decoded completely, so this is the single gate every imported file passes through.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from app.domain import png

# A truncated file must be an error, never a silently grey-padded image.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


class ImageRejected(ValueError):
    """The file cannot be accepted; the message is meant for the user."""


@dataclass(frozen=True)
class DecodedImage:
    rgb: Image.Image
    """Fully decoded, orientation applied, mode ``RGB``."""
    width: int
    height: int
    format: str
    original_mode: str
    source_sha256: str
    """sha256 of the bytes as given, before any decoding."""
    pixels_sha256: str
    """sha256 of the normalised RGB pixels and their shape: the content address."""
    notes: tuple[str, ...] = ()

    def png_bytes(self) -> bytes:
        """The lossless PNG that is stored: the pixels alone (the colour profile, if any, was
        applied in decoding)."""
        return png.encode(np.asarray(self.rgb, dtype=np.uint8), compress_level=6)


def decode_image(data: bytes, *, max_pixels: int) -> DecodedImage:
    if not data:
        raise ImageRejected("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected("not an image Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"decompression bomb refused: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"unreadable image header: {exc}") from None

    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected(f"invalid dimensions {width}x{height}")
    if width * height > max_pixels:
        raise ImageRejected(
            f"{width}x{height} = {width * height:,} pixels exceeds the limit of "
            f"{max_pixels:,} (MISCOMP_MAX_IMAGE_PIXELS); refused as a possible "
            "decompression bomb"
        )
    fmt = image.format or "unknown"
    notes: list[str] = []
    frames = int(getattr(image, "n_frames", 1))
    if frames > 1:
        notes.append(f"{frames} frames; the first was imported")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"image data is corrupt or truncated: {exc}") from None

    original_mode = image.mode
    try:
        oriented = ImageOps.exif_transpose(image)
    except Exception as exc:  # Pillow raises assorted errors on malformed EXIF
        raise ImageRejected(f"malformed EXIF data: {exc}") from None
    if oriented.size != image.size:
        notes.append("EXIF orientation applied (rotated)")
    elif oriented is not image:
        orientation = image.getexif().get(0x0112)
        if orientation not in (None, 1):
            notes.append(f"EXIF orientation {orientation} applied")
    rgb = _to_rgb8(oriented, notes)
    pixels = np.asarray(rgb, dtype=np.uint8)
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(pixels.tobytes())
    return DecodedImage(
        rgb=rgb,
        width=rgb.width,
        height=rgb.height,
        format=fmt,
        original_mode=original_mode,
        source_sha256=hashlib.sha256(data).hexdigest(),
        pixels_sha256=digest.hexdigest(),
        notes=tuple(notes),
    )


def _to_rgb8(image: Image.Image, notes: list[str]) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return _apply_icc(image, notes)
    if mode in _SIXTEEN_BIT_MODES:
        # Pillow's own conversion clips 16-bit values at 255; scale the range instead.
        values = np.asarray(image, dtype=np.float64)
        scaled = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        notes.append("16-bit greyscale scaled to 8 bits")
        return Image.fromarray(scaled, mode="L").convert("RGB")
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        span = hi - lo if hi > lo else 1.0
        scaled = np.rint((np.nan_to_num(values, nan=lo) - lo) / span * 255.0).astype(np.uint8)
        notes.append("floating-point image rescaled to 0-255")
        return Image.fromarray(scaled, mode="L").convert("RGB")
    if mode == "CMYK":
        converted = _apply_icc(image, notes)
        if converted.mode != "RGB":
            converted = converted.convert("RGB")
            notes.append("CMYK converted without a colour profile")
        return converted
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        # Codecs take opaque RGB; compositing on white is deterministic and documented.
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("alpha channel composited on white")
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _apply_icc(image: Image.Image, notes: list[str]) -> Image.Image:
    """Convert to sRGB when the file embeds a colour profile, so pixels mean the same colour."""
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if image.mode == "RGB" and "srgb" in ImageCms.getProfileDescription(source).lower():
            return image  # already sRGB: keep the file's exact pixel values
        target = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(image, source, target, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        notes.append("embedded colour profile unreadable; ignored")
        return image
    if converted is None:
        return image
    notes.append("embedded colour profile converted to sRGB")
    return converted


def thumbnail_jpeg(rgb: Image.Image, *, max_side: int) -> bytes:
    thumb = rgb.copy()
    thumb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()
