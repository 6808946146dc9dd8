"""Handing out items on PostgreSQL under many concurrent annotators: exactly k distinct raters
per item, nobody twice on an item, caps kept, expired leases returned."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import Conflict
from app.studies import assignment, service
from app.studies.models import Assignment, Study, StudyItem
from app.users.models import User
from tests.studies.helpers import annotators, open_study_with_items


def _annotate_until_done(engine: Engine, study_id: int, user_id: int, errors: list[str]) -> None:
    try:
        with Session(engine) as session:
            user = session.get(User, user_id)
            study = session.get(Study, study_id)
            assert user is not None and study is not None
            while True:
                lease = assignment.next_item(session, study, user)
                if lease is None:
                    return
                assignment.finish(session, lease.id, user)
    except Exception as exc:  # reported to the main thread, which fails the test
        errors.append(f"{type(exc).__name__}: {exc}")


def _run_annotators(engine: Engine, study_id: int, user_ids: list[int]) -> None:
    errors: list[str] = []
    threads = [
        threading.Thread(target=_annotate_until_done, args=(engine, study_id, u, errors))
        for u in user_ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def _done(engine: Engine, study_id: int) -> list[tuple[int, int]]:
    with Session(engine) as session:
        return [
            (row.item_id, row.user_id)
            for row in session.scalars(
                select(Assignment).where(
                    Assignment.study_id == study_id, Assignment.status == "done"
                )
            )
        ]


def test_many_concurrent_annotators_give_exactly_k_distinct_ratings(committed_db: Engine) -> None:
    study_id, items = open_study_with_items(committed_db, 40, raters_per_item=3)
    users = annotators(committed_db, 12)
    _run_annotators(committed_db, study_id, users)
    done = _done(committed_db, study_id)
    assert len(done) == len(set(done)) == 40 * 3  # no (item, rater) twice
    per_item = Counter(item for item, _ in done)
    assert set(per_item) == set(items) and set(per_item.values()) == {3}
    with Session(committed_db) as session:
        counters = session.execute(
            select(StudyItem.active_count, StudyItem.done_count).where(
                StudyItem.study_id == study_id
            )
        ).all()
    assert set(counters) == {(3, 3)}


def test_the_per_rater_cap_holds_under_concurrency(committed_db: Engine) -> None:
    study_id, _ = open_study_with_items(committed_db, 30, raters_per_item=3, per_rater_cap=4)
    users = annotators(committed_db, 10)
    # Each annotator runs two sessions at once: the cap must hold across them too.
    _run_annotators(committed_db, study_id, users + users)
    done = _done(committed_db, study_id)
    assert Counter(user for _, user in done) == dict.fromkeys(users, 4)
    assert max(Counter(item for item, _ in done).values()) <= 3
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        assert {service.remaining_for(session, study, u) for u in users} == {0}  # cap reached
        (fresh,) = annotators(committed_db, 1)
        assert service.remaining_for(session, study, fresh) == 4  # their cap, not the pool


def test_partly_rated_items_are_handed_out_first(committed_db: Engine) -> None:
    study_id, items = open_study_with_items(committed_db, 10, raters_per_item=2)
    first, second = annotators(committed_db, 2)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        a = session.get(User, first)
        b = session.get(User, second)
        assert a is not None and b is not None
        lease = assignment.next_item(session, study, a)
        assert lease is not None
        assignment.finish(session, lease.id, a)
        other = assignment.next_item(session, study, b)
        assert other is not None and other.item_id == lease.item_id


def test_an_expired_lease_returns_its_item_and_a_late_rating_is_kept_if_there_is_room(
    committed_db: Engine,
) -> None:
    study_id, _ = open_study_with_items(committed_db, 1, raters_per_item=1, lease_s=60)
    first, second, third = annotators(committed_db, 3)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        a, b, c = (session.get(User, u) for u in (first, second, third))
        assert a is not None and b is not None and c is not None
        lease = assignment.next_item(session, study, a)
        assert lease is not None
        assert assignment.next_item(session, study, b) is None  # the only place is leased
        again = assignment.next_item(session, study, a)
        assert again is not None and again.id == lease.id  # a reload resumes the same lease
        later = utcnow() + timedelta(seconds=61)
        assert assignment.next_item(session, study, c, now=later) is not None
        with pytest.raises(Conflict, match="expired"):
            assignment.finish(session, lease.id, a, now=later)
        # Without a rival, a late rating takes the place back instead of being lost; in one
        # session that keeps its objects across commits, as the application's do (a worker's
        # simulation leases, expires and finishes in one), the lease is seen expired.
    study_id, _ = open_study_with_items(committed_db, 1, raters_per_item=1, lease_s=60)
    with Session(committed_db, expire_on_commit=False) as session:
        study = session.get(Study, study_id)
        a = session.get(User, first)
        assert study is not None and a is not None
        lease = assignment.next_item(session, study, a)
        assert lease is not None
        later = utcnow() + timedelta(seconds=61)
        assignment.release_expired(session, study.id, later)
        session.commit()
        finished = assignment.finish(session, lease.id, a, now=later)
        assert finished.status == "done"
        counters = session.execute(
            select(StudyItem.active_count, StudyItem.done_count).where(
                StudyItem.id == lease.item_id
            )
        ).one()
        assert tuple(counters) == (1, 1)


def test_finishing_twice_is_idempotent_and_skips_free_the_place(committed_db: Engine) -> None:
    study_id, _ = open_study_with_items(committed_db, 1, raters_per_item=1)
    first, second = annotators(committed_db, 2)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        a, b = session.get(User, first), session.get(User, second)
        assert study is not None and a is not None and b is not None
        lease = assignment.next_item(session, study, a)
        assert lease is not None
        assignment.finish(session, lease.id, a, status="skipped")
        assignment.finish(session, lease.id, a, status="skipped")  # a double click
        assert assignment.next_item(session, study, a) is None  # never the same item again
        other = assignment.next_item(session, study, b)
        assert other is not None
        assignment.finish(session, other.id, b)
        assignment.finish(session, other.id, b)
        item = session.get(StudyItem, other.item_id)
        assert item is not None and (item.active_count, item.done_count) == (1, 1)
        with pytest.raises(Conflict):
            assignment.finish(session, other.id, b, status="skipped")


def test_blind_pane_order_is_random_per_rater_and_stored(committed_db: Engine) -> None:
    study_id, _ = open_study_with_items(committed_db, 40, raters_per_item=1)
    (user_id,) = annotators(committed_db, 1)
    seen = set()
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        user = session.get(User, user_id)
        assert study is not None and user is not None
        for _ in range(40):
            lease = assignment.next_item(session, study, user)
            assert lease is not None
            assert set(lease.pane_map) == {"original", "A", "B"}
            assert lease.pane_map["original"] == "original"
            seen.add(lease.pane_map["A"])
            assignment.finish(session, lease.id, user)
    assert seen == {"reconstruction", "jpeg"}
    open_id, _ = open_study_with_items(committed_db, 1, blind=False)
    with Session(committed_db) as session:
        study = session.get(Study, open_id)
        user = session.get(User, user_id)
        assert study is not None and user is not None
        lease = assignment.next_item(session, study, user)
        assert lease is not None
        assert lease.pane_map == {
            "original": "original",
            "reconstruction": "reconstruction",
            "jpeg": "jpeg",
        }
