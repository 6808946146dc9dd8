"""Study tasks on the post-processing queue: proposing crops, computing the results report,
simulated raters."""

from __future__ import annotations

from celery import Task

from app.config import get_settings
from app.storage import media_storage
from app.studies import proposals, results, simulation, task_names
from workers.celery_app import celery_app
from workers.db import worker_sessionmaker
from workers.tasks import RETRY_ON_LOST_DATABASE

WAIT_FOR_RUNS_S = 3


@celery_app.task(
    bind=True,
    acks_late=True,
    name=task_names.PROPOSE.name,
    **RETRY_ON_LOST_DATABASE,
)  # type: ignore[untyped-decorator]
def propose_study(self: Task, study_id: int) -> str:
    settings = get_settings()
    outcome = proposals.propose(worker_sessionmaker(), media_storage(settings), settings, study_id)
    if outcome == proposals.WAITING:
        # Its runs are still coding: look again shortly, for as long as they take.
        raise self.retry(countdown=WAIT_FOR_RUNS_S, max_retries=None)
    return outcome


@celery_app.task(
    bind=True,
    acks_late=True,
    name=task_names.RESULTS.name,
    **RETRY_ON_LOST_DATABASE,
)  # type: ignore[untyped-decorator]
def compute_results(self: Task, study_id: int) -> str:
    return results.compute_report(worker_sessionmaker(), study_id)


@celery_app.task(
    bind=True,
    acks_late=True,
    name=task_names.SIMULATE_LABELS.name,
    **RETRY_ON_LOST_DATABASE,
)  # type: ignore[untyped-decorator]
def simulate_labels(self: Task, study_id: int) -> str:
    """Simulated raters label the study once it is open (``miscomp studies simulate``)."""
    outcome = simulation.simulate(worker_sessionmaker(), study_id)
    if outcome == simulation.WAITING:
        raise self.retry(countdown=WAIT_FOR_RUNS_S, max_retries=None)
    return outcome
