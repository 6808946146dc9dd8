"""JSON API for codec runs and codecs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status

from app.auth.dependencies import DatasetReader, DatasetWriter
from app.codec_runs import service, sweeps
from app.codec_runs.imports import import_uploads
from app.codec_runs.models import CodecSweep
from app.codec_runs.reports import rd_report, run_report
from app.codec_runs.schemas import (
    RdReport,
    RunCreate,
    RunRead,
    RunReport,
    SweepCreate,
    SweepRead,
)
from app.datasets import service as dataset_service
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


def _sweep_read(session: SessionDep, sweep: CodecSweep) -> SweepRead:
    runs = sorted(service.list_runs(session, sweep_id=sweep.id), key=lambda run: run.id)
    return SweepRead.model_validate(sweep).model_copy(
        update={"runs": [_read(session, run.id) for run in runs]}
    )


@router.post("/sweeps", response_model=SweepRead, status_code=status.HTTP_201_CREATED)
def create_sweep(data: SweepCreate, user: DatasetWriter, session: SessionDep) -> SweepRead:
    """One run per value of a parameter (``"values": "ladder"`` for the codec's ladder);
    nothing is queued unless every value is valid."""
    sweep, _ = sweeps.create_sweep(session, data, actor=user)
    return _sweep_read(session, sweep)


@router.get("/sweeps/{sweep_id}", response_model=SweepRead)
def get_sweep(sweep_id: DbId, user: DatasetReader, session: SessionDep) -> SweepRead:
    return _sweep_read(session, sweeps.get_sweep(session, sweep_id))


@router.get("/datasets/{dataset_id}/rd", response_model=RdReport)
def dataset_rd(dataset_id: DbId, user: DatasetReader, session: SessionDep) -> RdReport:
    """The dataset's rate-distortion curves and each curve's BD-rate and BD-PSNR against
    the JPEG anchor."""
    dataset_service.get_dataset(session, dataset_id)
    return rd_report(session, dataset_id)


@router.get("/images/{image_id}/rd", response_model=RdReport)
def image_rd(image_id: DbId, user: DatasetReader, session: SessionDep) -> RdReport:
    """One image's curves across the runs that coded it, with their BD figures."""
    image = dataset_service.get_image(session, image_id)
    return rd_report(session, image.dataset_id, image_id=image_id)
