"""The codecs page (HTML, admins): what can run here, and the published weights a worker may
fetch into its weights folder, by catalogue entry only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth.dependencies import DatasetWriter
from app.codec_runs import service as run_service
from app.codec_weights import service
from app.codec_weights.models import FETCH_ACTIVE_STATUSES
from app.config import get_settings
from app.db import SessionDep
from app.errors import UserError
from app.web import render

router = APIRouter(tags=["codecs"])


def _page(
    request: Request,
    session: SessionDep,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    fetches = service.recent_fetches(session)
    return render(
        request,
        "codecs/page.html",
        {
            "codecs": run_service.codec_availability(),
            "weights": service.overview(get_settings()),
            "fetches": fetches,
            "working": any(f.status in FETCH_ACTIVE_STATUSES for f in fetches),
            "error": error,
            "form": form or {},
        },
        block="weights",
        status_code=status_code,
    )


@router.get("/codecs", name="codecs_page")
def codecs_page(request: Request, user: DatasetWriter, session: SessionDep) -> Response:
    """The page; its weights panel alone for htmx (refreshed while a fetch is under way)."""
    return _page(request, session)


@router.post("/codecs/weights", name="codecs_fetch")
def codecs_fetch(
    request: Request,
    user: DatasetWriter,
    session: SessionDep,
    model: Annotated[str, Form(max_length=64)],
    quality: Annotated[str, Form(max_length=8)],
    metric: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Queue a worker's fetch of one catalogue entry: a model, metric and quality from the
    page's fixed list; the address and the hash come from the server's catalogue."""
    try:
        service.request_fetch(
            session, get_settings(), model=model, metric=metric, quality=quality, actor=user
        )
    except UserError as exc:
        form = {"model": model, "metric": metric, "quality": quality}
        return _page(request, session, error=exc.message, form=form, status_code=exc.status_code)
    return _page(request, session)
