"""The Celery tasks of exports (``workers/tasks/exports.py``)."""

from __future__ import annotations

from app.jobs import TaskSpec

EXPORT_STUDY = TaskSpec("workers.tasks.exports.export_study", queue="post")
"""Write one study export (an ``ExportJob``) to the exports folder."""

TASKS = (EXPORT_STUDY,)
