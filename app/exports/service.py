"""Exporting a study (``records.py``) or a codec run (``runs.py``): records through a format
(``app.domain.exports``) into a file that appears only when it is complete, from the CLI at
once or, for a study, on a worker as a job."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.codec_runs.models import CodecRun
from app.config import Settings
from app.db import utcnow
from app.domain.exports import formats
from app.errors import InvalidInput, NotFound
from app.exports import task_names
from app.exports.models import EXPORT_ACTIVE_STATUSES, ExportJob
from app.exports.records import ExportOptions, count_records, study_records
from app.exports.runs import run_columns, run_records
from app.jobs import enqueue_after_commit
from app.studies.models import Study
from app.users.models import User

PROGRESS_COMMIT_EVERY = 5000
"""Records between two progress updates of a job (each one short transaction)."""


def export_format(name: str) -> formats.ExportFormat:
    """The registered format, or a user's error naming the known ones."""
    try:
        return formats.get(name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def run_export_format(name: str) -> formats.ExportFormat:
    """A format a codec run exports to (any but the study-only ones), or a user's error."""
    chosen = export_format(name)
    if chosen.studies_only:
        known = ", ".join(formats.names(studies=False))
        raise InvalidInput(f"the {name} format exports studies only; a run exports to: {known}")
    return chosen


def write_atomically(path: Path, write: Callable[[Path], int]) -> int:
    """``write`` fills a temporary file beside ``path``, renamed to ``path`` only once it
    returned: an interrupted export never leaves a file that looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        written = write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written


def export_study(
    session: Session,
    study: Study,
    out: Path,
    *,
    format_name: str,
    options: ExportOptions = ExportOptions(),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Writes the study's records to ``out``; returns how many."""
    chosen = export_format(format_name)

    def write(temporary: Path) -> int:
        with temporary.open("wb") as handle:
            return chosen.write(study_records(session, study, options), handle, progress)

    return write_atomically(out, write)


def export_run(
    session: Session,
    run: CodecRun,
    out: Path,
    *,
    format_name: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Writes one record per result of the run to ``out``; returns how many."""
    chosen = run_export_format(format_name)
    fields = run_columns(session, run.id).fields

    def write(temporary: Path) -> int:
        with temporary.open("wb") as handle:
            return chosen.write(run_records(session, run), handle, progress, fields)

    return write_atomically(out, write)


# Jobs: the study page and the API ask, a worker writes.


def request_export(
    session: Session, study: Study, format_name: str, options: ExportOptions, *, actor: User
) -> ExportJob:
    """Queue an export of the study (after the commit). Flushes."""
    export_format(format_name)
    job = ExportJob(
        study_id=study.id,
        format=format_name,
        all_revisions=options.all_revisions,
        names=options.names,
        created_by_id=actor.id,
    )
    session.add(job)
    session.flush()
    enqueue_after_commit(session, task_names.EXPORT_STUDY, job.id)
    return job


def list_exports(session: Session, study_id: int) -> list[ExportJob]:
    return list(
        session.scalars(
            select(ExportJob).where(ExportJob.study_id == study_id).order_by(ExportJob.id.desc())
        )
    )


def get_export(session: Session, export_id: int) -> ExportJob:
    job = session.get(ExportJob, export_id)
    if job is None:
        raise NotFound(f"export {export_id} not found")
    return job


def export_path(settings: Settings, job: ExportJob) -> Path:
    """The finished file of a job; NotFound while it has none (queued, running, failed)."""
    if job.status != "done" or not job.file_name:
        raise NotFound(f"export {job.id} has no file ({job.status})")
    path = settings.exports_dir / job.file_name
    if not path.is_file():
        raise NotFound(f"the file of export {job.id} is gone")
    return path


def file_name_for(job: ExportJob, study: Study) -> str:
    """``<job id>-<study name as a safe slug>.<suffix>``: unique, and safe on any disk."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", study.name).strip("-.")[:60] or "study"
    return f"{job.id}-{slug}{export_format(job.format).suffix}"


def run_export(factory: sessionmaker[Session], settings: Settings, export_id: int) -> str:
    """The worker's step: write the job's file, with progress, and record it. A job that is
    already done is left as it is (a task delivered twice)."""
    with factory() as session:
        session.info["actor_label"] = "worker"
        job = session.get(ExportJob, export_id)
        if job is None:
            return "missing"
        if job.status not in EXPORT_ACTIVE_STATUSES:
            return job.status
        study = session.get(Study, job.study_id)
        assert study is not None  # the job is deleted with its study
        options = ExportOptions(all_revisions=job.all_revisions, names=job.names)
        job.status, job.started_at, job.done = "running", utcnow(), 0
        job.total = count_records(session, study, options)
        total = job.total
        session.commit()
        name = file_name_for(job, study)

        def progress(done: int) -> None:
            if done % PROGRESS_COMMIT_EVERY == 0 or done == total:
                _set_progress(factory, export_id, done)

        try:
            written = export_study(
                session,
                study,
                settings.exports_dir / name,
                format_name=job.format,
                options=options,
                progress=progress,
            )
        except (OSError, ValueError) as exc:
            session.rollback()
            job = session.get(ExportJob, export_id)
            assert job is not None
            job.status, job.error, job.finished_at = "failed", str(exc), utcnow()
            session.commit()
            return job.status
        job = session.get(ExportJob, export_id)
        assert job is not None
        job.status, job.done, job.file_name = "done", written, name
        job.size_bytes = (settings.exports_dir / name).stat().st_size
        job.finished_at = utcnow()
        session.commit()
        return job.status


def _set_progress(factory: sessionmaker[Session], export_id: int, done: int) -> None:
    """In a session of its own: the export's session is busy streaming records."""
    with factory() as session:
        session.execute(
            update(ExportJob).where(ExportJob.id == export_id).values(done=done),
            execution_options={"synchronize_session": False},
        )
        session.commit()
