"""Importing images into a dataset: create an import job, then execute it file by file.

The same :func:`execute_import` runs in a Celery worker (browser and API uploads) and in the
CLI (folders and zips on disk, with a progress bar). It commits after every file so that the
progress bar in the browser moves, and it is safe to run twice for the same job (Celery's
``acks_late`` can deliver a task again): a rerun starts the report afresh and recognises the
images that the first attempt already stored.

Uploads are staged in the media storage (``app/uploads.py``), so the worker needs no folder
shared with the web: it copies them into a temporary folder of its own, and deletes them from
the storage once the import has ended, done or failed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.datasets import task_names
from app.datasets.models import IMPORT_ENDED_STATUSES, Dataset, Image, ImportFile, ImportJob
from app.db import utcnow
from app.domain import sources
from app.domain.images import ImageRejected, decode_image, thumbnail_jpeg
from app.errors import InvalidInput
from app.jobs import enqueue_after_commit
from app.storage import MediaStorage, image_key, thumbnail_key
from app.uploads import (
    StagedBatch,
    StoredUpload,
    archive_limits,
    discard_abandoned_staging,
    discard_staged,
    fetch_staged,
)
from app.users.models import User

ProgressCallback = Callable[[ImportJob], None]


def queue_upload_import(
    session: Session, dataset: Dataset, staged: StagedBatch, *, actor: User | None
) -> ImportJob:
    """The import of uploads staged in the media storage, queued for a worker. The keys come
    from ``uploads.stage_uploads`` (the server's), never from the request."""
    uploads = staged.uploads
    if not uploads:
        raise InvalidInput("no files were uploaded")
    job = ImportJob(
        dataset_id=dataset.id,
        source_kind="upload",
        source_label=", ".join(u.name for u in uploads[:5]) + (" ..." if len(uploads) > 5 else ""),
        staging_prefix=staged.prefix,
        uploads=[{"name": u.name, "key": u.key} for u in uploads],
        created_by_id=actor.id if actor else None,
    )
    session.add(job)
    session.flush()
    enqueue_after_commit(session, task_names.IMPORT, job.id)
    return job


def create_path_import(
    session: Session, dataset: Dataset, path: Path, *, actor: User | None
) -> ImportJob:
    """An import of a folder or a zip file on the server's disk (CLI and demo)."""
    if path.is_symlink():
        raise InvalidInput(f"{path}: symbolic links are refused")
    if path.is_dir():
        kind = "folder"
    elif path.is_file():
        kind = "zip" if path.suffix.lower() == ".zip" else "file"
    else:
        raise InvalidInput(f"{path}: no such file or folder")
    job = ImportJob(
        dataset_id=dataset.id,
        source_kind=kind,
        source_label=str(path.resolve()),
        created_by_id=actor.id if actor else None,
    )
    session.add(job)
    session.flush()
    return job


def _staged_uploads(job: ImportJob) -> list[StoredUpload]:
    return [StoredUpload(name=upload["name"], key=upload["key"]) for upload in job.uploads]


def _files_to_read(job: ImportJob, storage: MediaStorage, scratch: Path) -> list[tuple[Path, str]]:
    """The job's files on this machine, each with the name its report shows: the zip or file
    the CLI named, or the uploads copied from the media storage into ``scratch``."""
    if job.source_kind == "folder":
        return []
    if job.source_kind in ("zip", "file"):
        path = Path(job.source_label)
        return [(path, path.name)]
    return [
        (fetch_staged(storage, upload, scratch), upload.name) for upload in _staged_uploads(job)
    ]


def _source_items(
    job: ImportJob, files: list[tuple[Path, str]], limits: sources.Limits
) -> Iterator[sources.SourceItem]:
    if job.source_kind == "folder":
        yield from sources.iter_folder(Path(job.source_label), limits)
    for path, name in files:
        yield from sources.iter_upload(path, name, limits)


def _count_candidates(job: ImportJob, files: list[tuple[Path, str]], limits: sources.Limits) -> int:
    """A cheap first pass for the progress bar's denominator (no decoding)."""
    if job.source_kind == "folder":
        return sum(len(names) for _, _, names in os.walk(job.source_label))
    total = 0
    for path, _ in files:
        try:
            with zipfile.ZipFile(path) as archive:
                total += sum(1 for info in archive.infolist() if not info.is_dir())
        except (zipfile.BadZipFile, OSError):
            total += 1
    return min(total, limits.max_members + len(files))


def execute_import(
    factory: sessionmaker[Session],
    storage: MediaStorage,
    settings: Settings,
    import_id: int,
    *,
    actor_label: str = "worker",
    progress: ProgressCallback | None = None,
) -> ImportJob:
    limits = archive_limits(settings)
    with factory() as session, tempfile.TemporaryDirectory(prefix="miscomp-import-") as scratch:
        session.info["actor_label"] = actor_label
        job = session.get(ImportJob, import_id)
        if job is None:
            raise InvalidInput(f"import {import_id} not found")
        session.info["actor_id"] = job.created_by_id
        if job.status in IMPORT_ENDED_STATUSES:
            return job
        session.execute(delete(ImportFile).where(ImportFile.import_id == job.id))
        job.status = "running"
        job.started_at = utcnow()
        job.processed = job.n_imported = job.n_duplicate = job.n_failed = job.n_skipped = 0
        session.commit()
        try:
            files = _files_to_read(job, storage, Path(scratch))
            job.total = _count_candidates(job, files, limits)
            session.commit()
            if progress:
                progress(job)
            for position, item in enumerate(_source_items(job, files, limits)):
                record_file(session, storage, settings, job, position, item)
                job.processed += 1
                job.total = max(job.total, job.processed)
                session.commit()
                if progress:
                    progress(job)
            job.status = "done"
        except Exception as exc:
            session.rollback()
            job.status = "failed"
            job.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            job.finished_at = utcnow()
            session.commit()
            # After the commit: a worker killed before it still finds its uploads when the
            # task comes again; one killed after it leaves them to the clean-up by age.
            discard_staged(storage, [upload.key for upload in _staged_uploads(job)])
            if progress:
                progress(job)
        return job


def discard_abandoned_uploads(session: Session, storage: MediaStorage, *, now: datetime) -> int:
    """Delete staged uploads that no import will read (``uploads.discard_abandoned_staging``),
    sparing those of every import not yet ended however old; returns how many files went."""
    in_use = session.scalars(
        select(ImportJob.staging_prefix).where(
            ImportJob.staging_prefix.is_not(None), ImportJob.status.not_in(IMPORT_ENDED_STATUSES)
        )
    )
    return discard_abandoned_staging(
        storage, in_use={prefix for prefix in in_use if prefix}, now=now
    )


def record_file(
    session: Session,
    storage: MediaStorage,
    settings: Settings,
    job: ImportJob,
    position: int,
    item: sources.SourceItem,
) -> int | None:
    """Import one file of the job (or note why not), counting its outcome; returns the id of
    its image, newly stored or already in the dataset. Flushes, never commits: the caller
    decides (an import commits after each file, a study bundle's import at its end)."""
    if isinstance(item, sources.SourceSkipped):
        outcome, message, image_id = "skipped", item.reason, None
    elif isinstance(item, sources.SourceRejected):
        outcome, message, image_id = "failed", item.reason, None
    else:
        outcome, message, image_id = _import_one(session, storage, settings, job, item)
    session.add(
        ImportFile(
            import_id=job.id,
            position=position,
            name=item.name[:1000],
            outcome=outcome,
            message=message,
            image_id=image_id,
        )
    )
    counter = {
        "imported": "n_imported",
        "duplicate": "n_duplicate",
        "failed": "n_failed",
        "skipped": "n_skipped",
    }[outcome]
    setattr(job, counter, getattr(job, counter) + 1)
    return image_id


def _existing(
    session: Session,
    dataset_id: int,
    *,
    source_sha256: str | None = None,
    pixels_sha256: str | None = None,
) -> Image | None:
    query = select(Image).where(Image.dataset_id == dataset_id)
    if source_sha256 is not None:
        query = query.where(Image.source_sha256 == source_sha256)
    if pixels_sha256 is not None:
        query = query.where(Image.pixels_sha256 == pixels_sha256)
    return session.scalars(query.limit(1)).first()


def _duplicate_outcome(image: Image, job: ImportJob) -> tuple[str, str, int]:
    if image.import_id == job.id:
        return "imported", "imported (recovered after a retry)", image.id
    return "duplicate", f"already in the dataset as {image.filename!r} (image {image.id})", image.id


def _import_one(
    session: Session,
    storage: MediaStorage,
    settings: Settings,
    job: ImportJob,
    item: sources.SourceFile,
) -> tuple[str, str, int | None]:
    same_bytes = _existing(
        session, job.dataset_id, source_sha256=hashlib.sha256(item.data).hexdigest()
    )
    if same_bytes is not None:
        return _duplicate_outcome(same_bytes, job)
    try:
        decoded = decode_image(item.data, max_pixels=settings.max_image_pixels)
    except ImageRejected as exc:
        return "failed", str(exc), None
    same_pixels = _existing(session, job.dataset_id, pixels_sha256=decoded.pixels_sha256)
    if same_pixels is not None:
        return _duplicate_outcome(same_pixels, job)
    key = image_key(decoded.pixels_sha256)
    thumb = thumbnail_key(decoded.pixels_sha256, settings.thumbnail_px)
    storage.put(key, decoded.png_bytes())
    storage.put(thumb, thumbnail_jpeg(decoded.rgb, max_side=settings.thumbnail_px))
    image = Image(
        dataset_id=job.dataset_id,
        filename=item.name[:500],
        source_sha256=decoded.source_sha256,
        pixels_sha256=decoded.pixels_sha256,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        original_mode=decoded.original_mode,
        source_bytes=len(item.data),
        storage_key=key,
        thumbnail_key=thumb,
        notes=list(decoded.notes),
        import_id=job.id,
    )
    try:
        with session.begin_nested():
            session.add(image)
    except IntegrityError:
        # Another import stored the same pixels between our check and our insert.
        raced = _existing(session, job.dataset_id, pixels_sha256=decoded.pixels_sha256)
        if raced is None:
            raise
        return _duplicate_outcome(raced, job)
    message = "; ".join(decoded.notes)
    return "imported", message, image.id
