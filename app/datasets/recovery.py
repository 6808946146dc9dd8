"""Imports the periodic sweep (``app/recovery.py``) sends again when their task was lost."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.datasets import task_names
from app.datasets.models import IMPORT_ACTIVE_STATUSES, ImportJob
from app.jobs import Stalled, stalled_jobs


def stalled_work(session: Session) -> list[Stalled]:
    return stalled_jobs(session, ImportJob, IMPORT_ACTIVE_STATUSES, task_names.IMPORT)
