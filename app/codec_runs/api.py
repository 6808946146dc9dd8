"""JSON API for codec runs and codecs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status

from app.auth.dependencies import DatasetReader, DatasetWriter
from app.codec_runs import service
from app.codec_runs.imports import import_uploads
from app.codec_runs.reports import run_report
from app.codec_runs.schemas import RunCreate, RunRead, RunReport
from app.db import SessionDep
from app.domain.bounds import DbId

router = APIRouter(prefix="/api", tags=["codec runs"])


def _read(session: SessionDep, run_id: int) -> RunRead:
    run = service.get_run(session, run_id)
    return RunRead.model_validate(run).model_copy(
        update={"progress": service.progress(session, run)}
    )


@router.get("/codecs")
def list_codecs(user: DatasetReader) -> list[dict[str, object]]:
    return [row.__dict__ for row in service.codec_availability()]


@router.get("/runs", response_model=list[RunRead])
def list_runs(user: DatasetReader, session: SessionDep) -> list[RunRead]:
    return [_read(session, run.id) for run in service.list_runs(session)]


@router.post("/runs", response_model=RunRead, status_code=status.HTTP_201_CREATED)
def create_run(data: RunCreate, user: DatasetWriter, session: SessionDep) -> RunRead:
    run = service.create_run(session, data, actor=user)
    return _read(session, run.id)


@router.post("/runs/import", response_model=list[RunRead], status_code=status.HTTP_201_CREATED)
def import_runs(
    user: DatasetWriter,
    session: SessionDep,
    dataset_id: Annotated[DbId, Form()],
    manifest: Annotated[UploadFile, File(description="CSV or JSON manifest")],
    archive: Annotated[UploadFile | None, File(description="zip of reconstructions")] = None,
    match_jpeg: Annotated[bool, Form()] = True,
) -> list[RunRead]:
    """Reconstructions made elsewhere: a manifest plus a zip of the files it names."""
    runs = import_uploads(
        session,
        dataset_id,
        manifest_name=manifest.filename or "manifest.csv",
        manifest=manifest.file,
        archive=archive.file if archive is not None else None,
        match_jpeg=match_jpeg,
        actor=user,
    )
    return [_read(session, run.id) for run in runs]


@router.get("/runs/{run_id}", response_model=RunReport)
def get_run(run_id: DbId, user: DatasetReader, session: SessionDep) -> RunReport:
    return run_report(session, run_id)


@router.post("/runs/{run_id}/cancel", response_model=RunRead)
def cancel_run(run_id: DbId, user: DatasetWriter, session: SessionDep) -> RunRead:
    service.cancel_run(session, run_id)
    return _read(session, run_id)


@router.post("/runs/{run_id}/retry", response_model=RunRead)
def retry_run(run_id: DbId, user: DatasetWriter, session: SessionDep) -> RunRead:
    service.retry_run(session, run_id)
    return _read(session, run_id)
