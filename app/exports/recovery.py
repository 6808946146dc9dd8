"""Exports the periodic sweep (``app/recovery.py``) sends again when their task was lost."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.exports import task_names
from app.exports.models import EXPORT_ACTIVE_STATUSES, ExportJob
from app.jobs import Stalled, stalled_jobs


def stalled_work(session: Session) -> list[Stalled]:
    return stalled_jobs(session, ExportJob, EXPORT_ACTIVE_STATUSES, task_names.EXPORT_STUDY)
