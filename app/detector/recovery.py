"""Retrainings the periodic sweep (``app/recovery.py``) sends again when their task was lost."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.detector import task_names
from app.detector.records import RETRAINING_ACTIVE_STATUSES, DetectorRetraining
from app.jobs import Stalled, stalled_jobs


def stalled_work(session: Session) -> list[Stalled]:
    return stalled_jobs(
        session, DetectorRetraining, RETRAINING_ACTIVE_STATUSES, task_names.RETRAIN_DETECTOR
    )
