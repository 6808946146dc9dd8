from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow

EXPORT_ACTIVE_STATUSES = ("queued", "running")
EXPORT_ENDED_STATUSES = ("done", "failed")


class ExportJob(Base):
    """A study's export, written by a worker into the exports folder; the file is kept until
    the study is deleted, and listed on the study's page with its size and date."""

    __tablename__ = "export_job"
    __audited__ = True
    __audit_ignore__ = frozenset({"done", "total", "started_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(16))
    all_revisions: Mapped[bool] = mapped_column(Boolean, default=False)
    names: Mapped[bool] = mapped_column(Boolean, default=False)
    """The raters' usernames beside their pseudonyms."""
    include_originals: Mapped[bool] = mapped_column(Boolean, default=False)
    """A bundle's full original images, beside the crops."""
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """``EXPORT_ACTIVE_STATUSES`` or ``EXPORT_ENDED_STATUSES``."""
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    file_name: Mapped[str | None] = mapped_column(String(200))
    """The finished file, in the exports folder (``Settings.exports_dir``)."""
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
