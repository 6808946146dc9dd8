"""JSON API for codec runs and codecs."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.auth.dependencies import DatasetReader, DatasetWriter
from app.codec_runs import service
from app.codec_runs.reports import run_report
from app.codec_runs.schemas import RunCreate, RunRead, RunReport
from app.db import SessionDep
from app.domain.codecs import registry

router = APIRouter(prefix="/api", tags=["codec runs"])


def _read(session: SessionDep, run_id: int) -> RunRead:
    run = service.get_run(session, run_id)
    return RunRead.model_validate(run).model_copy(
        update={"progress": service.progress(session, run)}
    )


@router.get("/codecs")
def list_codecs(user: DatasetReader) -> list[dict[str, object]]:
    return [registry.availability(name).__dict__ for name in registry.names()]


@router.get("/runs", response_model=list[RunRead])
def list_runs(user: DatasetReader, session: SessionDep) -> list[RunRead]:
    return [_read(session, run.id) for run in service.list_runs(session)]


@router.post("/runs", response_model=RunRead, status_code=status.HTTP_201_CREATED)
def create_run(data: RunCreate, user: DatasetWriter, session: SessionDep) -> RunRead:
    run = service.create_run(session, data, actor=user)
    return _read(session, run.id)


@router.get("/runs/{run_id}", response_model=RunReport)
def get_run(run_id: int, user: DatasetReader, session: SessionDep) -> RunReport:
    return run_report(session, run_id)


@router.post("/runs/{run_id}/cancel", response_model=RunRead)
def cancel_run(run_id: int, user: DatasetWriter, session: SessionDep) -> RunRead:
    service.cancel_run(session, run_id)
    return _read(session, run_id)


@router.post("/runs/{run_id}/retry", response_model=RunRead)
def retry_run(run_id: int, user: DatasetWriter, session: SessionDep) -> RunRead:
    service.retry_run(session, run_id)
    return _read(session, run_id)
