"""The periodic sweep: work the database says is under way, but whose task the broker and the
workers have lost, is sent again.

A task is lost when Redis restarts without its queues (the messages waiting, and those
workers hold unacknowledged), or when a worker is killed after Redis forgot the message it was
working on. Each feature lists its unfinished work (``stalled_work`` in its ``recovery``
module); the sweep asks the broker and the workers what they hold and sends again what no one
holds. Every task is safe to receive twice (results are claimed under a lease, a job that ended
is left as it is), so the sweep errs on the side of sending.

``miscomp sweep`` runs it every ``Settings.sweep_interval_s``, as one process beside the
workers (docs/deployment.md)."""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from app.broker import BROKER_LOST, QUEUES, BrokerUnavailable
from app.codec_runs import recovery as codec_runs
from app.codec_weights import recovery as codec_weights
from app.config import Settings
from app.datasets import recovery as datasets
from app.db import utcnow
from app.detector import recovery as detector
from app.exports import recovery as exports
from app.jobs import Stalled
from app.pair_audits import recovery as pair_audits
from app.studies import recovery as studies

logger = logging.getLogger(__name__)

STALLED_WORK: tuple[Callable[[Session], list[Stalled]], ...] = (
    datasets.stalled_work,
    codec_runs.stalled_work,
    codec_weights.stalled_work,
    studies.stalled_work,
    exports.stalled_work,
    pair_audits.stalled_work,
    detector.stalled_work,
)

SCAN_LIMIT = 20_000
"""Messages read from one queue at most; a longer queue is taken to hold all the waiting
work routed to it (reading 100,000 messages every sweep would cost more than it saves)."""

INSPECT_TIMEOUT_S = 2.0

TaskKey = tuple[str, tuple[int, ...]]


@dataclass(frozen=True)
class Holdings:
    """What the broker and the workers hold. ``complete``: the workers answered for what they
    hold; the embedded broker cannot ask them, so there waiting work must also wait out the
    lease before it is sent again."""

    tasks: frozenset[TaskKey]
    saturated_queues: frozenset[str] = frozenset()
    complete: bool = True


@dataclass
class SweepReport:
    resent: list[Stalled] = field(default_factory=list)
    runs_finished: int = 0


def choose_resend(
    stalled: Iterable[Stalled],
    holdings: Holdings,
    *,
    now: datetime,
    grace_s: float,
    lease_s: float,
) -> list[Stalled]:
    """The stalled work no task is on: not held by the broker or a worker, and quiet for
    longer than the grace (a task just sent may not be visible yet) or, where a worker claimed
    it or the workers cannot tell, longer than the lease."""
    chosen = []
    for work in stalled:
        if (work.task.name, work.args) in holdings.tasks:
            continue
        if not work.claimed and work.route in holdings.saturated_queues:
            continue
        wait_s = lease_s if work.claimed or not holdings.complete else grace_s
        if work.since < now - timedelta(seconds=wait_s):
            chosen.append(work)
    return chosen


def sweep_once(
    factory: sessionmaker[Session],
    celery: Celery,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> SweepReport:
    """One sweep: end runs left without work, then send again the work whose task is lost.
    Raises :class:`app.broker.BrokerUnavailable` while the broker is down (nothing is sent)."""
    report = SweepReport()
    with factory() as session:
        session.info["actor_label"] = "sweep"
        report.runs_finished = codec_runs.finish_runs_left_without_work(session)
    with factory() as session:
        stalled = [work for listed in STALLED_WORK for work in listed(session)]
    if not stalled:
        return report
    holdings = _holdings(celery, settings)
    report.resent = choose_resend(
        stalled,
        holdings,
        now=now or utcnow(),
        grace_s=settings.sweep_grace_s,
        lease_s=settings.task_lease_s,
    )
    if report.resent and holdings.complete:
        # Only now ask the workers (a broadcast that waits out its timeout) what they hold.
        held = _worker_tasks(celery)
        report.resent = [w for w in report.resent if (w.task.name, w.args) not in held]
    for work in report.resent:
        logger.warning("sweep: %s%s has no task; sent again", work.task.name, work.args)
        celery.send_task(work.task.name, args=list(work.args), queue=work.route)
    return report


def _holdings(celery: Celery, settings: Settings) -> Holdings:
    """What the broker holds; on Redis, whether the workers hold more is asked separately."""
    try:
        if settings.is_embedded_broker:
            return Holdings(frozenset(_folder_messages(settings)), complete=False)
        queued, saturated = _redis_messages(settings)
        return Holdings(frozenset(queued), frozenset(saturated))
    except BROKER_LOST as exc:
        raise BrokerUnavailable(f"the broker at {settings.broker_url} did not answer") from exc


def _redis_messages(settings: Settings) -> tuple[set[TaskKey], set[str]]:
    """The tasks in Redis: waiting in a queue (any priority) or delivered unacknowledged."""
    client = Redis.from_url(settings.broker_url, socket_timeout=5)
    found: set[TaskKey] = set()
    saturated: set[str] = set()
    try:
        for queue in QUEUES:
            # Kombu keeps each priority level of a queue in a list of its own.
            for key in (queue, *(f"{queue}\x06\x16{level}" for level in (3, 6, 9))):
                if client.llen(key) > SCAN_LIMIT:
                    saturated.add(queue)
                    continue
                found.update(filter(None, map(_task_of_message, client.lrange(key, 0, -1))))
        for delivered in client.hvals("unacked"):  # [message, exchange, routing key]
            found.update(filter(None, [_task_of_message(delivered, delivered=True)]))
    finally:
        client.close()
    return found, saturated


def _folder_messages(settings: Settings) -> set[TaskKey]:
    folder = settings.broker_dir / "queue"
    found: set[TaskKey] = set()
    for path in folder.glob("*.msg"):
        try:
            found.update(filter(None, [_task_of_message(path.read_bytes())]))
        except FileNotFoundError:
            continue  # a worker took it while we looked
    return found


def _task_of_message(raw: bytes | str, *, delivered: bool = False) -> TaskKey | None:
    """``delivered``: an entry of Redis's unacknowledged hash, ``[message, exchange, key]``."""
    try:
        payload = json.loads(raw)
        return _task_of_payload(payload[0] if delivered else payload)
    except (ValueError, KeyError, IndexError, TypeError):
        return None  # not a message we can read: a sweep must not stop at it


def _task_of_payload(payload: Any) -> TaskKey | None:
    """A kombu message's task name and arguments, from the headers Celery writes."""
    try:
        headers = payload["headers"]
        args = ast.literal_eval(headers["argsrepr"])
        return str(headers["task"]), tuple(int(a) for a in args)
    except (ValueError, KeyError, TypeError, SyntaxError):
        return None  # not one of our tasks


def _worker_tasks(celery: Celery) -> set[TaskKey]:
    """What the workers run, hold reserved, or keep for later (a retry's countdown)."""
    inspector = celery.control.inspect(timeout=INSPECT_TIMEOUT_S)
    found: set[TaskKey] = set()
    try:
        # Each question waits out the timeout for workers that may yet answer: ask at once.
        with ThreadPoolExecutor(3) as pool:
            asked = [
                pool.submit(question)
                for question in (inspector.active, inspector.reserved, inspector.scheduled)
            ]
            answers = [question.result() for question in asked]
    except BROKER_LOST as exc:
        raise BrokerUnavailable(f"the broker at {celery.conf.broker_url} did not answer") from exc
    for answer in answers:
        for requests in (answer or {}).values():
            for request in requests:
                found.update(filter(None, [_task_of_request(request.get("request", request))]))
    return found


def _task_of_request(request: dict[str, Any]) -> TaskKey | None:
    try:
        args = request.get("args")
        if isinstance(args, str):
            args = ast.literal_eval(args)
        return str(request["name"]), tuple(int(a) for a in args or ())
    except (KeyError, TypeError, ValueError, SyntaxError):
        return None
