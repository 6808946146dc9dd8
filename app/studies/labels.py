"""Submitting labels: validated against the study's taxonomy version, idempotent by the
browser's submission id, and never lost (a late rating on an item completed meanwhile is kept,
marked late, and does not count towards k)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.studies import assignment as assignments
from app.studies.models import Annotation, Assignment, Study, TaxonomyVersion
from app.studies.schemas import AnnotationSubmit
from app.users.models import User


def _check_labels(taxonomy: TaxonomyVersion, data: AnnotationSubmit) -> None:
    verdicts = {v["key"] for v in taxonomy.verdicts}
    categories = {c["key"] for c in taxonomy.categories if c["kind"] == "category"}
    modifiers = {c["key"] for c in taxonomy.categories if c["kind"] == "modifier"}
    if data.verdict not in verdicts:
        raise InvalidInput(f"verdict must be one of {sorted(verdicts)}")
    unknown = (set(data.categories) - categories) | (set(data.modifiers) - modifiers)
    if unknown:
        raise InvalidInput(f"not in this study's taxonomy: {sorted(unknown)}")
    if data.verdict != "miscompression" and (data.categories or data.modifiers):
        raise InvalidInput("categories and SYMBOL describe a miscompression; choose that verdict")


def submit(session: Session, assignment_id: int, user: User, data: AnnotationSubmit) -> Annotation:
    existing = session.scalar(select(Annotation).where(Annotation.client_id == data.client_id))
    if existing is not None:
        if existing.user_id != user.id or existing.assignment_id != assignment_id:
            raise Conflict("this submission id belongs to another submission")
        return existing  # a double click or a retry: the first one stands
    lease = session.get(Assignment, assignment_id)
    if lease is None or lease.user_id != user.id:
        raise NotFound(f"assignment {assignment_id} not found")
    if lease.status in assignments.FINAL:
        raise Conflict(f"this item was already {lease.status}")
    study = session.get(Study, lease.study_id)
    assert study is not None
    taxonomy = session.get(TaxonomyVersion, study.taxonomy_version_id)
    assert taxonomy is not None
    _check_labels(taxonomy, data)
    counted = assignments.finish_in_transaction(session, lease, status="done", now=utcnow())
    annotation = Annotation(
        client_id=data.client_id,
        assignment_id=lease.id,
        study_id=lease.study_id,
        item_id=lease.item_id,
        user_id=user.id,
        taxonomy_version_id=taxonomy.id,
        verdict=data.verdict,
        categories=sorted(set(data.categories)),
        modifiers=sorted(set(data.modifiers)),
        note=data.note,
        time_spent_ms=data.time_spent_ms,
        late=not counted,
    )
    session.add(annotation)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # the same submission raced itself: return the one that won
        winner = session.scalar(select(Annotation).where(Annotation.client_id == data.client_id))
        if winner is None:
            raise Conflict("this item was submitted meanwhile") from None
        return winner
    return annotation
