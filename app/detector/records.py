"""Detectors retrained on studies' labels, and how each ranks its study's held-out items
against the detector it started from: per study, the row the results page shows (precision
at k before and after).

Two ways in: `miscomp detector train --study` (the operator's; the weights stay in the file
the operator named, ``model_path``) and the results page's "Retrain" button (a job a worker
runs; the weights are stored with the media, ``weights_key``, and downloadable from the
page). Either way the platform proposes with a retrained detector once the operator
configures it (``MISCOMP_DETECTOR_WEIGHTS``): a request never chooses the weights a worker
runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base, UTCDateTime, utcnow

PRECISION_KS = (5, 10, 20, 50)
"""The k of the precision at k a retraining is measured by."""
RETRAINING_ACTIVE_STATUSES = ("queued", "running")
RETRAINING_ENDED_STATUSES = ("done", "failed")


class DetectorRetraining(Base):
    """A detector retrained on (among others) this study's labels, measured on the study's
    items it did not train on."""

    __tablename__ = "detector_retraining"
    __audited__ = True
    __audit_ignore__ = frozenset({"done_steps", "started_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="done")
    """``RETRAINING_ACTIVE_STATUSES`` or ``RETRAINING_ENDED_STATUSES``."""
    steps: Mapped[int] = mapped_column(Integer, default=0)
    done_steps: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    model_name: Mapped[str | None] = mapped_column(String(200))
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    model_path: Mapped[str | None] = mapped_column(Text)
    """Where the operator wrote the weights (the CLI's, on the machine that trained them)."""
    weights_key: Mapped[str | None] = mapped_column(String(300))
    """Where a worker stored the weights with the media (the results page's)."""
    base_name: Mapped[str | None] = mapped_column(String(200))
    base_sha256: Mapped[str | None] = mapped_column(String(64))
    trained_items: Mapped[int | None] = mapped_column(Integer)
    """This study's labelled items trained on."""
    split: Mapped[str | None] = mapped_column(String(16))
    """How the held-out items were chosen: "images" or "items" (``study_labels.split``)."""
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """``study_labels.compare``: held-out items, positives, precision at k and AUC of the
    detector before and after."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def retrainings(session: Session, study_id: int) -> list[DetectorRetraining]:
    """The study's retrainings, the latest first."""
    return list(
        session.scalars(
            select(DetectorRetraining)
            .where(DetectorRetraining.study_id == study_id)
            .order_by(DetectorRetraining.created_at.desc(), DetectorRetraining.id.desc())
        )
    )
