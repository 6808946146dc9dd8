"""Handing items to annotators: leases that expire, k distinct raters per item, caps.

Safe under concurrency by construction:
- An item's ``active_count`` (live leases plus finished ratings) only changes through
  conditional UPDATEs (``... WHERE active_count < k``): two annotators racing for the last
  place on an item cannot both get it, whatever the isolation level.
- (item, rater) is unique in the assignment table: nobody sees an item twice.
- On PostgreSQL, each rater's requests are serialised by a row lock on the rater, so the
  per-rater cap holds; candidate items are read with SKIP LOCKED so that annotators do not
  queue behind each other. SQLite serialises writers anyway.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, exists, select, update
from sqlalchemy.orm import Session

from app.db import UTCDateTime, keep, utcnow
from app.domain import panes as pane_names
from app.errors import Conflict, NotFound
from app.studies import queries
from app.studies.models import Assignment, Study, StudyItem, TaxonomyVersion
from app.users.models import User

CANDIDATES_PER_TRY = 8
FINAL = ("done", "skipped")


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# The statements every lease runs are built once, with bound parameters, like
# ``service._progress``: building one cost more than running it.
_STUDY = bindparam("study", type_=Integer)
_USER = bindparam("rater", type_=Integer)
_ITEM = bindparam("item", type_=Integer)
_K = bindparam("k", type_=Integer)
_NOW = bindparam("now", type_=UTCDateTime())


@cache
def _expire() -> Any:
    return (
        update(Assignment)
        .where(
            Assignment.study_id == _STUDY,
            Assignment.status == "leased",
            Assignment.lease_expires_at < _NOW,
        )
        .values(status="expired", finished_at=_NOW)
        .returning(Assignment.item_id)
    )


@cache
def _give_back() -> Any:
    return (
        update(StudyItem)
        .where(StudyItem.id == _ITEM)
        .values(active_count=StudyItem.active_count - 1)
    )


def _run(session: Session, statement: Any, params: dict[str, Any]) -> Any:
    """A prebuilt statement on the session's connection, in its transaction, past the ORM:
    the ORM's handling of an UPDATE (matching it against the objects in the session) cost
    more than the statement. Objects in the session keep what they had: ``owned_lease``
    reads a lease again."""
    return session.connection().execute(statement, params)


def release_expired(session: Session, study_id: int, now: datetime) -> int:
    """Expire leases past their time and give their places back to the items."""
    expired = _run(session, _expire(), {"study": study_id, "now": now}).all()
    for (item_id,) in sorted(expired):
        _run(session, _give_back(), {"item": item_id})
    return len(expired)


@cache
def _live(limit: int) -> Select[Assignment]:
    return (
        select(Assignment)
        .where(
            Assignment.study_id == _STUDY,
            Assignment.user_id == _USER,
            Assignment.status == "leased",
            Assignment.lease_expires_at >= _NOW,
        )
        .order_by(Assignment.id)
        .limit(limit)
    )


def _live_leases(
    session: Session, study: Study, user: User, now: datetime, *, limit: int
) -> list[Assignment]:
    """The rater's live leases, oldest first: the first is the item they work on."""
    return list(session.scalars(_live(limit), {"study": study.id, "rater": user.id, "now": now}))


def _used(session: Session, study: Study, user: User) -> int:
    from sqlalchemy import func

    return (
        session.scalar(
            select(func.count()).where(
                Assignment.study_id == study.id,
                Assignment.user_id == user.id,
                Assignment.status.in_(("leased", "done")),
            )
        )
        or 0
    )


def pane_map(study: Study, rng: random.Random) -> dict[str, str]:
    """Shown label -> pane. Blind studies name the compared panes A, B... in a random order
    per (rater, item); the original is always the original."""
    compared = [p for p in study.panes if p in pane_names.COMPARED]
    if study.blind:
        rng.shuffle(compared)
        labels = [chr(ord("A") + i) for i in range(len(compared))]
    else:
        labels = list(compared)
    mapping = {"original": "original", **dict(zip(labels, compared, strict=True))}
    # The difference pane is the reconstruction's alone: beside A and B it would say which
    # one that is, so blind studies show each pane's own difference as an overlay instead.
    if "difference" in study.panes and not study.blind:
        mapping["difference"] = "difference"
    return mapping


def next_item(
    session: Session, study: Study, user: User, *, now: datetime | None = None
) -> Assignment | None:
    """The rater's current lease, or a new one on an item they have not seen whose k places
    are not taken; None when nothing is left for them (or their cap is reached).
    Commits: the lease must be visible to other annotators at once."""
    now = _begin(session, study, user, now)
    current = _live_leases(session, study, user, now, limit=1)
    lease = current[0] if current else _lease_new(session, study, user, now)
    session.commit()
    return lease


def lease_ahead(
    session: Session, study: Study, user: User, *, now: datetime | None = None
) -> Assignment | None:
    """The rater's next item after the current one, leased now so that the browser can
    fetch its images while the rater works on the current one. Idempotent: while the rater
    holds two live leases, the second is returned. None when the rater holds no lease, or
    nothing else is left for them. Counts against k and the cap like any lease. Commits."""
    now = _begin(session, study, user, now)
    live = _live_leases(session, study, user, now, limit=2)
    ahead = _ahead_of(session, study, user, now, live) if live else None
    session.commit()
    return ahead


def next_and_ahead(
    session: Session,
    study: Study,
    user: User,
    *,
    now: datetime | None = None,
    commit: bool = True,
) -> tuple[Assignment | None, Assignment | None]:
    """``next_item`` and ``lease_ahead`` in one transaction: the rater's current item and
    the one after it (None where nothing is left). The workspace answers a submit with the
    next item and the images of the one after, for the browser to fetch while the rater
    works, without a request of its own. Commits, unless ``commit`` is False: a web request
    whose session commits before its answer is sent may read the page's data in the same
    transaction."""
    now = _begin(session, study, user, now)
    live = _live_leases(session, study, user, now, limit=2)
    current = live[0] if live else _lease_new(session, study, user, now)
    ahead = None
    if current is not None:
        ahead = _ahead_of(session, study, user, now, live or [current])
    if commit:
        session.commit()
    return current, ahead


def _ahead_of(
    session: Session, study: Study, user: User, now: datetime, live: list[Assignment]
) -> Assignment | None:
    """The lease after the current one (the first of ``live``): the rater's second live
    lease, or a new one. Does not commit."""
    if len(live) > 1:
        return live[1]
    # Held while the current item is labelled, then for a lease of its own.
    return _lease_new(session, study, user, now, lease_s=2 * study.lease_s)


@cache
def _rater_lock() -> Select[int]:
    return select(User.id).where(User.id == _USER).with_for_update()


def _begin(session: Session, study: Study, user: User, now: datetime | None) -> datetime:
    if study.status != "open":
        raise Conflict(f"study {study.name!r} is {study.status}, not open")
    if _is_postgres(session):
        _run(session, _rater_lock(), {"rater": user.id})
    now = now or utcnow()
    release_expired(session, study.id, now)
    return now


@cache
def _candidates(*, locking: bool) -> Select[int]:
    """Items of the study the rater has not seen whose k places are not all taken."""
    seen = exists().where(Assignment.item_id == StudyItem.id, Assignment.user_id == _USER)
    query = (
        select(StudyItem.id)
        .where(StudyItem.study_id == _STUDY, StudyItem.active_count < _K, ~seen)
        # Partly rated items first, so that items complete; then the random order. Both keys
        # descending: a backward scan of the (study, active_count, position) index, with no
        # sort, however many items the study has.
        .order_by(StudyItem.active_count.desc(), StudyItem.position.desc())
        .limit(CANDIDATES_PER_TRY)
    )
    return query.with_for_update(skip_locked=True, of=StudyItem) if locking else query


@cache
def _take_place() -> Any:
    """One more place on an item, while it has one free (of k)."""
    return (
        update(StudyItem)
        .where(StudyItem.id == _ITEM, StudyItem.active_count < _K)
        .values(active_count=StudyItem.active_count + 1)
    )


def _lease_new(
    session: Session, study: Study, user: User, now: datetime, *, lease_s: int | None = None
) -> Assignment | None:
    """A lease on an item the rater has not seen whose k places are not taken, or None.
    Does not commit: the caller does, once, for everything its transaction leased."""
    if study.per_rater_cap is not None and _used(session, study, user) >= study.per_rater_cap:
        return None
    # SKIP LOCKED first, so annotators do not queue behind each other's candidates; when
    # everything left is locked for a moment, the plain query finds it and the conditional
    # UPDATE below waits for the lock instead of reporting "nothing left" too early.
    postgres = _is_postgres(session)
    rng = random.Random()
    found = {"study": study.id, "rater": user.id, "k": study.raters_per_item}
    while True:
        candidates = (
            _run(session, _candidates(locking=True), found).scalars().all() if postgres else []
        )
        if not candidates:
            candidates = _run(session, _candidates(locking=False), found).scalars().all()
        if not candidates:
            return None
        for item_id in candidates:
            taken = _run(
                session, _take_place(), {"item": item_id, "k": study.raters_per_item}
            ).rowcount
            if not taken:
                continue
            assignment = Assignment(
                study_id=study.id,
                item_id=item_id,
                user_id=user.id,
                status="leased",
                leased_at=now,
                lease_expires_at=now + timedelta(seconds=lease_s or study.lease_s),
                pane_map=pane_map(study, rng),
            )
            session.add(assignment)
            session.flush()
            return assignment


def finish(
    session: Session,
    assignment_id: int,
    user: User,
    *,
    status: str = "done",
    now: datetime | None = None,
) -> Assignment:
    """Record a rating (done) or a skip, and commit. Idempotent: finishing twice changes
    nothing. A lease that expired is still accepted while its item has a free place."""
    assignment = owned_lease(session, assignment_id, user)
    if assignment.status in FINAL:
        if assignment.status != status:
            raise Conflict(f"this item was already {assignment.status}")
        return assignment
    try:
        counted = finish_in_transaction(session, assignment, status=status, now=now or utcnow())
    except Conflict:
        session.rollback()  # a concurrent request finished it first: answer as it did
        session.refresh(assignment)
        if assignment.status == status:
            return assignment
        raise
    if not counted:
        session.rollback()
        raise Conflict("the lease expired and the item went to other raters")
    session.commit()
    session.refresh(assignment)
    return assignment


@cache
def _owned() -> Select[Assignment, Study, StudyItem, TaxonomyVersion, bool]:
    # populate_existing: a lease already in the session is read again, as the database has
    # it now. The leasing UPDATEs run past the ORM (``_run``) and change no object in the
    # session, and ``finish_in_transaction`` must see a lease that ``release_expired`` expired.
    return (
        select(Assignment, Study, StudyItem, TaxonomyVersion, queries.open_to(_USER))
        .join(Study, Study.id == Assignment.study_id)
        .join(StudyItem, StudyItem.id == Assignment.item_id)
        .join(TaxonomyVersion, TaxonomyVersion.id == Study.taxonomy_version_id)
        .where(Assignment.id == bindparam("lease", type_=Integer), Assignment.user_id == _USER)
        .execution_options(populate_existing=True)
    )


def owned_lease(
    session: Session, assignment_id: int, user: User, *, called: str = "assignment"
) -> Assignment:
    """The rater's own lease (held, expired or finished) in a study still open to them;
    NotFound for another rater's, or one of a members-only study they are no longer a member
    of, as for one that does not exist, so that ids tell nothing. ``called``: what the
    message names it. One statement, which also loads the lease's study, its item and the
    study's taxonomy version for the request's next steps (``db.keep``: ``session.get`` and
    ``taxonomies.of_study`` then find them without a statement)."""
    found = session.execute(_owned(), {"lease": assignment_id, "rater": user.id}).one_or_none()
    if found is None or not found[4]:
        raise NotFound(f"{called} {assignment_id} not found")
    lease, study, item, version, _ = found
    keep(session, study, item, version)
    return lease


@cache
def _claim() -> Any:
    return (
        update(Assignment)
        .where(
            Assignment.id == bindparam("lease", type_=Integer),
            Assignment.status.in_(("leased", "expired")),
        )
        .values(status=bindparam("new_status", type_=String), finished_at=_NOW)
    )


@cache
def _count_rating() -> Any:
    return (
        update(StudyItem).where(StudyItem.id == _ITEM).values(done_count=StudyItem.done_count + 1)
    )


def finish_in_transaction(
    session: Session, assignment: Assignment, *, status: str, now: datetime
) -> bool:
    """Move a leased (or expired) assignment to ``status`` and update its item's counters,
    without committing. False when the lease expired and its item is complete meanwhile:
    the caller decides what to keep."""
    if status not in FINAL:
        raise ValueError(f"status must be one of {FINAL}")
    if assignment.status == "expired":
        study = session.get(Study, assignment.study_id)
        assert study is not None
        # The place was given back: take it again if it is still free.
        retaken = _run(
            session, _take_place(), {"item": assignment.item_id, "k": study.raters_per_item}
        ).rowcount
        if not retaken:
            return False
    claimed = _run(
        session, _claim(), {"lease": assignment.id, "new_status": status, "now": now}
    ).rowcount
    if not claimed:
        raise Conflict("this item was finished meanwhile (another tab or a retry)")
    # A rating keeps its place on the item; a skip gives it back.
    _run(
        session,
        _give_back() if status == "skipped" else _count_rating(),
        {"item": assignment.item_id},
    )
    return True
