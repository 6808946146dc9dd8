"""Submitting labels: validated against the study's taxonomy version, idempotent by the
browser's submission id, and never lost (a late rating on an item completed meanwhile is kept,
marked late, and does not count towards k)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.domain import panes as pane_names
from app.errors import Conflict, InvalidInput, NotFound
from app.studies import assignment as assignments
from app.studies import panes, queries, service, taxonomies
from app.studies.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    Study,
    StudyItem,
    TaxonomyVersion,
)
from app.studies.schemas import AnnotationEdit, AnnotationSubmit
from app.users.models import User

EDITABLE_DAYS = 14
"""Raters may revise their own annotations for this long."""


@dataclass(frozen=True)
class Placed:
    """The labels that name panes or pixels, checked against the item and mapped from the
    labels the rater saw to pane names."""

    seen_in: list[str]
    boxes: list[dict[str, Any]]


def _place(lease: Assignment, size: int, data: AnnotationSubmit) -> Placed:
    panes = lease.pane_map
    compared = {label for label, pane in panes.items() if pane in pane_names.COMPARED}
    unknown = sorted(set(data.seen_in) - compared)
    if unknown:
        raise InvalidInput(f"seen in: no pane {unknown[0]!r} on this item")
    if data.seen_in and data.verdict != "miscompression":
        raise InvalidInput("'seen in' describes a miscompression; choose that verdict")
    boxes = []
    for number, box in enumerate(data.boxes, start=1):
        if box.pane not in panes:
            raise InvalidInput(f"box {number}: no pane {box.pane!r} on this item")
        if box.x + box.w > size or box.y + box.h > size:
            raise InvalidInput(f"box {number} reaches outside the {size} x {size} crop")
        boxes.append({"pane": panes[box.pane], "x": box.x, "y": box.y, "w": box.w, "h": box.h})
    order = {label: i for i, label in enumerate(panes)}
    seen_in = [panes[label] for label in sorted(set(data.seen_in), key=order.__getitem__)]
    return Placed(seen_in=seen_in, boxes=boxes)


def shown_labels(lease: Assignment, annotation: Annotation) -> dict[str, Any]:
    """The annotation's pane names turned back into the labels its rater saw (for a form
    that shows the annotation again)."""
    label_of = {pane: label for label, pane in lease.pane_map.items()}
    return {
        "seen_in": [label_of.get(p, p) for p in annotation.seen_in],
        "boxes": [{**b, "pane": label_of.get(b["pane"], b["pane"])} for b in annotation.boxes],
    }


def _apply(annotation: Annotation, data: AnnotationSubmit, placed: Placed) -> None:
    annotation.verdict = data.verdict
    annotation.categories = sorted(set(data.categories))
    annotation.modifiers = sorted(set(data.modifiers))
    annotation.original_shows = data.original_shows.strip()
    annotation.compressed_shows = data.compressed_shows.strip()
    annotation.confidence = data.confidence
    annotation.seen_in = placed.seen_in
    annotation.boxes = placed.boxes
    annotation.note = data.note


def check_labels(taxonomy: TaxonomyVersion, data: AnnotationSubmit) -> None:
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
    """The rater's labels for their lease ``assignment_id``, stored and counted, and
    committed (``submit_to``)."""
    existing = _submitted(session, assignment_id, user, data)
    if existing is not None:
        return existing
    return _store(session, assignments.owned_lease(session, assignment_id, user), user, data)


@cache
def _by_submission_id() -> Select[Annotation]:
    return select(Annotation).where(Annotation.client_id == bindparam("client_id", type_=String))


def _submitted(
    session: Session, assignment_id: int, user: User, data: AnnotationSubmit
) -> Annotation | None:
    """The annotation this submission id already stored (a double click or a retry: the
    first one stands), or None; Conflict when the id was another submission's."""
    existing = session.scalar(_by_submission_id(), {"client_id": data.client_id})
    if existing is not None and (
        existing.user_id != user.id or existing.assignment_id != assignment_id
    ):
        raise Conflict("this submission id belongs to another submission")
    return existing


def submit_to(
    session: Session, lease: Assignment, user: User, data: AnnotationSubmit
) -> Annotation:
    """``submit`` for a lease the caller already holds from ``assignment.owned_lease`` (the
    workspace checks it once per request). Idempotent by the submission id. Commits.

    Only a finished lease can have an annotation stored: for one still open, the statement
    that looks for it is left out, and a submission id that is another submission's is
    refused when the annotation's row is refused (its id is unique)."""
    if lease.status in assignments.FINAL:
        existing = _submitted(session, lease.id, user, data)
        if existing is not None:
            return existing
    return _store(session, lease, user, data)


def _store(session: Session, lease: Assignment, user: User, data: AnnotationSubmit) -> Annotation:
    if lease.status in assignments.FINAL:
        raise Conflict(f"this item was already {lease.status}")
    study = session.get(Study, lease.study_id)
    assert study is not None
    taxonomy = taxonomies.of_study(session, study)
    check_labels(taxonomy, data)
    item = session.get(StudyItem, lease.item_id)
    assert item is not None
    placed = _place(lease, item.size, data)
    counted = assignments.finish_in_transaction(session, lease, status="done", now=utcnow())
    annotation = Annotation(
        client_id=data.client_id,
        assignment_id=lease.id,
        study_id=lease.study_id,
        item_id=lease.item_id,
        user_id=user.id,
        taxonomy_version_id=taxonomy.id,
        time_spent_ms=data.time_spent_ms,
        late=not counted,
        revision=1,
    )
    _apply(annotation, data, placed)
    session.add(annotation)
    lease_id = lease.id
    try:
        session.flush()
        session.add(_revision(annotation, data.client_id))
        session.commit()
    except IntegrityError:
        # The same submission raced itself (the one that won stands), or its id is another
        # submission's (Conflict). Nothing of this one is kept.
        session.rollback()
        winner = _submitted(session, lease_id, user, data)
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
        original_shows=annotation.original_shows,
        compressed_shows=annotation.compressed_shows,
        confidence=annotation.confidence,
        seen_in=list(annotation.seen_in),
        boxes=[dict(b) for b in annotation.boxes],
        note=annotation.note,
    )


def revise(session: Session, annotation_id: int, user: User, data: AnnotationEdit) -> Annotation:
    """A new revision of the rater's own recent annotation. Idempotent by ``client_id``;
    refused when another edit came first (``base_revision`` is not the current one)."""
    annotation = own_annotation(session, annotation_id, user)
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
    check_labels(taxonomy, data)
    lease = session.get(Assignment, annotation.assignment_id)
    item = session.get(StudyItem, annotation.item_id)
    assert lease is not None
    assert item is not None
    _apply(annotation, data, _place(lease, item.size, data))
    annotation.revision += 1
    session.add(_revision(annotation, data.client_id))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent edit took this revision number
        raise Conflict("this annotation changed meanwhile; reload it") from None
    return annotation


def own_annotation(session: Session, annotation_id: int, user: User) -> Annotation:
    """The rater's own annotation in a study still open to them; NotFound otherwise, as for
    one that does not exist."""
    annotation = session.get(Annotation, annotation_id)
    if annotation is None or annotation.user_id != user.id:
        raise NotFound(f"annotation {annotation_id} not found")
    queries.require_open_to(
        session, annotation.study_id, user, called=f"annotation {annotation_id}"
    )
    return annotation


def _recent_of(user: User) -> tuple[ColumnElement[bool], ...]:
    """The rater's recent annotations: of the last ``EDITABLE_DAYS``, in studies still open
    to them (over ``Annotation`` joined with its ``Study``)."""
    since = utcnow() - timedelta(days=EDITABLE_DAYS)
    return (
        Annotation.user_id == user.id,
        Annotation.created_at >= since,
        queries.open_to(user.id),
    )


def recent(session: Session, user: User, limit: int = 50) -> list[Annotation]:
    """The rater's recent annotations (``_recent_of``), the newest first."""
    return list(
        session.scalars(
            select(Annotation)
            .join(Study, Study.id == Annotation.study_id)
            .where(*_recent_of(user))
            .order_by(Annotation.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class HistoryRow:
    """One of the rater's recent annotations, with what tells them which item it was: its
    number in their sequence through the study and the original crop (never a compared pane,
    so blinding holds)."""

    annotation: Annotation
    number: int
    crop_url: str | None


def history(session: Session, user: User, limit: int = 50) -> list[HistoryRow]:
    """``recent`` with each item's number and crop, in one statement."""
    rows = session.execute(
        select(Annotation, service.item_number(), StudyItem.assets)
        .join(Study, Study.id == Annotation.study_id)
        .join(Assignment, Assignment.id == Annotation.assignment_id)
        .join(StudyItem, StudyItem.id == Annotation.item_id)
        .where(*_recent_of(user))
        .order_by(Annotation.id.desc())
        .limit(limit)
    ).all()
    return [
        HistoryRow(
            annotation=annotation,
            number=int(number),
            crop_url=panes.asset_url(assets["original"]) if "original" in assets else None,
        )
        for annotation, number, assets in rows
    ]
