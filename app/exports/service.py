"""Exporting a study (``records.py``) or a codec run (``runs.py``): records through a format
(``app.domain.exports``), or a study's bundle of them all (``bundle.py``), into a file that
appears only when it is complete, from the CLI at once or, for a study, on a worker as a
job."""

from __future__ import annotations

import gc
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.codec_runs.models import CodecRun
from app.config import Settings
from app.domain.exports import formats
from app.errors import InvalidInput, NotFound
from app.exports import task_names
from app.exports.models import EXPORT_ACTIVE_STATUSES, ExportJob
from app.exports.records import ExportOptions, count_records, study_records
from app.exports.runs import run_columns, run_records
from app.jobs import enqueue_after_commit, run_job
from app.storage import MediaStorage, export_key, media_storage
from app.studies.models import Study
from app.users.models import User

PROGRESS_COMMIT_EVERY = 5000
"""Records (a bundle's steps) between two progress updates of a job (each one short
transaction)."""


def export_format(name: str) -> formats.ExportFormat:
    """The registered format, or a user's error naming the known ones."""
    try:
        return formats.get(name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def study_export_format(name: str) -> formats.StudyFormat:
    """A format a study exports to (a record format or the bundle), or a user's error naming
    the known ones."""
    try:
        return formats.study_format(name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def check_study_export(format_name: str, *, include_originals: bool) -> formats.StudyFormat:
    """The format a study export asks for, checked with its options: the full originals go
    into a bundle only."""
    chosen = study_export_format(format_name)
    if include_originals and chosen is not formats.BUNDLE:
        raise InvalidInput(
            f"the full originals go into a bundle only (format {formats.BUNDLE.name})"
        )
    return chosen


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
        with _cycle_collector_paused():
            written = write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector off while an export is written: an export allocates
    millions of short-lived containers and holds a batch of them (a Parquet row group), which
    the collector would walk again and again (a fifth of a large Parquet export's time, see
    docs/benchmarks.md), yet records make no reference cycles. On again after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


def export_steps(session: Session, study: Study, format_name: str, options: ExportOptions) -> int:
    """How far a study export's progress goes: its records, or a bundle's steps."""
    if study_export_format(format_name) is formats.BUNDLE:
        from app.exports.bundle import bundle_steps  # see write_study_export

        return bundle_steps(session, study, options)
    return count_records(session, study, options)


def write_study_export(
    session: Session,
    storage: MediaStorage,
    study: Study,
    out: Path,
    *,
    format_name: str,
    options: ExportOptions = ExportOptions(),
    include_originals: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Writes a study export of any format to ``out`` (the CLI's and the worker's one way
    in); returns how many records it holds (each record file of a bundle)."""
    chosen = check_study_export(format_name, include_originals=include_originals)
    if chosen is formats.BUNDLE:
        # Imported here: the bundle writes Parquet (pyarrow, which the web process never
        # loads), and builds on this module's ``write_atomically``.
        from app.exports.bundle import export_bundle

        return export_bundle(
            session,
            storage,
            study,
            out,
            options=options,
            include_originals=include_originals,
            progress=progress,
        )
    return export_study(
        session, study, out, format_name=format_name, options=options, progress=progress
    )


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
    session: Session,
    study: Study,
    format_name: str,
    options: ExportOptions,
    *,
    include_originals: bool = False,
    actor: User,
) -> ExportJob:
    """Queue an export of the study (after the commit). Flushes."""
    check_study_export(format_name, include_originals=include_originals)
    job = ExportJob(
        study_id=study.id,
        format=format_name,
        all_revisions=options.all_revisions,
        names=options.names,
        include_originals=include_originals,
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


def export_key_of(job: ExportJob) -> str:
    """The storage key of a job's finished file; NotFound while it has none (queued,
    running, failed)."""
    if job.status != "done" or not job.file_name:
        raise NotFound(f"export {job.id} has no file ({job.status})")
    return export_key(job.file_name)


def file_name_for(job: ExportJob, study: Study) -> str:
    """``<job id>-<study name as a safe slug>.<suffix>``: unique, and safe on any disk."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", study.name).strip("-.")[:60] or "study"
    return f"{job.id}-{slug}{study_export_format(job.format).suffix}"


def run_export(factory: sessionmaker[Session], settings: Settings, export_id: int) -> str:
    """The worker's step (``jobs.run_job``): write the job's file, with progress, and record
    it. One cut short writes its file afresh."""

    def claim(session: Session, job: ExportJob) -> None:
        job.done = 0
        job.total = export_steps(session, _study_of(session, job), job.format, _options(job))

    def work(session: Session, job: ExportJob) -> dict[str, Any]:
        study = _study_of(session, job)
        name = file_name_for(job, study)
        total, reached, committed = job.total, 0, 0

        def progress(done: int) -> None:
            nonlocal reached, committed
            reached = done
            if done - committed >= PROGRESS_COMMIT_EVERY or done == total:
                _set_progress(factory, export_id, done)
                committed = done

        storage = media_storage(settings)
        written = settings.exports_dir / name
        write_study_export(
            session,
            storage,
            study,
            written,
            format_name=job.format,
            options=_options(job),
            include_originals=job.include_originals,
            progress=progress,
        )
        size_bytes = written.stat().st_size
        storage.put_file(export_key(name), written)  # the local folder: already there
        return {"done": reached, "file_name": name, "size_bytes": size_bytes}

    return run_job(factory, ExportJob, export_id, EXPORT_ACTIVE_STATUSES, work, claim=claim)


def _options(job: ExportJob) -> ExportOptions:
    return ExportOptions(all_revisions=job.all_revisions, names=job.names)


def _study_of(session: Session, job: ExportJob) -> Study:
    study = session.get(Study, job.study_id)
    assert study is not None  # the job is deleted with its study
    return study


def _set_progress(factory: sessionmaker[Session], export_id: int, done: int) -> None:
    """In a session of its own: the export's session is busy streaming records."""
    with factory() as session:
        session.execute(
            update(ExportJob).where(ExportJob.id == export_id).values(done=done),
            execution_options={"synchronize_session": False},
        )
        session.commit()
