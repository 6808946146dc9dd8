from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow

IMPORT_ACTIVE_STATUSES = ("queued", "running")
IMPORT_ENDED_STATUSES = ("done", "failed")
"""An import in one of these is over: a second delivery of its task leaves it as it is."""


class Dataset(Base):
    __tablename__ = "dataset"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    license: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Image(Base):
    """An accepted image: decoded, normalised to 8-bit RGB and stored losslessly as PNG."""

    __tablename__ = "image"
    __audited__ = True
    __table_args__ = (UniqueConstraint("dataset_id", "pixels_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str] = mapped_column(String(64), index=True)
    pixels_sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    original_mode: Mapped[str] = mapped_column(String(16))
    source_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(200))
    thumbnail_key: Mapped[str] = mapped_column(String(200))
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_job.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImportJob(Base):
    """One import (folder, zip or uploads) and its progress; the report is its ImportFile rows."""

    __tablename__ = "import_job"
    __audited__ = True
    # Progress ticks are not user actions; creating and deleting an import is.
    __audit_ignore__ = frozenset(
        {
            "status",
            "total",
            "processed",
            "n_imported",
            "n_duplicate",
            "n_failed",
            "n_skipped",
            "error",
            "started_at",
            "finished_at",
            "staging_prefix",
        }
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    source_kind: Mapped[str] = mapped_column(String(16))
    source_label: Mapped[str] = mapped_column(Text, default="")
    staging_prefix: Mapped[str | None] = mapped_column(Text)
    """Uploads: the media storage folder (``staging/<batch>``) holding them until the end."""
    uploads: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Uploads: ``{"name": as uploaded, "key": where it is staged}`` per file, in order."""
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    n_imported: Mapped[int] = mapped_column(Integer, default=0)
    n_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    n_skipped: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImportFile(Base):
    """The outcome of one file of an import: imported, duplicate, failed or skipped, and why."""

    __tablename__ = "import_file"
    __audit_exempt__ = (
        "the per-file report of an import, written by the importer as it goes; the import job"
        " (audited) records who imported what"
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(
        ForeignKey("import_job.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(1000))
    outcome: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="SET NULL"))
