from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class WorkerHeartbeat(Base):
    """A Celery worker's last sign of life, written by the worker itself every
    ``MISCOMP_WORKER_HEARTBEAT_S`` (``workers/heartbeat.py``). A table rather than Celery's
    own heartbeat events, which the embedded filesystem broker cannot carry; ``/metrics``
    reads it with every scrape."""

    __tablename__ = "worker_heartbeat"
    __audit_exempt__ = "bookkeeping rewritten every few seconds by each worker, not an action"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    """Celery's node name (``celery@host``), one row per worker however often it restarts."""
    queues: Mapped[str] = mapped_column(String(200))
    """The queues it consumes, comma-separated and sorted."""
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
