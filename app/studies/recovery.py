"""Study work the periodic sweep (``app/recovery.py``) sends again when its task was lost:
proposing a study's crops and computing its report."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs import Stalled
from app.studies import task_names
from app.studies.models import Study, StudyResult


def stalled_work(session: Session) -> list[Stalled]:
    proposing = session.execute(
        select(Study.id, Study.created_at).where(Study.status == "proposing").order_by(Study.id)
    )
    reports = session.execute(
        select(StudyResult.study_id, StudyResult.status, StudyResult.requested_at)
        .where(StudyResult.status.in_(("queued", "running")))
        .order_by(StudyResult.study_id)
    )
    return [
        *(Stalled(task_names.PROPOSE, (study_id,), since) for study_id, since in proposing),
        *(
            Stalled(task_names.RESULTS, (study_id,), since, claimed=status == "running")
            for study_id, status, since in reports
        ),
    ]
