"""Submitting labels: validated against the study's taxonomy version, idempotent by the
browser's submission id, and never lost (a late rating on an item completed meanwhile is kept,
marked late, and does not count towards k)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.studies import assignment as assignments
from app.studies.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    Study,
    TaxonomyVersion,
)
from app.studies.schemas import AnnotationEdit, AnnotationSubmit
from app.users.models import User

EDITABLE_DAYS = 14
"""Raters may revise their own annotations for this long."""


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
        revision=1,
    )
    session.add(annotation)
    session.flush()
    session.add(_revision(annotation, data.client_id))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # the same submission raced itself: return the one that won
        winner = session.scalar(select(Annotation).where(Annotation.client_id == data.client_id))
        if winner is None:
            raise Conflict("this item was submitted meanwhile") from None
        return winner
    return annotation


def _revision(annotation: Annotation, client_id: str) -> AnnotationRevision:
    return AnnotationRevision(
        annotation_id=annotation.id,
        number=annotation.revision,
        client_id=client_id,
        verdict=annotation.verdict,
        categories=list(annotation.categories),
        modifiers=list(annotation.modifiers),
        note=annotation.note,
    )


def revise(session: Session, annotation_id: int, user: User, data: AnnotationEdit) -> Annotation:
    """A new revision of the rater's own recent annotation. Idempotent by ``client_id``;
    refused when another edit came first (``base_revision`` is not the current one)."""
    annotation = session.get(Annotation, annotation_id)
    if annotation is None or annotation.user_id != user.id:
        raise NotFound(f"annotation {annotation_id} not found")
    done = session.scalar(
        select(AnnotationRevision).where(AnnotationRevision.client_id == data.client_id)
    )
    if done is not None:
        if done.annotation_id != annotation.id:
            raise Conflict("this submission id belongs to another submission")
        return annotation
    if utcnow() - annotation.created_at > timedelta(days=EDITABLE_DAYS):
        raise Conflict(f"annotations can be revised for {EDITABLE_DAYS} days")
    if data.base_revision != annotation.revision:
        raise Conflict(
            f"this annotation changed meanwhile (now revision {annotation.revision}); reload it"
        )
    taxonomy = session.get(TaxonomyVersion, annotation.taxonomy_version_id)
    assert taxonomy is not None
    _check_labels(taxonomy, data)
    annotation.verdict = data.verdict
    annotation.categories = sorted(set(data.categories))
    annotation.modifiers = sorted(set(data.modifiers))
    annotation.note = data.note
    annotation.revision += 1
    session.add(_revision(annotation, data.client_id))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent edit took this revision number
        raise Conflict("this annotation changed meanwhile; reload it") from None
    return annotation


def recent(session: Session, user: User, limit: int = 50) -> list[Annotation]:
    since = utcnow() - timedelta(days=EDITABLE_DAYS)
    return list(
        session.scalars(
            select(Annotation)
            .where(Annotation.user_id == user.id, Annotation.created_at >= since)
            .order_by(Annotation.id.desc())
            .limit(limit)
        )
    )
