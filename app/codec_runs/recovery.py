"""What the periodic sweep (``app/recovery.py``) needs to know of codec runs: the results a
task should be working on, and the rule that ends a run."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from app.codec_runs import task_names
from app.codec_runs.models import (
    RESULT_ACTIVE_STATUSES,
    RUN_ACTIVE_STATUSES,
    CodecResult,
    CodecRun,
)
from app.db import utcnow
from app.jobs import Stalled

_STEP = {
    # status: (the task that moves it on, whether a worker holds it under a lease)
    "pending": (task_names.ENCODE, False),
    "encoding": (task_names.ENCODE, True),
    "encoded": (task_names.POSTPROCESS, False),
    "postprocessing": (task_names.POSTPROCESS, True),
}
assert set(_STEP) == set(RESULT_ACTIVE_STATUSES)


def stalled_work(session: Session) -> list[Stalled]:
    """Every unfinished result of a run still in progress, with the task that moves it on."""
    rows = session.execute(
        select(
            CodecResult.id,
            CodecResult.status,
            func.coalesce(CodecResult.claimed_at, CodecRun.created_at),
            CodecRun.queue,
        )
        .join(CodecRun, CodecRun.id == CodecResult.run_id)
        .where(
            CodecRun.status.in_(RUN_ACTIVE_STATUSES),
            CodecResult.status.in_(RESULT_ACTIVE_STATUSES),
        )
        .order_by(CodecResult.id)
    )
    stalled = []
    for result_id, status, since, queue in rows:
        task, claimed = _STEP[status]
        stalled.append(
            Stalled(
                task,
                (result_id,),
                since,
                queue=queue if task == task_names.ENCODE else None,
                claimed=claimed,
            )
        )
    return stalled


def finish_runs_left_without_work(session: Session, run_ids: Sequence[int] | None = None) -> int:
    """Marks done each run in progress (of ``run_ids``, or any) whose results are all final,
    and commits; returns how many. A worker does this for its run after each result; the
    sweep does it for a run whose last worker was lost between the two commits."""
    unfinished = exists().where(
        CodecResult.run_id == CodecRun.id, CodecResult.status.in_(RESULT_ACTIVE_STATUSES)
    )
    query = select(CodecRun).where(CodecRun.status.in_(RUN_ACTIVE_STATUSES), ~unfinished)
    if run_ids is not None:
        query = query.where(CodecRun.id.in_(run_ids))
    runs = list(session.scalars(query.with_for_update(skip_locked=True)))
    for run in runs:
        run.status = "done"
        run.finished_at = utcnow()
    session.commit()
    return len(runs)
