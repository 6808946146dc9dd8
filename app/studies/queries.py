"""The queries that define which annotations of a study count, and which studies people label.

Every statistic, the adjudication queue, the gallery and the report read ratings through
here, so that "counted" means one thing: ratings of crop items (controls measure raters, not
the codec), not late (kept, but beyond the item's k places), in their current revision (the
annotation row; ``annotation_revision`` keeps the history).

The annotators' queue and every path that leases an item to a person find studies through
``offered_to_people``: a study whose labels are simulated is never offered to people. Every
annotator path (queue, study page, next item, item, submit, skip, history, revisions, images,
the JSON API) also applies ``open_to``: a members-only study is open to its members alone, and
to anyone else it does not exist (404, as for an id nobody has).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound
from app.studies.models import Annotation, LabelSource, Study, StudyItem, StudyMember
from app.users.models import User, UserGroupMember

_Ts = TypeVarTuple("_Ts")


@dataclass(frozen=True)
class CountedRating:
    """The labels of one counted rating."""

    item_id: int
    rater_id: int
    verdict: str
    categories: tuple[str, ...]
    modifiers: tuple[str, ...]
    confidence: int | None
    boxes: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class RaterAnnotation:
    """A counted annotation, whole, with its rater's username."""

    rater: str
    annotation: Annotation


def is_counted() -> ColumnElement[bool]:
    """The rule, as SQL over ``Annotation`` joined with its ``StudyItem``: a crop item's
    annotation that is not late (its current revision is the annotation row itself)."""
    return and_(Annotation.late.is_(False), StudyItem.kind == "crop")


def _counted(
    statement: Select[*_Ts], study_id: int, item_ids: Collection[int] | None
) -> Select[*_Ts]:
    """``statement`` (over ``Annotation``) restricted to the study's counted ratings, in the
    order they were given."""
    statement = (
        statement.join(StudyItem, StudyItem.id == Annotation.item_id)
        .where(Annotation.study_id == study_id, is_counted())
        .order_by(Annotation.id)
    )
    if item_ids is not None:
        statement = statement.where(Annotation.item_id.in_(item_ids))
    return statement


def counted_ratings(
    session: Session, study_id: int, *, item_ids: Collection[int] | None = None
) -> list[CountedRating]:
    """The study's counted ratings (``item_ids``: of those items only): read once per report
    and handed to each part of it."""
    statement = _counted(
        select(
            Annotation.item_id,
            Annotation.user_id,
            Annotation.verdict,
            Annotation.categories,
            Annotation.modifiers,
            Annotation.confidence,
            Annotation.boxes,
        ),
        study_id,
        item_ids,
    )
    return [
        CountedRating(
            item_id=item_id,
            rater_id=rater_id,
            verdict=verdict,
            categories=tuple(categories),
            modifiers=tuple(modifiers),
            confidence=confidence,
            boxes=tuple(boxes),
        )
        for item_id, rater_id, verdict, categories, modifiers, confidence, boxes in session.execute(
            statement
        )
    ]


def counted_annotations(
    session: Session, study_id: int, item_ids: Collection[int]
) -> list[RaterAnnotation]:
    """The counted annotations of the given items of the study, whole, with their raters."""
    statement = _counted(
        select(Annotation, User.username).join(User, User.id == Annotation.user_id),
        study_id,
        item_ids,
    )
    return [
        RaterAnnotation(username, annotation) for annotation, username in session.execute(statement)
    ]


def late_annotations(
    session: Session, study_id: int, item_ids: Collection[int]
) -> list[RaterAnnotation]:
    """The late annotations of the given items (kept, never counted), whole, with their
    raters: shown apart, so that a researcher sees every label a rater gave."""
    statement = (
        select(Annotation, User.username)
        .join(User, User.id == Annotation.user_id)
        .where(
            Annotation.study_id == study_id,
            Annotation.late.is_(True),
            Annotation.item_id.in_(item_ids),
        )
        .order_by(Annotation.id)
    )
    return [
        RaterAnnotation(username, annotation) for annotation, username in session.execute(statement)
    ]


def offered_to_people() -> ColumnElement[bool]:
    """The one definition of a study people may label: its labels come from people. Simulated
    labels (``simulation.py``) stand for a whole study; a person's label among them would make
    its figures neither simulated nor measured."""
    return Study.label_source == LabelSource.PEOPLE


def open_to(user_id: int | ColumnElement[int]) -> ColumnElement[bool]:
    """The one definition of who may annotate a study, as SQL over ``Study``: anyone when it
    is not members-only; otherwise its listed users and the users of its listed groups."""
    groups = select(UserGroupMember.group_id).where(UserGroupMember.user_id == user_id)
    listed = exists().where(
        StudyMember.study_id == Study.id,
        or_(StudyMember.user_id == user_id, StudyMember.group_id.in_(groups)),
    )
    return or_(Study.members_only.is_(False), listed)


def require_open_to(session: Session, study_id: int, user: User, *, called: str) -> None:
    """NotFound unless the user may annotate the study, in the words ``called`` names the
    thing asked for: a study closed to them answers as one that does not exist."""
    if not session.scalar(select(open_to(user.id)).where(Study.id == study_id)):
        raise NotFound(f"{called} not found")


def open_studies_for_people(session: Session, user: User) -> list[Study]:
    """The studies the annotator's queue offers: open, labelled by people, open to them."""
    return list(
        session.scalars(
            select(Study)
            .where(Study.status == "open", offered_to_people(), open_to(user.id))
            .order_by(Study.id)
        )
    )


def study_for_annotator(session: Session, study_id: int, user: User) -> Study:
    """The study as its annotator's page shows it: NotFound when there is none, when people
    do not label it, or when it is members-only and they are not a member."""
    study = session.scalar(
        select(Study).where(Study.id == study_id, offered_to_people(), open_to(user.id))
    )
    if study is None:
        raise NotFound(f"study {study_id} not found")
    return study


@cache
def _study_for_people() -> Select[Study, bool, bool]:
    """``get_study_for_people``'s statement, built once: each workspace submit runs it."""
    return (
        select(Study, offered_to_people(), open_to(bindparam("user_id", type_=Integer)))
        .where(Study.id == bindparam("study_id", type_=Integer))
        .with_for_update(read=True, of=Study)
    )


def get_study_for_people(session: Session, study_id: int, user: User) -> Study:
    """The study, for a person to be leased one of its items: NotFound when there is none
    or when it is not open to them (members-only), Conflict when its labels are simulated
    (posting to its URL gets no lease either). The row is read FOR SHARE until the lease is
    committed, so that marking the study simulated, which checks that no person holds an
    assignment in it, waits for this one and then sees it."""
    row = session.execute(
        _study_for_people(), {"study_id": study_id, "user_id": user.id}
    ).one_or_none()
    if row is None or not row[2]:
        raise NotFound(f"study {study_id} not found")
    study, offered, _ = row
    if not offered:
        raise Conflict(f"study {study.name!r} is labelled by simulated raters, not by people")
    return study
