"""The audit log, for admins: a page and a JSON endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.audit import service
from app.audit.schemas import AuditPage, AuditRead
from app.auth.dependencies import AuditReader
from app.db import SessionDep
from app.domain.bounds import Offset, Page
from app.web import render

router = APIRouter(tags=["audit"])
PAGE_SIZE = 100


@router.get("/admin/audit", name="audit_list")
def audit_list(
    request: Request,
    user: AuditReader,
    session: SessionDep,
    entity_type: str | None = None,
    page: Page = 1,
) -> Response:
    total, entries = service.list_entries(
        session, entity_type=entity_type, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    return render(
        request,
        "audit/list.html",
        {
            "entries": entries,
            "total": total,
            "page": page,
            "entity_type": entity_type or "",
            "pages": max(1, -(-total // PAGE_SIZE)),
        },
    )


@router.get("/api/audit", response_model=AuditPage)
def audit_api(
    user: AuditReader,
    session: SessionDep,
    entity_type: str | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    total, entries = service.list_entries(
        session, entity_type=entity_type, offset=offset, limit=limit
    )
    return AuditPage(total=total, items=[AuditRead.model_validate(e) for e in entries])
