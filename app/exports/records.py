"""A study's annotations as export records (``app.domain.exports.schema``), streamed.

The study is read as four streams in item order (items with their image, dataset, codec
result and run; annotations with their leases; earlier revisions; adjudications), each one
query fetched a few thousand rows at a time and merged here, so memory does not grow with
the study. ``app/exports/sections.py`` makes the sections from those rows; what "counted"
means comes from ``app.studies.queries``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import chain, groupby
from operator import attrgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, func, select, text
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Dataset, Image
from app.domain.exports.schema import Record
from app.exports.sections import (
    ITEM_COLUMNS,
    LABEL_COLUMNS,
    REVISION_COLUMNS,
    AnyRow,
    ItemSections,
    JsonTexts,
    label_section,
)
from app.studies import taxonomies
from app.studies.models import (
    Adjudication,
    Annotation,
    AnnotationRevision,
    Assignment,
    Study,
    StudyItem,
)
from app.users.models import User

ROWS_PER_FETCH = 5000
"""Rows fetched at once from each of an export's streams."""
_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class ExportOptions:
    all_revisions: bool = False
    """Every revision of every annotation, not only the current one."""
    names: bool = False
    """The raters' usernames beside their pseudonyms."""


def count_records(session: Session, study: Study, options: ExportOptions) -> int:
    """How many records :func:`study_records` yields (for a progress bar)."""
    annotations = select(func.count()).where(Annotation.study_id == study.id)
    total = int(session.scalar(annotations) or 0)
    if options.all_revisions:
        total += int(session.scalar(_earlier_revisions(select(func.count()), study.id)) or 0)
    return total


def _earlier_revisions(statement: Select[_T], study_id: int) -> Select[_T]:
    """``statement`` over the revisions an annotation has since replaced."""
    return (
        statement.select_from(AnnotationRevision)
        .join(Annotation, Annotation.id == AnnotationRevision.annotation_id)
        .where(Annotation.study_id == study_id, AnnotationRevision.number < Annotation.revision)
    )


def study_section(session: Session, study: Study) -> dict[str, Any]:
    taxonomy = taxonomies.of_study(session, study)
    return {
        "id": study.id,
        "name": study.name,
        "raters_per_item": study.raters_per_item,
        "per_rater_cap": study.per_rater_cap,
        "quotas": study.quotas,
        "blind": study.blind,
        "panes": list(study.panes),
        "crop_sizes": list(study.crop_sizes),
        "methods": list(study.methods),
        "seed": study.seed,
        "run_ids": list(study.run_ids),
        "versus_run_id": study.versus_run_id,
        "taxonomy": f"{taxonomy.name} v{taxonomy.version}",
        "taxonomy_categories": [
            {k: c.get(k) for k in ("key", "label", "kind", "description")}
            for c in taxonomy.categories
        ],
    }


def rater_pseudonyms(session: Session, study_id: int) -> dict[int, str]:
    """R01, R02... in the order raters first took an item of the study: stable, since a
    rater who joins later gets the next number."""
    first_lease = (
        select(Assignment.user_id, func.min(Assignment.id).label("first"))
        .where(Assignment.study_id == study_id)
        .group_by(Assignment.user_id)
        .order_by("first")
    )
    users = [user_id for user_id, _ in session.execute(first_lease)]
    width = max(2, len(str(len(users))))
    return {user_id: f"R{n:0{width}d}" for n, user_id in enumerate(users, start=1)}


def study_records(
    session: Session, study: Study, options: ExportOptions = ExportOptions()
) -> Iterator[Record]:
    """One record per annotation (per revision with ``all_revisions``), by item, then in
    the order the annotations were given. The records of an item share its sections (and
    every record the study's): the writers convert each once (``schema.SectionMemo``)."""
    study_part = study_section(session, study)
    pseudonyms = rater_pseudonyms(session, study.id)
    usernames: dict[int, str] = {}
    if options.names:
        statement = select(User.id, User.username).where(User.id.in_(pseudonyms))
        usernames = dict(session.execute(statement).all())
    raters = {
        user_id: {"id": pseudonym, "name": usernames.get(user_id)}
        for user_id, pseudonym in pseudonyms.items()
    }
    if session.get_bind().dialect.name == "postgresql":
        # Timestamps come back in UTC whatever the server's zone, as records state them.
        session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    # Four streams in item order, merged here: a query each for the whole study (chunked
    # queries cost PostgreSQL a scan of the study's leases per chunk), fetched a few
    # thousand rows at a time, so memory holds one item's ratings and a fetch of each.
    connection = session.connection()
    with ExitStack() as open_streams:

        def stream(statement: Select[Any]) -> Iterable[AnyRow]:
            # Options per statement: a connection's own would outlive the export. Closed
            # however the export ends (a stream an item order passes over stays open).
            result = connection.execute(statement.execution_options(yield_per=ROWS_PER_FETCH))
            open_streams.callback(result.close)
            return chain.from_iterable(result.partitions())  # a fetch at a time: cheaper

        items = OrderedRows(
            stream(
                select(*ITEM_COLUMNS)
                .join(Image, Image.id == StudyItem.image_id)
                .join(Dataset, Dataset.id == Image.dataset_id)
                .outerjoin(CodecResult, CodecResult.id == StudyItem.result_id)
                .outerjoin(CodecRun, CodecRun.id == CodecResult.run_id)
                .where(StudyItem.study_id == study.id)
                .order_by(StudyItem.id)
            ),
            key=attrgetter("id"),
        )
        decisions = OrderedRows(
            stream(
                select(Adjudication.__table__)
                .where(Adjudication.study_id == study.id)
                .order_by(Adjudication.item_id)
            ),
            key=attrgetter("item_id"),
        )
        earlier = OrderedRows(
            stream(
                _earlier_revisions(select(*REVISION_COLUMNS), study.id).order_by(
                    Annotation.item_id, AnnotationRevision.annotation_id, "number"
                )
            )
            if options.all_revisions
            else [],
            key=attrgetter("item_id"),
        )
        current_revision = and_(
            AnnotationRevision.annotation_id == Annotation.id,
            AnnotationRevision.number == Annotation.revision,
        )
        labels = stream(
            select(*LABEL_COLUMNS)
            .join(Assignment, Assignment.id == Annotation.assignment_id)
            .join(StudyItem, StudyItem.id == Annotation.item_id)
            .outerjoin(AnnotationRevision, current_revision)
            .where(Annotation.study_id == study.id)
            .order_by(Annotation.item_id, Annotation.id)
        )
        sections = ItemSections(study_part)
        for item_id, ratings in groupby(labels, key=attrgetter("item_id")):
            (item,) = items.take(item_id)
            decision = next(iter(decisions.take(item_id)), None)
            revisions: dict[int, list[AnyRow]] = defaultdict(list)
            for revision in earlier.take(item_id):
                revisions[revision.annotation_id].append(revision)
            given = list(ratings)
            shared = sections.of(item, decision, given)
            yield from _item_records(shared, given, item, revisions, raters, sections.json)


class OrderedRows(Generic[_R]):
    """The rows of a stream ordered by ``key``, taken a key at a time as the export reaches
    it (a merge join): rows of keys passed over are dropped."""

    def __init__(self, rows: Iterable[_R], key: Callable[[_R], int]) -> None:
        self._rows = iter(rows)
        self._key = key
        self._next = next(self._rows, None)

    def take(self, wanted: int) -> list[_R]:
        taken = []
        while self._next is not None and self._key(self._next) <= wanted:
            if self._key(self._next) == wanted:
                taken.append(self._next)
            self._next = next(self._rows, None)
        return taken


def _item_records(
    shared: Record,
    ratings: list[AnyRow],
    item: AnyRow,
    earlier: dict[int, list[AnyRow]],
    raters: dict[int, dict[str, Any]],
    json_value: JsonTexts,
) -> Iterator[Record]:
    """An item's records: per annotation, its earlier revisions (with ``all_revisions``),
    then its current one."""
    for annotation in ratings:
        rater = raters.get(annotation.user_id) or {"id": None, "name": None}
        for revision in earlier.get(annotation.id, []):
            label = label_section(
                revision,
                annotation,
                item,
                json_value,
                revision=revision.number,
                current=False,
                counted=False,
                submitted_at=revision.created_at,
            )
            yield {**shared, "rater": rater, "label": label}
        label = label_section(
            annotation,
            annotation,
            item,
            json_value,
            revision=annotation.revision,
            current=True,
            counted=bool(annotation.counted),
            submitted_at=annotation.current_at or annotation.created_at,
        )
        yield {**shared, "rater": rater, "label": label}
