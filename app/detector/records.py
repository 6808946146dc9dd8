"""What retraining the detector on studies' labels left behind: per study, the new
detector and how it ranks the study's held-out items against the detector it started from.
The results page shows it (precision at k before and after); the weights stay where the
operator wrote them, and are used once the operator configures them
(``MISCOMP_DETECTOR_WEIGHTS``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base, UTCDateTime, utcnow

PRECISION_KS = (5, 10, 20, 50)
"""The k of the precision at k a retraining is measured by."""


class DetectorRetraining(Base):
    """A detector retrained on (among others) this study's labels, measured on the study's
    items it did not train on."""

    __tablename__ = "detector_retraining"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_sha256: Mapped[str] = mapped_column(String(64))
    model_path: Mapped[str] = mapped_column(Text)
    """Where the operator wrote the weights (on the machine that trained them)."""
    base_name: Mapped[str] = mapped_column(String(200))
    base_sha256: Mapped[str] = mapped_column(String(64))
    trained_items: Mapped[int] = mapped_column(Integer)
    """This study's labelled items trained on."""
    split: Mapped[str] = mapped_column(String(16))
    """How the held-out items were chosen: "images" or "items" (``study_labels.split``)."""
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    """``study_labels.compare``: held-out items, positives, precision at k and AUC of the
    detector before and after."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def retrainings(session: Session, study_id: int) -> list[DetectorRetraining]:
    """The study's retrainings, the latest first."""
    return list(
        session.scalars(
            select(DetectorRetraining)
            .where(DetectorRetraining.study_id == study_id)
            .order_by(DetectorRetraining.created_at.desc(), DetectorRetraining.id.desc())
        )
    )
