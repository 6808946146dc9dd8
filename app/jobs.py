"""Send Celery tasks only after the database transaction that motivates them has committed.

A task sent before commit can run before its rows exist (or for rows that a rollback then
removes). Services call :func:`enqueue_after_commit`; the listeners below do the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

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
