"""Adjudication: the items raters disagree on, and a researcher's final label for each.

An item needs adjudication when its counted ratings disagree on the verdict more than the
threshold allows (the share of agreeing pairs of ratings below it; 1.0, the default, sends
every disagreement), or when raters who saw a miscompression named different categories.
The final label is kept apart from the raters' annotations, which never change; deciding
again replaces the decision, and the audit log keeps each version with who and when.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.domain.consensus import verdict_agreement
from app.errors import InvalidInput, NotFound
from app.paging import Pager, paginate
from app.studies import labels, queries, taxonomies
from app.studies.models import Adjudication, Study, StudyItem
from app.studies.queries import CountedRating, RaterAnnotation
from app.studies.report_cache import current_report
from app.studies.schemas import AdjudicationCreate, AnnotationSubmit
from app.users.models import User

DEFAULT_THRESHOLD = 1.0
REPORT_KEY = "flagged"
"""Where the study's cached report keeps ``flag_items`` (``report_entry``)."""


@dataclass(frozen=True)
class Disagreement:
    item: StudyItem
    ratings: list[RaterAnnotation]
    verdict_agreement: float
    """The share of agreeing pairs of ratings on the verdict."""
    categories_differ: bool
    decision: Adjudication | None
    late: list[RaterAnnotation]
    """Ratings of the item that came after their lease expired and the item was complete:
    shown, never counted."""


@dataclass(frozen=True)
class Queue:
    total: int
    """Items the raters disagree on, decided ones included."""
    decided: int
    """Those of them with a decision."""
    entries: list[Disagreement]
    """One page of them, the least agreed first, decided ones last."""
    pager: Pager


def flag_items(
    session: Session, study: Study, rows: list[CountedRating] | None = None
) -> dict[int, tuple[float, bool]]:
    """Every item with any disagreement: item -> (verdict agreement, categories differ).
    From the counted ratings (``rows``: already read); the workers keep it in the study's
    report, so that the queue need not read every annotation while the labels stay put."""
    by_item: dict[int, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for row in queries.counted_ratings(session, study.id) if rows is None else rows:
        by_item[row.item_id].append((row.verdict, row.categories))
    flagged: dict[int, tuple[float, bool]] = {}
    for candidate, ratings in by_item.items():
        if len(ratings) < 2:
            continue
        agreement = verdict_agreement([verdict for verdict, _ in ratings])
        differ = len({c for verdict, c in ratings if verdict == "miscompression"}) > 1
        if agreement < 1.0 or differ:
            flagged[candidate] = (agreement, differ)
    return flagged


def report_entry(
    session: Session, study: Study, rows: list[CountedRating]
) -> list[tuple[int, float, bool]]:
    """``flag_items`` as the worker stores it in the study's report (JSON rows)."""
    return [(i, a, d) for i, (a, d) in flag_items(session, study, rows).items()]


def current_flags(session: Session, study: Study) -> dict[int, tuple[float, bool]]:
    """``flag_items`` of the labels as they are now: from the study's report when it is of
    these labels, read from every annotation otherwise."""
    report = current_report(session, study)
    if report and REPORT_KEY in report:
        return {i: (agreement, differ) for i, agreement, differ in report[REPORT_KEY]}
    return flag_items(session, study)


def disagreements(
    session: Session,
    study: Study,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    page: int = 1,
    page_size: int = 200,
    item_id: int | None = None,
) -> Queue:
    """One page of the items to adjudicate; the full labels are read for its entries only
    (``item_id``: just that one)."""
    if not 0 < threshold <= 1:
        raise InvalidInput("the agreement threshold is above 0 and at most 1")
    everything = current_flags(session, study)
    flagged = {i: v for i, v in everything.items() if v[0] < threshold or v[1]}
    decided = {
        d.item_id: d
        for d in session.scalars(select(Adjudication).where(Adjudication.study_id == study.id))
    }
    positions = dict(
        session.execute(
            select(StudyItem.id, StudyItem.position).where(StudyItem.study_id == study.id)
        ).all()
    )
    order = sorted(flagged, key=lambda i: (i in decided, flagged[i][0], positions.get(i, 0)))
    if item_id is not None:  # one item's page
        order = [item_id] if item_id in flagged else []
    pager = paginate(len(order), page, page_size)
    chosen = order[pager.offset : pager.offset + pager.size]
    full: dict[int, list[RaterAnnotation]] = defaultdict(list)
    late: dict[int, list[RaterAnnotation]] = defaultdict(list)
    if chosen:
        for rated in queries.counted_annotations(session, study.id, chosen):
            full[rated.annotation.item_id].append(rated)
        for rated in queries.late_annotations(session, study.id, chosen):
            late[rated.annotation.item_id].append(rated)
    items = {i.id: i for i in session.scalars(select(StudyItem).where(StudyItem.id.in_(chosen)))}
    entries = [
        Disagreement(items[i], full[i], flagged[i][0], flagged[i][1], decided.get(i), late[i])
        for i in chosen
    ]
    return Queue(len(flagged), sum(i in decided for i in flagged), entries, pager)


def decide(
    session: Session, study: Study, item_id: int, data: AdjudicationCreate, actor: User
) -> Adjudication:
    """Record (or replace) the final label of one item of the study. Flushes."""
    item = session.get(StudyItem, item_id)
    if item is None or item.study_id != study.id:
        raise NotFound(f"item {item_id} is not in study {study.name!r}")
    taxonomy = taxonomies.of_study(session, study)
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
