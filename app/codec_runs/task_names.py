"""The Celery tasks of codec runs (``workers/tasks/codec_runs.py``)."""

from __future__ import annotations

from app.jobs import TaskSpec

ENCODE = TaskSpec("workers.tasks.codec_runs.encode_result", queue="cpu")
"""Encode and decode one result; sent to the run's own queue (cpu or gpu)."""
POSTPROCESS = TaskSpec("workers.tasks.codec_runs.postprocess_result", queue="post")
"""Metrics, difference maps and the bpp-matched JPEG of one decoded result."""

TASKS = (ENCODE, POSTPROCESS)
