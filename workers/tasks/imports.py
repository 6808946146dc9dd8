"""Image imports uploaded through the browser or the API."""

from __future__ import annotations

from celery import Task

from app.config import get_settings
from app.datasets import importer, task_names
from app.db import utcnow
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
    """Run the import, then delete staged uploads that no import will read: here, because the
    workers that import are the ones that read the staging folder (docs/object-storage.md)."""
    settings = get_settings()
    factory, storage = worker_sessionmaker(), media_storage(settings)
    importer.execute_import(factory, storage, settings, import_id)
    with factory() as session:
        importer.discard_abandoned_uploads(session, storage, now=utcnow())
