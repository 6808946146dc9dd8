from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow

AUDIT_ACTIVE_STATUSES = ("queued", "running")
AUDIT_ENDED_STATUSES = ("done", "failed")


class PairAudit(Base):
    """The detector's audit of one pair (an uploaded original and reconstruction, or a run's
    result), made by a worker: where the reconstruction most likely changed the meaning."""

    __tablename__ = "pair_audit"
    __audited__ = True
    __audit_ignore__ = frozenset({"started_at", "report"})

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    """What was audited, as the page names it (the files' or the result's names)."""
    result_id: Mapped[int | None] = mapped_column(
        ForeignKey("codec_result.id", ondelete="SET NULL"), index=True
    )
    original_key: Mapped[str] = mapped_column(String(300))
    reconstruction_key: Mapped[str] = mapped_column(String(300))
    bpp: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """``AUDIT_ACTIVE_STATUSES`` or ``AUDIT_ENDED_STATUSES``."""
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """``Audit.as_json()``, with the storage keys of the score map, the difference and each
    region's crops."""
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
