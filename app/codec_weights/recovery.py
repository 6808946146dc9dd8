"""Weights fetches the periodic sweep (``app/recovery.py``) sends again when their task was
lost, to the queue whose workers read the file."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.codec_weights import task_names
from app.codec_weights.models import FETCH_ACTIVE_STATUSES, WeightsFetch
from app.codec_weights.service import QUEUES
from app.domain.codecs import catalogue
from app.jobs import Stalled, stalled_jobs


def stalled_work(session: Session) -> list[Stalled]:
    active = select(WeightsFetch.id, WeightsFetch.file_name).where(
        WeightsFetch.status.in_(FETCH_ACTIVE_STATUSES)
    )
    file_names = dict(session.execute(active).all())

    def queue_of(fetch_id: int) -> str:
        try:
            return QUEUES[catalogue.by_file_name(file_names.get(fetch_id, "")).publisher]
        except catalogue.CatalogueError:  # asked for since the names were read
            return task_names.FETCH_WEIGHTS.queue

    return stalled_jobs(
        session, WeightsFetch, FETCH_ACTIVE_STATUSES, task_names.FETCH_WEIGHTS, queue_of
    )
