"""Published weights on the codecs page: what the catalogue offers, what is in the weights
folder, and fetches that a worker does (``download.fetch_file``, as `miscomp codecs fetch`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.codec_weights import download, task_names
from app.codec_weights.models import FETCH_ACTIVE_STATUSES, WeightsFetch
from app.config import Settings
from app.domain.codecs import catalogue
from app.domain.codecs.catalogue import CatalogueError, OperatorCatalogue, WeightsFile
from app.errors import Conflict, InvalidInput, UserError
from app.jobs import enqueue_after_commit, run_job
from app.users.models import User

QUEUES = {catalogue.COMPRESSAI: "gpu", catalogue.TFCI: "cpu"}
"""Whose workers read each publisher's files: CompressAI's weights the neural (gpu) workers,
HiFiC's metagraphs the command-line codecs (cpu), so each lands in that worker's folder."""
PROGRESS_EVERY_S = 0.5
RECENT_FETCHES = 10


def operator_catalogue(settings: Settings) -> OperatorCatalogue:
    try:
        return catalogue.load_operator_catalogue(settings.weights_catalogue)
    except CatalogueError as exc:
        raise UserError(str(exc)) from None


@dataclass(frozen=True)
class FileState:
    weights: WeightsFile
    present: bool
    """In this process's weights folder (the web's view; workers with their own folder may
    differ)."""
    fetchable: bool
    """Has a hash to check against (published or pinned)."""


@dataclass(frozen=True)
class ModelState:
    model: str
    metric: str
    publisher: str
    files: tuple[FileState, ...]

    @property
    def fetchable(self) -> tuple[FileState, ...]:
        return tuple(f for f in self.files if f.fetchable)


@dataclass(frozen=True)
class WeightsOverview:
    models: tuple[ModelState, ...]
    catalogue_error: str | None
    """Why the operator's catalogue file is unusable (nothing is fetchable then)."""


def overview(settings: Settings) -> WeightsOverview:
    operator: OperatorCatalogue | None = None
    error: str | None = None
    try:
        operator = operator_catalogue(settings)
    except UserError as exc:
        error = exc.message

    def fetchable(weights: WeightsFile) -> bool:
        return operator is not None and bool(
            operator.pins.get(weights.file_name, weights.published_sha256)
        )

    return WeightsOverview(
        tuple(
            ModelState(
                m.model,
                m.metric,
                m.files[0].publisher,
                tuple(
                    FileState(f, download.is_present(f, settings.weights_dir), fetchable(f))
                    for f in m.files
                ),
            )
            for m in catalogue.models()
        ),
        error,
    )


def request_fetch(
    session: Session, settings: Settings, *, model: str, metric: str, quality: str, actor: User
) -> WeightsFetch:
    """Queue a worker's fetch of one catalogued file (after the commit). Flushes."""
    try:
        [weights] = catalogue.select(model, metric or None, (quality,))
        operator_catalogue(settings).expected_sha256(weights)
    except CatalogueError as exc:
        raise InvalidInput(str(exc)) from None
    active = session.scalar(
        select(WeightsFetch).where(
            WeightsFetch.file_name == weights.file_name,
            WeightsFetch.status.in_(FETCH_ACTIVE_STATUSES),
        )
    )
    if active is not None:
        raise Conflict(f"{weights.file_name} is being fetched already (fetch {active.id})")
    job = WeightsFetch(file_name=weights.file_name, created_by_id=actor.id)
    session.add(job)
    session.flush()
    enqueue_after_commit(session, task_names.FETCH_WEIGHTS, job.id, queue=QUEUES[weights.publisher])
    return job


def recent_fetches(session: Session) -> list[WeightsFetch]:
    return list(
        session.scalars(select(WeightsFetch).order_by(WeightsFetch.id.desc()).limit(RECENT_FETCHES))
    )


def run_fetch(factory: sessionmaker[Session], settings: Settings, fetch_id: int) -> str:
    """The worker's step (``jobs.run_job``): download the file (resuming what an earlier
    attempt kept), with progress, and record how it ended. A lost database retries the task,
    which resumes the part file."""
    shown = 0.0

    def progress(done: int, total: int | None) -> None:
        nonlocal shown
        now = time.monotonic()
        if now - shown >= PROGRESS_EVERY_S:
            shown = now
            _set_progress(factory, fetch_id, done, total)

    def work(session: Session, job: WeightsFetch) -> dict[str, Any]:
        file_name = job.file_name
        session.commit()  # no transaction held open through a long download
        fetched = download.fetch_file(
            catalogue.by_file_name(file_name),
            settings.weights_dir,
            operator_catalogue(settings),
            progress=progress,
        )
        return {"sha256": fetched.sha256, "done_bytes": fetched.size, "total_bytes": fetched.size}

    return run_job(
        factory, WeightsFetch, fetch_id, FETCH_ACTIVE_STATUSES, work, expected=(CatalogueError,)
    )


def _set_progress(
    factory: sessionmaker[Session], fetch_id: int, done: int, total: int | None
) -> None:
    """In a session of its own, as a bookkeeping UPDATE (not audited)."""
    with factory() as session:
        session.execute(
            update(WeightsFetch)
            .where(WeightsFetch.id == fetch_id)
            .values(done_bytes=done, total_bytes=total),
            execution_options={"synchronize_session": False},
        )
        session.commit()
