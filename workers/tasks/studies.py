"""Study tasks: proposing a study's crops (post-processing queue)."""

from __future__ import annotations

from celery import Task
from sqlalchemy.exc import OperationalError

from app.config import get_settings
from app.storage import LocalMediaStorage
from app.studies import proposals, results, simulation, task_names
from workers.celery_app import celery_app
from workers.db import worker_sessionmaker

WAIT_FOR_RUNS_S = 3
_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": 5, "max_retries": 3}
"""A lost database connection is retried, as the codec-run tasks are."""


@celery_app.task(
    bind=True,
    acks_late=True,
    name=task_names.PROPOSE.name,
    **_RETRY,
)  # type: ignore[untyped-decorator]
def propose_study(self: Task, study_id: int) -> str:
    settings = get_settings()
    outcome = proposals.propose(
        worker_sessionmaker(), LocalMediaStorage(settings.media_root), settings, study_id
    )
    if outcome == proposals.WAITING:
        # Its runs are still coding: look again shortly, for as long as they take.
        raise self.retry(countdown=WAIT_FOR_RUNS_S, max_retries=None)
    return outcome


@celery_app.task(
    bind=True,
    acks_late=True,
    name=task_names.RESULTS.name,
    **_RETRY,
)  # type: ignore[untyped-decorator]
def compute_results(self: Task, study_id: int) -> str:
    return results.compute_report(worker_sessionmaker(), study_id)


@celery_app.task(
    bind=True,
    acks_late=True,
    name=task_names.SIMULATE_LABELS.name,
    **_RETRY,
)  # type: ignore[untyped-decorator]
def simulate_labels(self: Task, study_id: int) -> str:
    """Simulated raters label the study once it is open (``miscomp studies simulate``)."""
    outcome = simulation.simulate(worker_sessionmaker(), study_id)
    if outcome == simulation.WAITING:
        raise self.retry(countdown=WAIT_FOR_RUNS_S, max_retries=None)
    return outcome
