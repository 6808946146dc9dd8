"""The Celery tasks of datasets (``workers/tasks/imports.py``)."""

from __future__ import annotations

from app.jobs import TaskSpec

IMPORT = TaskSpec("workers.tasks.imports.run_import", queue="cpu")
"""Unpack and store the images of one upload or folder import."""

TASKS = (IMPORT,)
