"""Adjudication: the items raters disagree on, and a researcher's final label for each.

An item needs adjudication when its counted ratings disagree on the verdict more than the
threshold allows (the share of agreeing pairs of ratings below it; 1.0, the default, sends
every disagreement), or when raters who saw a miscompression named different categories.
The final label is kept apart from the raters' annotations, which never change; deciding
again replaces the decision, and the audit log keeps each version with who and when.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import InvalidInput, NotFound
from app.studies import labels
from app.studies.models import Adjudication, Annotation, Study, StudyItem, TaxonomyVersion
from app.studies.schemas import AdjudicationCreate, AnnotationSubmit
from app.users.models import User

DEFAULT_THRESHOLD = 1.0


@dataclass(frozen=True)
class RaterLabels:
    rater: str
    annotation: Annotation


@dataclass(frozen=True)
class Disagreement:
    item: StudyItem
    ratings: list[RaterLabels]
    verdict_agreement: float
    """The share of agreeing pairs of ratings on the verdict."""
    categories_differ: bool
    decision: Adjudication | None


def _verdict_agreement(verdicts: list[str]) -> float:
    pairs = list(itertools.combinations(verdicts, 2))
    return sum(a == b for a, b in pairs) / len(pairs)


def disagreements(
    session: Session, study: Study, *, threshold: float = DEFAULT_THRESHOLD
) -> list[Disagreement]:
    """The items to adjudicate, the least agreed first."""
    if not 0 < threshold <= 1:
        raise InvalidInput("the agreement threshold is above 0 and at most 1")
    rows = session.execute(
        select(Annotation, User.username)
        .join(User, User.id == Annotation.user_id)
        .join(StudyItem, StudyItem.id == Annotation.item_id)
        .where(
            Annotation.study_id == study.id,
            Annotation.late.is_(False),
            StudyItem.kind == "crop",
        )
        .order_by(Annotation.id)
    ).all()
    by_item: dict[int, list[RaterLabels]] = defaultdict(list)
    for annotation, username in rows:
        by_item[annotation.item_id].append(RaterLabels(username, annotation))
    decisions = {
        d.item_id: d
        for d in session.scalars(select(Adjudication).where(Adjudication.study_id == study.id))
    }
    found = []
    for item_id, ratings in by_item.items():
        if len(ratings) < 2:
            continue
        agreement = _verdict_agreement([r.annotation.verdict for r in ratings])
        named = {
            tuple(r.annotation.categories)
            for r in ratings
            if r.annotation.verdict == "miscompression"
        }
        categories_differ = len(named) > 1
        if agreement < threshold or categories_differ:
            item = session.get(StudyItem, item_id)
            assert item is not None
            found.append(
                Disagreement(item, ratings, agreement, categories_differ, decisions.get(item_id))
            )
    found.sort(key=lambda d: (d.decision is not None, d.verdict_agreement, d.item.position))
    return found


def decide(
    session: Session, study: Study, item_id: int, data: AdjudicationCreate, actor: User
) -> Adjudication:
    """Record (or replace) the final label of one item of the study. Flushes."""
    item = session.get(StudyItem, item_id)
    if item is None or item.study_id != study.id:
        raise NotFound(f"item {item_id} is not in study {study.name!r}")
    taxonomy = session.get(TaxonomyVersion, study.taxonomy_version_id)
    assert taxonomy is not None
    labels.check_labels(
        taxonomy,
        AnnotationSubmit(
            client_id="adjudication",
            verdict=data.verdict,
            categories=data.categories,
            modifiers=data.modifiers,
        ),
    )
    decision = session.scalar(select(Adjudication).where(Adjudication.item_id == item.id))
    if decision is None:
        decision = Adjudication(study_id=study.id, item_id=item.id)
        session.add(decision)
    decision.verdict = data.verdict
    decision.categories = sorted(set(data.categories))
    decision.modifiers = sorted(set(data.modifiers))
    decision.note = data.note
    decision.adjudicator_id = actor.id
    decision.decided_at = utcnow()
    session.flush()
    return decision
