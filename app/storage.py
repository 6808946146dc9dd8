"""Media storage behind one small interface.

Keys are relative POSIX paths (``images/ab/abcdef....png``). ``media_storage(settings)`` is
the one place that picks the backend: the local folder ``MISCOMP_MEDIA_ROOT``, or with
``MISCOMP_MEDIA_URL=s3://...`` an S3-compatible bucket (``app/object_storage.py``), so that
web, CLI and workers on other machines share no file system (docs/object-storage.md).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

import numpy as np
from PIL import Image as PILImage

from app.config import Settings
from app.domain.codecs.base import RGB8
from app.domain.media_url import S3Location

CHUNK_BYTES = 1024 * 1024
TEMPORARY_PREFIX = ".tmp-"
"""The name a file has while it is written beside its key (never a stored key itself)."""


@dataclass(frozen=True)
class StoredStream:
    """A stored file read in chunks, for a response that must not hold it all in memory."""

    size: int
    chunks: Iterator[bytes]


@dataclass(frozen=True)
class StoredObject:
    """One stored key and when it was last written (for clean-ups by age)."""

    key: str
    modified_at: datetime


class MediaStorage(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` atomically; a key that exists is left as it is (keys are content
        addresses: the same key holds the same bytes)."""

    def put_file(self, key: str, path: Path) -> None:
        """Move a finished local file in under ``key``, replacing what is there (an export,
        whose key names its job, not its bytes); ``path`` is gone afterwards."""

    def exists(self, key: str) -> bool: ...

    def read(self, key: str) -> bytes:
        """The stored bytes; FileNotFoundError when nothing is stored under ``key``."""

    def open(self, key: str) -> StoredStream:
        """The stored bytes in chunks; FileNotFoundError (at once) when there are none."""

    def local_path(self, key: str) -> Path:
        """A local file holding the stored bytes, for code that needs a file (reading it
        raises FileNotFoundError when nothing is stored)."""

    def location(self, key: str) -> str:
        """Where ``key`` is stored, for people: a file path or an ``s3://`` URL."""

    def delete(self, key: str) -> None:
        """Remove what is stored under ``key`` (and any local copy of it); nothing stored is
        no error. Only for keys named by their job, not content addresses that others share
        (staged uploads)."""

    def objects_under(self, folder: str) -> Iterator[StoredObject]:
        """Every key stored under the folder ``folder`` (at any depth), in no set order."""


def key_parts(key: str) -> tuple[str, ...]:
    """The folders and file name of a storage key; ValueError for an empty or absolute key
    or one that climbs out (``..``), whatever the backend."""
    path = PurePosixPath(key)
    if not path.parts or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"invalid storage key {key!r}")
    return path.parts


def chunks_of(handle: BinaryIO) -> Iterator[bytes]:
    """Read ``handle`` to its end in chunks, then close it."""
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


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
        return self.root.joinpath(*key_parts(key))

    def put(self, key: str, data: bytes) -> None:
        """Write atomically: a crash or a full disk never leaves a half-written file under a
        valid key. A full device or quota raises :class:`StorageFull`."""
        path = self._resolve(key)
        if path.exists():
            return  # content-addressed: same key, same bytes
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY_PREFIX)
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

    def put_file(self, key: str, path: Path) -> None:
        target = self._resolve(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)  # atomic where the caller writes beside it (exports)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another file system (an upload received in the temporary folder): copy beside
            # the target, then rename, so that the key never holds part of the file.
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMPORARY_PREFIX)
            try:
                with os.fdopen(fd, "wb") as out, path.open("rb") as source:
                    shutil.copyfileobj(source, out, CHUNK_BYTES)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            path.unlink()

    def exists(self, key: str) -> bool:
        return self._resolve(key).exists()

    def read(self, key: str) -> bytes:
        return self._resolve(key).read_bytes()

    def open(self, key: str) -> StoredStream:
        handle = self._resolve(key).open("rb")
        return StoredStream(size=os.fstat(handle.fileno()).st_size, chunks=chunks_of(handle))

    def local_path(self, key: str) -> Path:
        return self._resolve(key)

    def location(self, key: str) -> str:
        return str(self._resolve(key))

    def delete(self, key: str) -> None:
        """Remove the file, then the folders it leaves empty, up to (not including) the top
        one (``staging/<batch>/`` goes, ``staging/`` stays)."""
        path = self._resolve(key)
        path.unlink(missing_ok=True)
        top = self.root / key_parts(key)[0]
        for folder in path.parents:
            if folder == top or not folder.is_relative_to(top):
                return
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or already gone): the folders above are not empty either

    def objects_under(self, folder: str) -> Iterator[StoredObject]:
        base = self._resolve(folder)
        for parent, _, files in os.walk(base):
            for name in files:
                if name.startswith(TEMPORARY_PREFIX):
                    continue  # a write in progress (or abandoned), not a stored key
                path = Path(parent, name)
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:
                    continue  # deleted meanwhile
                yield StoredObject(
                    key=path.relative_to(self.root).as_posix(),
                    modified_at=datetime.fromtimestamp(modified, UTC),
                )


def media_storage(settings: Settings) -> MediaStorage:
    """The storage the settings name: the local folder, or the S3 bucket (one client per
    process, made on first use, so that the web process loads boto3 only when configured)."""
    bucket = settings.media_bucket
    if bucket is None:
        return LocalMediaStorage(settings.media_root)
    return _bucket_storage(
        bucket, settings.s3_endpoint_url, settings.media_cache_dir, settings.media_cache_bytes
    )


@lru_cache(maxsize=4)
def _bucket_storage(
    bucket: S3Location, endpoint_url: str, cache_dir: Path, cache_bytes: int
) -> MediaStorage:
    from app.object_storage import S3MediaStorage

    return S3MediaStorage(
        bucket, endpoint_url=endpoint_url, cache_dir=cache_dir, cache_bytes=cache_bytes
    )


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


def export_key(file_name: str) -> str:
    """A finished export's file (``ExportJob.file_name``): named by its job, not its bytes."""
    return f"exports/{file_name}"


def artefact_key(kind: str, data: bytes, suffix: str) -> str:
    """A content-addressed key for a derived file (a reconstruction, a map, a crop): the same
    bytes always land on the same key, so a repeated worker step writes nothing new."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{kind}/{digest[:2]}/{digest}{suffix}"


def load_rgb(storage: MediaStorage, key: str) -> RGB8:
    """A stored image's pixels as 8-bit RGB."""
    with PILImage.open(io.BytesIO(storage.read(key))) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
