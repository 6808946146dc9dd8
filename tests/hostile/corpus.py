"""The hostile-input corpus: what an attacker or an unlucky user sends in names, numbers,
JSON and uploads. Names, numbers and small JSON shapes are data files beside this module;
the large or binary entries are built here, the same bytes every run."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from PIL import Image

from tests.factories import image_bytes, zip_bytes

HERE = Path(__file__).parent

NAMES: dict[str, str] = json.loads((HERE / "names.json").read_text())
"""Text for name and free-text fields: NUL, bidi overrides, CR/LF, 10,000 characters,
Japanese, emoji, SQL, HTML, path traversal, empty and blank."""

NUMBERS: dict[str, str] = json.loads((HERE / "numbers.json").read_text())
"""Numbers as typed into a URL, a query, a form field or a JSON document."""

INVALID_EVERYWHERE = frozenset(
    {
        "two_to_63",
        "two_to_64",
        "below_int64",
        "twenty_digits",
        "overflowing_float",
        "nan",
        "inf",
    }
)
"""The numbers no field of the platform accepts: each must be answered with a 4xx."""


def json_shapes() -> dict[str, bytes]:
    """JSON documents no route accepts: each must be answered with a 4xx."""
    return {
        "deep_nesting": b"[" * 10_000 + b"]" * 10_000,
        "deep_object": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        "huge_array": b"[" + b"1," * 300_000 + b"1]",
        "null_everywhere": (HERE / "null_everywhere.json").read_bytes(),
        "wrong_types": (HERE / "wrong_types.json").read_bytes(),
    }


def _decompression_bomb_png() -> bytes:
    """24 megapixels (over the tests' 20 MP limit) in a few kilobytes."""
    buffer = io.BytesIO()
    Image.new("1", (6000, 4000)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    """64 MiB of zeros in one member, deflated to about 64 KiB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.png", b"\0" * (64 * 1024 * 1024))
    return buffer.getvalue()


def uploads() -> dict[str, bytes]:
    """Files that are not what they claim, or that attack whoever unpacks them."""
    png = image_bytes("PNG")
    jpeg = image_bytes("JPEG", size=(64, 48))
    return {
        "corrupt.png": png[:16] + b"\xde\xad\xbe\xef" * 64,
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "empty.png": b"",
        "bomb.png": _decompression_bomb_png(),
        "zip-bomb.zip": _zip_bomb(),
        "zip-slip.zip": zip_bytes({"../../../../tmp/evil.png": png, "../a.png": png}),
        "zip-symlink.zip": zip_bytes({"a.png": png}, symlinks={"link.png": "/etc/passwd"}),
        "polyglot.png": png + zip_bytes({"payload.sh": b"#!/bin/sh\necho owned\n"}),
    }
