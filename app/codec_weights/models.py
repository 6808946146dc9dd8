from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow

FETCH_ACTIVE_STATUSES = ("queued", "running")
FETCH_ENDED_STATUSES = ("done", "failed")


class WeightsFetch(Base):
    """A download of one catalogued weights file that an admin asked for on the codecs page,
    done by a worker into its weights folder (the CLI fetches without a row)."""

    __tablename__ = "weights_fetch"
    __audited__ = True
    __audit_ignore__ = frozenset({"done_bytes", "total_bytes", "started_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200), index=True)
    """The catalogue entry (``app.domain.codecs.catalogue.by_file_name``)."""
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """``FETCH_ACTIVE_STATUSES`` or ``FETCH_ENDED_STATUSES``."""
    done_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    """The fetched file's, once verified."""
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
