"""The Celery application. Tasks live in ``workers.tasks.*`` and take ids, never objects."""

from __future__ import annotations

from celery import Celery

from app.config import Settings, get_settings

QUEUES = ("cpu", "gpu", "post")
"""cpu: classical codecs and imports; gpu: neural codecs; post: metrics, maps, JPEG matching."""


def make_celery(settings: Settings) -> Celery:
    app = Celery(
        "miscomp",
        include=["workers.tasks.imports", "workers.tasks.codec_runs", "workers.tasks.studies"],
    )
    app.conf.broker_url = settings.broker_url
    if settings.is_embedded_broker:
        queue_dir = settings.broker_dir / "queue"
        processed = settings.broker_dir / "processed"
        # Exchange tables: kombu's default is "control" in the working directory.
        control = settings.broker_dir / "control"
        for folder in (queue_dir, processed, control):
            folder.mkdir(parents=True, exist_ok=True)
        app.conf.broker_transport_options = {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "processed_folder": str(processed),
            "control_folder": str(control),
            "store_processed": False,
        }
    else:
        visibility = settings.task_visibility_timeout_s
        app.conf.broker_transport_options = {
            "visibility_timeout": visibility,
            # Sweep for the tasks of killed workers often enough for the timeout to matter.
            "unacked_restore_interval": max(1, min(10, visibility // 3)),
            "unacked_restore_throttle": 1,
        }
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="cpu",
        task_routes={
            "workers.tasks.imports.*": {"queue": "cpu"},
            "workers.tasks.codec_runs.encode_result": {"queue": "cpu"},
            "workers.tasks.codec_runs.postprocess_result": {"queue": "post"},
            "workers.tasks.studies.*": {"queue": "post"},
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


celery_app = make_celery(get_settings())
