"""Codec run tasks: one per (image, codec, parameters, seed) to encode and decode, then one
on the post-processing queue for metrics, maps and the matched JPEG."""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.signals import worker_process_init

from app.codec_runs import processing, task_names
from app.config import get_settings
from app.storage import media_storage
from workers.celery_app import celery_app
from workers.db import worker_sessionmaker
from workers.tasks import RETRY_ON_LOST_DATABASE


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _warm_up(**_: Any) -> None:
    processing.warm_up()


@celery_app.task(bind=True, acks_late=True, name=task_names.ENCODE.name, **RETRY_ON_LOST_DATABASE)  # type: ignore[untyped-decorator]
def encode_result(self: Task, result_id: int) -> str:
    settings = get_settings()
    return processing.encode_result(
        worker_sessionmaker(),
        media_storage(settings),
        settings,
        result_id,
        task_id=str(self.request.id),
    )


@celery_app.task(
    bind=True, acks_late=True, name=task_names.POSTPROCESS.name, **RETRY_ON_LOST_DATABASE
)  # type: ignore[untyped-decorator]
def postprocess_result(self: Task, result_id: int) -> str:
    settings = get_settings()
    return processing.postprocess_result(
        worker_sessionmaker(),
        media_storage(settings),
        settings,
        result_id,
        task_id=str(self.request.id),
    )
