"""A study's cached report (``StudyResult``, computed by ``results.compute_report`` on a
worker) as the features that keep a part of it read it back: the report counts only while
the study's labels are as they were when it was computed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.studies.models import Annotation, Study, StudyResult


def labels_fingerprint(session: Session, study: Study) -> str:
    """Changes whenever a label of the study is added or revised."""
    count, last, revisions = session.execute(
        select(func.count(), func.max(Annotation.id), func.sum(Annotation.revision)).where(
            Annotation.study_id == study.id
        )
    ).one()
    return f"{count}-{last or 0}-{revisions or 0}"


def current_report(session: Session, study: Study) -> dict[str, Any] | None:
    """The study's report if it was computed from the labels as they are now."""
    row = session.scalar(select(StudyResult).where(StudyResult.study_id == study.id))
    if row is None or row.status == "failed" or not row.report:
        return None
    return row.report if row.fingerprint == labels_fingerprint(session, study) else None
