"""Uploads staged on disk: a request copies each uploaded file, within the size limit, into a
folder of its own, which an import (a worker's or the request's own) reads and then removes.
Image imports and imported reconstructions use the same staging and the same limits."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from app.config import Settings
from app.domain.sources import Limits
from app.errors import TooLarge

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class StagedUpload:
    name: str
    path: str


def archive_limits(settings: Settings) -> Limits:
    """What one upload, and the archives in it, may hold (``MISCOMP_MAX_UPLOAD_BYTES``, ...)."""
    return Limits(
        max_file_bytes=settings.max_upload_bytes,
        max_total_bytes=settings.max_upload_bytes * 10,
        max_members=settings.max_archive_members,
    )


def staging_dir_for(settings: Settings) -> Path:
    """A new empty folder for one request's uploads; whoever reads them removes it."""
    path = settings.media_root / "staging" / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def stage_upload(
    staging: Path, position: int, name: str, stream: BinaryIO, *, max_bytes: int
) -> StagedUpload:
    """Copy one uploaded file into the staging folder under a safe name, refusing oversize."""
    display = (name or f"upload-{position}").replace("\\", "/")
    safe = _UNSAFE_NAME.sub("_", os.path.basename(display))[:100] or "upload"
    target = staging / f"{position:05d}-{safe}"
    written = 0
    with target.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            written += len(chunk)
            if written > max_bytes:
                out.close()
                shutil.rmtree(staging, ignore_errors=True)
                raise TooLarge(
                    f"{display}: upload exceeds {max_bytes:,} bytes (MISCOMP_MAX_UPLOAD_BYTES)"
                )
            out.write(chunk)
    return StagedUpload(name=display, path=str(target))


def stage_uploads(
    settings: Settings, uploads: list[tuple[str, BinaryIO]]
) -> tuple[Path, list[StagedUpload]]:
    """Stage every uploaded file, or none: one oversized file fails the request."""
    staging = staging_dir_for(settings)
    staged = [
        stage_upload(staging, i, name, stream, max_bytes=settings.max_upload_bytes)
        for i, (name, stream) in enumerate(uploads)
    ]
    return staging, staged
