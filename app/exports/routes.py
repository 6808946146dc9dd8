"""The study page's Export panel: ask for an export, watch it, download it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from app.auth.dependencies import StudyManager
from app.db import SessionDep
from app.domain.bounds import DbId
from app.domain.exports import formats
from app.errors import UserError
from app.exports import service
from app.exports.models import EXPORT_ACTIVE_STATUSES
from app.exports.records import ExportOptions
from app.studies import service as study_service
from app.studies.models import Study
from app.web import render

router = APIRouter(tags=["exports"])


def _panel(
    request: Request, session: SessionDep, study: Study, error: str | None = None
) -> Response:
    jobs = service.list_exports(session, study.id)
    return render(
        request,
        "exports/panel.html",
        {
            "study": study,
            "jobs": jobs,
            "formats": [formats.study_format(name) for name in formats.study_format_names()],
            "bundle": formats.BUNDLE.name,
            "working": any(job.status in EXPORT_ACTIVE_STATUSES for job in jobs),
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get("/studies/{study_id}/exports", name="studies_exports")
def studies_exports(
    request: Request, study_id: DbId, user: StudyManager, session: SessionDep
) -> Response:
    """The panel: the form and the study's exports, refreshed while one is being written."""
    return _panel(request, session, study_service.get_study(session, study_id))


@router.post("/studies/{study_id}/exports", name="studies_export_create")
def studies_export_create(
    request: Request,
    study_id: DbId,
    user: StudyManager,
    session: SessionDep,
    format: Annotated[str, Form(max_length=16)] = "jsonl",
    all_revisions: Annotated[bool, Form()] = False,
    names: Annotated[bool, Form()] = False,
    include_originals: Annotated[bool, Form()] = False,
) -> Response:
    study = study_service.get_study(session, study_id)
    try:
        service.request_export(
            session,
            study,
            format,
            ExportOptions(all_revisions=all_revisions, names=names),
            include_originals=include_originals,
            actor=user,
        )
    except UserError as exc:
        return _panel(request, session, study, error=exc.message)
    return _panel(request, session, study)
