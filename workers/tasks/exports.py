"""Export tasks: writing a study's export file (post-processing queue)."""

from __future__ import annotations

from celery import Task

from app.config import get_settings
from app.exports import service, task_names
from workers.celery_app import celery_app
from workers.db import worker_sessionmaker
from workers.tasks import RETRY_ON_LOST_DATABASE


@celery_app.task(  # type: ignore[untyped-decorator]
    bind=True,
    acks_late=True,
    **RETRY_ON_LOST_DATABASE,
    name=task_names.EXPORT_STUDY.name,
)
def export_study(self: Task, export_id: int) -> str:
    return service.run_export(worker_sessionmaker(), get_settings(), export_id)
