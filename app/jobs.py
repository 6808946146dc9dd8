"""Send Celery tasks only after the database transaction that motivates them has committed.

A task sent before commit can run before its rows exist (or for rows that a rollback then
removes). Services call :func:`enqueue_after_commit`; the listeners below do the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.errors import UserError

logger = logging.getLogger(__name__)

_JOBS_KEY = "miscomp_jobs"
_installed = False


@dataclass(frozen=True)
class TaskSpec:
    """A Celery task as senders know it: its registered name and the queue it is routed to.
    Each feature declares its own in ``app/<feature>/task_names.py``; ``workers/tasks/``
    registers the functions under these names."""

    name: str
    queue: str


@dataclass(frozen=True)
class Stalled:
    """Work the database says a task is doing or about to do: what the periodic sweep
    (``app/recovery.py``) sends again when the broker and the workers have lost that task.
    Each feature lists its own (``stalled_work`` in its ``recovery`` module)."""

    task: TaskSpec
    args: tuple[int, ...]
    since: datetime
    """When the work entered its state or was last claimed."""
    queue: str | None = None
    """Overrides the task's routed queue (a codec run's own queue)."""
    claimed: bool = False
    """A worker claimed it under a lease (``Settings.task_lease_s``); once the lease runs
    out, another task may take it over, so it is sent again whatever the broker holds."""

    @property
    def route(self) -> str:
        return self.queue or self.task.queue


def stalled_jobs(
    session: Session,
    model: Any,
    active_statuses: tuple[str, ...],
    task: TaskSpec,
    queue_of: Callable[[int], str] | None = None,
) -> list[Stalled]:
    """The jobs of ``model`` in ``active_statuses`` (queued, running): a table of jobs each
    taken by one task, with ``status``, ``created_at`` and ``started_at`` (imports, exports,
    weights fetches). A running job counts as claimed since it started. ``queue_of``: a
    job's queue, where it is not the task's."""
    rows = session.execute(
        select(model.id, model.status, model.created_at, model.started_at)
        .where(model.status.in_(active_statuses))
        .order_by(model.id)
    )
    return [
        Stalled(
            task,
            (job_id,),
            started_at if status == "running" and started_at else created_at,
            queue=queue_of(job_id) if queue_of else None,
            claimed=status == "running",
        )
        for job_id, status, created_at, started_at in rows
    ]


def run_job(
    factory: sessionmaker[Session],
    model: type[Any],
    job_id: int,
    active_statuses: tuple[str, ...],
    work: Callable[[Session, Any], dict[str, Any]],
    *,
    claim: Callable[[Session, Any], None] | None = None,
    expected: tuple[type[Exception], ...] = (),
) -> str:
    """A worker's step on one job of ``model`` (a table of jobs with ``status``,
    ``started_at``, ``finished_at`` and ``error``: exports, weights fetches, audits,
    retrainings). A job that has ended is left as it is (a task delivered twice). Otherwise
    it is claimed as running (``claim`` sets what else a fresh start resets); ``work`` does
    it and returns its results, columns set on the job as the database has it then (work
    may leave the session's objects behind); and it is done. A lost database is raised, for
    the task to be retried. Any other failure is the job's, shown with it: the message of a
    UserError or of one of the ``expected`` exceptions, otherwise the exception's type and
    message (logged with its traceback). Returns the job's status ("missing": no such job).
    """
    with factory() as session:
        session.info["actor_label"] = "worker"
        job = session.get(model, job_id)
        if job is None:
            return "missing"
        if job.status not in active_statuses:
            return str(job.status)
        job.status, job.started_at, job.error = "running", utcnow(), None
        if claim is not None:
            claim(session, job)
        session.commit()
        try:
            results = work(session, job)
        except OperationalError:
            raise
        except Exception as exc:
            if isinstance(exc, UserError):
                message = exc.message
            elif isinstance(exc, expected):
                message = str(exc)
            else:
                logger.exception("%s %s failed", model.__tablename__, job_id)
                message = f"{type(exc).__name__}: {exc}"
            session.rollback()
            failed = session.get(model, job_id)
            assert failed is not None
            failed.status, failed.error, failed.finished_at = "failed", message[:2000], utcnow()
            session.commit()
            return "failed"
        done = session.get(model, job_id)
        assert done is not None
        for column, value in results.items():
            setattr(done, column, value)
        done.status, done.finished_at = "done", utcnow()
        session.commit()
        return "done"


def enqueue_after_commit(
    session: Session, task: TaskSpec, *args: Any, queue: str | None = None
) -> None:
    """Queue a task for after the commit; ``queue`` overrides the task's routed queue."""
    session.info.setdefault(_JOBS_KEY, []).append((task.name, args, queue))


def _send_pending(session: Session) -> None:
    jobs = session.info.pop(_JOBS_KEY, [])
    if not jobs:
        return
    from app.broker import sender  # the web process loads Celery only when it sends a task

    for task_name, args, queue in jobs:
        options = {"queue": queue} if queue else {}
        sender().send_task(task_name, args=list(args), **options)


def _discard_pending(session: Session) -> None:
    session.info.pop(_JOBS_KEY, None)


def install() -> None:
    global _installed
    if not _installed:
        event.listen(Session, "after_commit", _send_pending)
        event.listen(Session, "after_rollback", _discard_pending)
        _installed = True
