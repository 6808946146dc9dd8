"""JSON API of pair audits: ``POST /api/audit`` with two uploaded images (``original``,
``reconstruction``, multipart) or a run's result (``result_id``), then follow it at
``GET /api/audit/{id}``. Admins and researchers; a worker does the audit."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from app.auth.dependencies import StudyManager
from app.config import get_settings
from app.db import SessionDep
from app.domain.bounds import DB_ID, INT32_MAX, DbId
from app.errors import InvalidInput, TooLarge
from app.pair_audits import service
from app.pair_audits.models import PairAudit
from app.pair_audits.schemas import PairAuditRead

router = APIRouter(prefix="/api", tags=["audits"])


def pair_audit_read(request: Request, audit: PairAudit) -> PairAuditRead:
    read = PairAuditRead.model_validate(audit)
    page = str(request.url_for("pair_audit_page", audit_id=audit.id).path)
    return read.model_copy(update={"page_url": page})


async def _upload(value: object, what: str, limit: int) -> tuple[str, bytes] | None:
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    data = await value.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the {what} is larger than {limit:,} bytes (MISCOMP_MAX_UPLOAD_BYTES)")
    return value.filename, data


@router.post(
    "/audit",
    response_model=PairAuditRead,
    status_code=status.HTTP_202_ACCEPTED,
    name="api_audit_create",
)
async def create_audit(request: Request, user: StudyManager, session: SessionDep) -> PairAuditRead:
    """Queue an audit: a multipart form with the files ``original`` and ``reconstruction``
    (two images of one size), or with ``result_id`` (a run's finished result)."""
    form = await request.form()
    settings = get_settings()
    limit = settings.max_upload_bytes
    original = await _upload(form.get("original"), "original", limit)
    reconstruction = await _upload(form.get("reconstruction"), "reconstruction", limit)
    result_id = form.get("result_id")
    if isinstance(result_id, str) and result_id.strip():
        if original or reconstruction:
            raise InvalidInput("send either two images or a result_id, not both")
        try:
            chosen = DB_ID.validate_python(result_id.strip())
        except ValidationError:
            raise InvalidInput(f"result_id must be a whole number from 1 to {INT32_MAX}") from None
        audit = await run_in_threadpool(service.audit_result, session, chosen, actor=user)
    elif original and reconstruction:
        audit = await run_in_threadpool(
            service.audit_uploads, session, settings, original, reconstruction, actor=user
        )
    else:
        raise InvalidInput(
            "send the images to compare as the files 'original' and 'reconstruction', "
            "or a run's result as 'result_id'"
        )
    return pair_audit_read(request, audit)


@router.get("/audit/{audit_id}", response_model=PairAuditRead, name="api_audit")
def get_audit(
    request: Request, audit_id: DbId, user: StudyManager, session: SessionDep
) -> PairAuditRead:
    """The audit's status and, once it is done, its report."""
    return pair_audit_read(request, service.get_pair_audit(session, audit_id))
