"""The Celery tasks of studies (``workers/tasks/studies.py``)."""

from __future__ import annotations

from app.jobs import TaskSpec

PROPOSE = TaskSpec("workers.tasks.studies.propose_study", queue="post")
"""Propose a study's crops once its runs are done, and render its panes."""
RESULTS = TaskSpec("workers.tasks.studies.compute_results", queue="post")
"""Compute and cache a study's agreement, prevalence, adjudication and gallery report."""
SIMULATE_DEMO_LABELS = TaskSpec("workers.tasks.studies.simulate_demo_labels", queue="post")
"""The demo's simulated raters label its simulated study."""

TASKS = (PROPOSE, RESULTS, SIMULATE_DEMO_LABELS)
