from __future__ import annotations

from celery import Task

from app.config import get_settings
from app.detector import retraining, task_names
from workers.celery_app import celery_app
from workers.db import worker_sessionmaker
from workers.tasks import RETRY_ON_LOST_DATABASE


@celery_app.task(  # type: ignore[untyped-decorator]
    bind=True,
    acks_late=True,
    **RETRY_ON_LOST_DATABASE,
    name=task_names.RETRAIN_DETECTOR.name,
)
def retrain_detector(self: Task, retraining_id: int) -> str:
    return retraining.run_retraining(worker_sessionmaker(), get_settings(), retraining_id)
