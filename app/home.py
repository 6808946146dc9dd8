"""The landing page: what each role can do from here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import text

from app.auth.dependencies import AnyUser
from app.config import PROJECT_ROOT
from app.datasets import service as dataset_service
from app.db import SessionDep
from app.domain.roles import Role
from app.web import render

router = APIRouter(tags=["home"])


@router.get("/", name="home")
def home(request: Request, user: AnyUser, session: SessionDep) -> Response:
    datasets = dataset_service.list_datasets(session) if user.role != Role.ANNOTATOR else []
    return render(request, "home.html", {"datasets": datasets})


@router.get("/healthz", name="healthz", include_in_schema=False)
def healthz(session: SessionDep) -> dict[str, str]:
    session.execute(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/favicon.ico", name="favicon", include_in_schema=False)
def favicon() -> FileResponse:
    """Browsers ask for it at this address whatever the page links to."""
    return FileResponse(
        PROJECT_ROOT / "static" / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )
