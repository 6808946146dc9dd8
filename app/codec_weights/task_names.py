"""The Celery tasks of codec weights (``workers/tasks/codec_weights.py``)."""

from __future__ import annotations

from app.jobs import TaskSpec

FETCH_WEIGHTS = TaskSpec("workers.tasks.codec_weights.fetch_weights", queue="gpu")
"""Download one weights file (a ``WeightsFetch``); sent to the queue whose workers read it
(``service.QUEUES``)."""

TASKS = (FETCH_WEIGHTS,)
