"""The workers' Celery application: the broker's configuration (``app.broker``) with the task
modules of every feature, and the step that writes each worker's heartbeat
(``workers/heartbeat.py``)."""

from __future__ import annotations

from app.broker import make_celery
from app.config import get_settings
from workers.heartbeat import Heartbeat

celery_app = make_celery(
    get_settings(),
    include=[
        "workers.tasks.imports",
        "workers.tasks.codec_runs",
        "workers.tasks.codec_weights",
        "workers.tasks.studies",
        "workers.tasks.exports",
        "workers.tasks.pair_audits",
        "workers.tasks.detector",
    ],
)
celery_app.steps["worker"].add(Heartbeat)
