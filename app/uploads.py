"""Uploads staged under the size limits, then read by an import and removed.

Imported reconstructions and study bundles are read by the request that received them: it
copies each file into a local folder of its own (``staging_dir_for``, ``stage_upload``).
Image uploads are imported by a worker, perhaps on another machine: the request puts each
file into the media storage under ``staging/<batch>/<n>-<safe name>``, keys it chooses itself
(``stage_uploads``); the worker copies them into a temporary folder of its own
(``fetch_staged``) and deletes them when the import has ended (``discard_staged``). Batches
that no import will read (a web process killed between its puts and its commit) are deleted
by age (``discard_abandoned_staging``).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from app.config import Settings
from app.domain.sources import Limits
from app.errors import TooLarge
from app.storage import MediaStorage, StoredObject, key_parts

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
STAGING_FOLDER = "staging"
ABANDONED_STAGING_AGE = timedelta(days=1)
"""A batch untouched this long that no unfinished import names was left by a request that
died: no request takes a day to put its files."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedUpload:
    name: str
    path: str


@dataclass(frozen=True)
class StoredUpload:
    """An upload staged in the media storage: the name the client gave it (for the report)
    and the key the server chose (what the worker reads)."""

    name: str
    key: str


@dataclass(frozen=True)
class StagedBatch:
    """One request's uploads, all stored under ``prefix`` (``staging/<batch>``)."""

    prefix: str
    uploads: list[StoredUpload]


class StagedUploadMissing(FileNotFoundError):
    """A staged upload is no longer in the media storage (deleted from the bucket by hand, or
    by a clean-up that took it for abandoned)."""


def archive_limits(settings: Settings) -> Limits:
    """What one upload, and the archives in it, may hold (``MISCOMP_MAX_UPLOAD_BYTES``, ...)."""
    return Limits(
        max_file_bytes=settings.max_upload_bytes,
        max_total_bytes=settings.max_upload_bytes * 10,
        max_members=settings.max_archive_members,
    )


def staging_dir_for(settings: Settings) -> Path:
    """A new empty folder for one request's uploads; whoever reads them removes it."""
    path = settings.media_root / STAGING_FOLDER / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def stage_upload(
    staging: Path, position: int, name: str, stream: BinaryIO, *, max_bytes: int
) -> StagedUpload:
    """Copy one uploaded file into the staging folder under a safe name, refusing oversize
    (the partial copy is removed; the folder is the caller's)."""
    display = (name or f"upload-{position}").replace("\\", "/")
    safe = _UNSAFE_NAME.sub("_", os.path.basename(display))[:100] or "upload"
    target = staging / f"{position:05d}-{safe}"
    written = 0
    with target.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            written += len(chunk)
            if written > max_bytes:
                out.close()
                target.unlink()
                raise TooLarge(
                    f"{display}: upload exceeds {max_bytes:,} bytes (MISCOMP_MAX_UPLOAD_BYTES)"
                )
            out.write(chunk)
    return StagedUpload(name=display, path=str(target))


def stage_uploads(
    settings: Settings, storage: MediaStorage, uploads: list[tuple[str, BinaryIO]]
) -> StagedBatch:
    """Stage every uploaded file in the media storage, or none: each is first received into a
    temporary folder under the size limit (one oversized file fails the request before anything
    is stored), then put under a key of the server's making."""
    prefix = f"{STAGING_FOLDER}/{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory(prefix="miscomp-upload-") as received:
        local = [
            stage_upload(Path(received), i, name, stream, max_bytes=settings.max_upload_bytes)
            for i, (name, stream) in enumerate(uploads)
        ]
        stored: list[StoredUpload] = []
        try:
            for upload in local:
                key = f"{prefix}/{Path(upload.path).name}"
                storage.put_file(key, Path(upload.path))
                stored.append(StoredUpload(name=upload.name, key=key))
        except BaseException:
            discard_staged(storage, [upload.key for upload in stored])
            raise
    return StagedBatch(prefix=prefix, uploads=stored)


def fetch_staged(storage: MediaStorage, upload: StoredUpload, folder: Path) -> Path:
    """Copy a staged upload from the media storage into ``folder`` (the reader's own), in
    chunks; :class:`StagedUploadMissing` when it is gone."""
    try:
        stream = storage.open(upload.key)
    except FileNotFoundError:
        raise StagedUploadMissing(
            f"{upload.name}: the uploaded file is no longer in the media storage"
            f" ({storage.location(upload.key)}); upload it again"
        ) from None
    target = folder / key_parts(upload.key)[-1]
    with target.open("wb") as out:
        for chunk in stream.chunks:
            out.write(chunk)
    return target


def discard_staged(storage: MediaStorage, keys: Iterable[str]) -> None:
    """Delete staged uploads once read. A failure is logged, not raised: it must not hide how
    the import ended, and the clean-up by age deletes what stays."""
    for key in keys:
        try:
            storage.delete(key)
        except Exception:
            logger.warning("could not delete the staged upload %s", key, exc_info=True)


def discard_abandoned_staging(
    storage: MediaStorage, *, in_use: Collection[str], now: datetime
) -> int:
    """Delete each staging batch whose newest file is older than ``ABANDONED_STAGING_AGE`` and
    whose prefix is not ``in_use`` (named by an unfinished import, which may wait longer for
    a worker); returns how many files went."""
    batches: dict[str, list[StoredObject]] = defaultdict(list)
    for stored in storage.objects_under(STAGING_FOLDER):
        batches["/".join(key_parts(stored.key)[:2])].append(stored)
    deleted = 0
    for prefix, objects in batches.items():
        if prefix in in_use or max(o.modified_at for o in objects) > now - ABANDONED_STAGING_AGE:
            continue
        discard_staged(storage, [o.key for o in objects])
        deleted += len(objects)
    return deleted
