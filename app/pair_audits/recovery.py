"""Audits the periodic sweep (``app/recovery.py``) sends again when their task was lost."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.jobs import Stalled, stalled_jobs
from app.pair_audits import task_names
from app.pair_audits.models import AUDIT_ACTIVE_STATUSES, PairAudit


def stalled_work(session: Session) -> list[Stalled]:
    return stalled_jobs(session, PairAudit, AUDIT_ACTIVE_STATUSES, task_names.AUDIT_PAIR)
