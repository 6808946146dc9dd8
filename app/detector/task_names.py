"""The Celery tasks of the detector (``workers/tasks/detector.py``)."""

from __future__ import annotations

from app.jobs import TaskSpec

RETRAIN_DETECTOR = TaskSpec("workers.tasks.detector.retrain_detector", queue="post")
"""Retrain the detector on one study's labels (a ``DetectorRetraining``)."""

TASKS = (RETRAIN_DETECTOR,)
"""Detector tasks (post-processing queue)."""
