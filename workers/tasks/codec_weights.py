"""Codec weights tasks: downloading one catalogued file into this worker's weights folder."""

from __future__ import annotations

from celery import Task

from app.codec_weights import service, task_names
from app.config import get_settings
from workers.celery_app import celery_app
from workers.db import worker_sessionmaker
from workers.tasks import RETRY_ON_LOST_DATABASE


@celery_app.task(  # type: ignore[untyped-decorator]
    bind=True,
    acks_late=True,
    **RETRY_ON_LOST_DATABASE,
    name=task_names.FETCH_WEIGHTS.name,
)
def fetch_weights(self: Task, fetch_id: int) -> str:
    return service.run_fetch(worker_sessionmaker(), get_settings(), fetch_id)
