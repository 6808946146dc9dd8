"""The periodic sweep (``app/recovery.py``) against the real test Redis and PostgreSQL, with no
worker: what Redis still holds is left alone; what it lost is sent again, once."""

from __future__ import annotations

from datetime import datetime, timedelta

import redis
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from app.broker import make_celery
from app.codec_runs import service, task_names
from app.codec_runs.models import CodecResult, CodecRun
from app.codec_runs.schemas import RunCreate
from app.config import get_settings
from app.db import make_sessionmaker, utcnow
from app.jobs import Stalled
from app.recovery import Holdings, choose_resend, sweep_once
from tests.workers.helpers import dataset_with_images

LATER = timedelta(hours=2)
"""Past the grace and the lease (an hour by default)."""


def _queue_run(engine: Engine, images: int) -> tuple[int, list[int]]:
    dataset_id = dataset_with_images(engine, images)
    with make_sessionmaker(engine).begin() as session:
        run = service.create_run(
            session,
            RunCreate(dataset_id=dataset_id, codec="jpeg", params={"quality": 10}, maps=[]),
            actor=None,
        )
        run_id = run.id
    with Session(engine) as session:
        results = session.scalars(
            select(CodecResult.id).where(CodecResult.run_id == run_id).order_by(CodecResult.id)
        )
        return run_id, list(results)


def _queued_encodes(client: redis.Redis) -> int:
    return int(client.llen("cpu"))


def test_the_sweep_sends_again_only_what_redis_lost(
    committed_db: Engine, redis_client: redis.Redis
) -> None:
    settings = get_settings()
    celery = make_celery(settings)
    factory = make_sessionmaker(committed_db)
    run_id, result_ids = _queue_run(committed_db, 3)
    assert _queued_encodes(redis_client) == 3

    # Everything is still queued: nothing is sent, however late it is.
    assert sweep_once(factory, celery, settings, now=utcnow() + LATER).resent == []
    assert _queued_encodes(redis_client) == 3

    redis_client.flushdb()  # Redis restarted without its queues
    # Within the grace, a lost task is not told from one being sent.
    assert sweep_once(factory, celery, settings).resent == []
    report = sweep_once(factory, celery, settings, now=utcnow() + LATER)
    assert sorted(work.args for work in report.resent) == [(i,) for i in result_ids]
    assert {work.task for work in report.resent} == {task_names.ENCODE}
    assert _queued_encodes(redis_client) == 3
    # Sent once: the next sweep finds them queued.
    assert sweep_once(factory, celery, settings, now=utcnow() + LATER).resent == []
    assert _queued_encodes(redis_client) == 3

    # A result a worker holds under a fresh lease is left to it; one whose lease ran out,
    # whose worker is gone with its message, is sent again to whoever takes it over.
    redis_client.flushdb()
    now = utcnow()
    fresh, expired, waiting = result_ids
    with factory.begin() as session:
        session.execute(
            update(CodecResult)
            .where(CodecResult.id == fresh)
            .values(status="postprocessing", claimed_by="t1", claimed_at=now)
        )
        session.execute(
            update(CodecResult)
            .where(CodecResult.id == expired)
            .values(status="encoding", claimed_by="t2", claimed_at=now - LATER)
        )
    resent = sweep_once(factory, celery, settings, now=now + timedelta(minutes=5)).resent
    assert [(w.task, w.args) for w in resent] == [
        (task_names.ENCODE, (expired,)),
        (task_names.ENCODE, (waiting,)),
    ]

    # A message no one can read, queued or unacknowledged, does not stop the sweep.
    redis_client.rpush("post", b"not a message")
    redis_client.hset("unacked", "garbled", b"[]")
    resent = sweep_once(factory, celery, settings, now=now + timedelta(minutes=5)).resent
    assert [w.args for w in resent] == []  # both sent above: queued now

    # Every result final, the run left running (its last worker died between two commits):
    # the sweep ends it.
    with factory.begin() as session:
        session.execute(
            update(CodecResult).where(CodecResult.run_id == run_id).values(status="done")
        )
    assert sweep_once(factory, celery, settings).runs_finished == 1
    with Session(committed_db) as session:
        run = session.get(CodecRun, run_id)
        assert run is not None and run.status == "done" and run.finished_at is not None


def _work(args: int, since: datetime, *, claimed: bool = False) -> Stalled:
    return Stalled(task_names.POSTPROCESS, (args,), since, claimed=claimed)


def test_waiting_work_waits_out_the_lease_where_the_workers_cannot_be_asked() -> None:
    now = utcnow()
    minutes_ago = now - timedelta(minutes=5)
    work = [_work(1, minutes_ago), _work(2, minutes_ago, claimed=True), _work(3, now - LATER)]
    choose = {"now": now, "grace_s": 60.0, "lease_s": 3600.0}
    asked = Holdings(frozenset({(task_names.POSTPROCESS.name, (3,))}))
    assert [w.args for w in choose_resend(work, asked, **choose)] == [(1,)]
    # The embedded broker: a worker may hold what the folder no longer shows.
    folder = Holdings(frozenset(), complete=False)
    assert [w.args for w in choose_resend(work, folder, **choose)] == [(3,)]
    # A queue too long to read is taken to hold its waiting work, not claimed work.
    saturated = Holdings(frozenset(), frozenset({"post"}))
    late_claim = [_work(4, now - LATER, claimed=True), _work(5, now - LATER)]
    assert [w.args for w in choose_resend(late_claim, saturated, **choose)] == [(4,)]
