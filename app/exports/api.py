"""JSON API for exports: ask for one, follow it, download it."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from app.auth.dependencies import StudyManager
from app.db import SessionDep
from app.domain.bounds import DbId
from app.exports import service
from app.exports.models import ExportJob
from app.exports.records import ExportOptions
from app.exports.schemas import ExportCreate, ExportRead
from app.studies import service as study_service
from app.web import download_headers, stored_file

router = APIRouter(prefix="/api", tags=["exports"])


def export_read(request: Request, job: ExportJob) -> ExportRead:
    read = ExportRead.model_validate(job)
    if job.status == "done":
        url = str(request.url_for("api_export_download", export_id=job.id).path)
        read = read.model_copy(update={"download_url": url})
    return read


@router.post(
    "/studies/{study_id}/exports",
    response_model=ExportRead,
    status_code=status.HTTP_202_ACCEPTED,
    name="api_study_export_create",
)
def create_export(
    request: Request, study_id: DbId, data: ExportCreate, user: StudyManager, session: SessionDep
) -> ExportRead:
    """Queue an export of the study; follow it at ``GET /api/exports/{id}``."""
    study = study_service.get_study(session, study_id)
    options = ExportOptions(all_revisions=data.all_revisions, names=data.names)
    job = service.request_export(
        session, study, data.format, options, include_originals=data.include_originals, actor=user
    )
    return export_read(request, job)


@router.get(
    "/studies/{study_id}/exports", response_model=list[ExportRead], name="api_study_exports"
)
def list_exports(
    request: Request, study_id: DbId, user: StudyManager, session: SessionDep
) -> list[ExportRead]:
    study = study_service.get_study(session, study_id)
    return [export_read(request, job) for job in service.list_exports(session, study.id)]


@router.get("/exports/{export_id}", response_model=ExportRead, name="api_export")
def get_export(
    request: Request, export_id: DbId, user: StudyManager, session: SessionDep
) -> ExportRead:
    """The export's status and progress (``done`` of ``total`` records; a bundle's steps), and,
    once it is done, its ``download_url``."""
    return export_read(request, service.get_export(session, export_id))


@router.get("/exports/{export_id}/download", name="api_export_download")
def download_export(  # also the study page's download link, with the browser's session
    export_id: DbId, user: StudyManager, session: SessionDep
) -> Response:
    """The finished file, through this process from either storage (no presigned bucket
    URL: the link stays behind the caller's session or token; docs/object-storage.md)."""
    job = service.get_export(session, export_id)
    return stored_file(
        service.export_key_of(job),
        service.study_export_format(job.format).media_type,
        download_headers(job.file_name or ""),
        what=f"file of export {job.id}",
    )
