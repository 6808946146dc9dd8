"""Image imports uploaded through the browser or the API."""

from __future__ import annotations

from celery import Task

from app.config import get_settings
from app.datasets import importer, task_names
from app.storage import media_storage
from workers.celery_app import celery_app
from workers.db import worker_sessionmaker
from workers.tasks import RETRY_ON_LOST_DATABASE


@celery_app.task(  # type: ignore[untyped-decorator]
    bind=True,
    acks_late=True,
    **RETRY_ON_LOST_DATABASE,
    name=task_names.IMPORT.name,
)
def run_import(self: Task, import_id: int) -> None:
    settings = get_settings()
    importer.execute_import(worker_sessionmaker(), media_storage(settings), settings, import_id)
