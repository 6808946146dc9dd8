"""Media storage behind one small interface.

Keys are relative POSIX paths (``images/ab/abcdef....png``). The local backend keeps them under
``MISCOMP_MEDIA_ROOT``; an S3-compatible backend will implement the same four methods.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Protocol

import numpy as np
from PIL import Image as PILImage

from app.domain.codecs.base import RGB8


class MediaStorage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def exists(self, key: str) -> bool: ...
    def read(self, key: str) -> bytes: ...
    def local_path(self, key: str) -> Path: ...


STORAGE_FULL_MESSAGES = {
    errno.ENOSPC: "no space left on the device holding the media folder",
    errno.EDQUOT: "the disk quota of the media folder is used up",
}


class StorageFull(OSError):
    """A write to the media folder found its device full (ENOSPC) or its owner's disk quota
    used up (EDQUOT). Its message says so in plain words: the failed image shows it."""

    def __init__(self, code: int, size: int) -> None:
        super().__init__(f"{STORAGE_FULL_MESSAGES[code]}: a file of {size:,} bytes was not stored")
        self.errno = code


class LocalMediaStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _resolve(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or PurePosixPath(key).is_absolute() or ".." in parts:
            raise ValueError(f"invalid storage key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> None:
        """Write atomically: a crash or a full disk never leaves a half-written file under a
        valid key. A full device or quota raises :class:`StorageFull`."""
        path = self._resolve(key)
        if path.exists():
            return  # content-addressed: same key, same bytes
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        except OSError as exc:
            _raise_if_full(exc, len(data))
            raise
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                _raise_if_full(exc, len(data))
            raise

    def exists(self, key: str) -> bool:
        return self._resolve(key).exists()

    def read(self, key: str) -> bytes:
        return self._resolve(key).read_bytes()

    def local_path(self, key: str) -> Path:
        return self._resolve(key)


def _raise_if_full(exc: OSError, size: int) -> None:
    """:class:`StorageFull` in place of ``exc`` where the device or the quota is full."""
    if exc.errno in STORAGE_FULL_MESSAGES:
        raise StorageFull(exc.errno, size) from exc


def image_key(pixels_sha256: str) -> str:
    return f"images/{pixels_sha256[:2]}/{pixels_sha256}.png"


def thumbnail_key(pixels_sha256: str, size: int) -> str:
    return f"thumbs/{size}/{pixels_sha256[:2]}/{pixels_sha256}.jpg"


def taxonomy_example_key(pixels_sha256: str) -> str:
    """An example crop of a taxonomy category (lossless PNG), by its pixels' sha256."""
    return f"taxonomy-examples/{pixels_sha256[:2]}/{pixels_sha256}.png"


def artefact_key(kind: str, data: bytes, suffix: str) -> str:
    """A content-addressed key for a derived file (a reconstruction, a map, a crop): the same
    bytes always land on the same key, so a repeated worker step writes nothing new."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{kind}/{digest[:2]}/{digest}{suffix}"


def load_rgb(storage: MediaStorage, key: str) -> RGB8:
    """A stored image's pixels as 8-bit RGB."""
    with PILImage.open(io.BytesIO(storage.read(key))) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
