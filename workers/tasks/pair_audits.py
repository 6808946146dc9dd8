from __future__ import annotations

from celery import Task

from app.config import get_settings
from app.pair_audits import service, task_names
from workers.celery_app import celery_app
from workers.db import worker_sessionmaker
from workers.tasks import RETRY_ON_LOST_DATABASE


@celery_app.task(  # type: ignore[untyped-decorator]
    bind=True,
    acks_late=True,
    **RETRY_ON_LOST_DATABASE,
    name=task_names.AUDIT_PAIR.name,
)
def audit_pair(self: Task, audit_id: int) -> str:
    return service.run_pair_audit(worker_sessionmaker(), get_settings(), audit_id)
