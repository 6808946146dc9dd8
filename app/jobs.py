"""Send Celery tasks only after the database transaction that motivates them has committed.

A task sent before commit can run before its rows exist (or for rows that a rollback then
removes). Services call :func:`enqueue_after_commit`; the listeners below do the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
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
