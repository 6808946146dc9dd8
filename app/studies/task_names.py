"""The Celery tasks of studies (``workers/tasks/studies.py``)."""

from __future__ import annotations

from app.jobs import TaskSpec

PROPOSE = TaskSpec("workers.tasks.studies.propose_study", queue="post")
"""Propose a study's crops once its runs are done, and render its panes."""
RESULTS = TaskSpec("workers.tasks.studies.compute_results", queue="post")
"""Compute and cache a study's agreement, prevalence, adjudication and gallery report."""
SIMULATE_LABELS = TaskSpec("workers.tasks.studies.simulate_labels", queue="post")
"""Simulated raters label a study (``miscomp studies simulate``)."""

TASKS = (PROPOSE, RESULTS, SIMULATE_LABELS)
