"""The page of an audit: the pair, the detector's score map and the difference, then each
region most likely miscompressed, its original, reconstruction and difference pixel-exact."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.auth.dependencies import StudyManager
from app.db import SessionDep
from app.detector.viewer import viewer_data
from app.domain.bounds import DbId
from app.pair_audits import service
from app.pair_audits.models import PairAudit
from app.web import paths_of, render, stored_file

router = APIRouter()
ZOOM = 4
"""How much a region's crops are enlarged on the page (an integer: pixel-exact)."""


@router.get("/audits/{audit_id}", name="pair_audit_page")
def pair_audit_page(
    request: Request, audit_id: DbId, user: StudyManager, session: SessionDep
) -> Response:
    audit = service.get_pair_audit(session, audit_id)
    context = {
        "audit": audit,
        "zoom": ZOOM,
        "run_id": service.run_of(session, audit),
        "viewer": _viewer(request, audit) if audit.status == "done" else None,
    }
    return render(request, "pair_audits/detail.html", context, block="audit")


def _viewer(request: Request, audit: PairAudit) -> dict[str, Any]:
    path_for = paths_of(request)

    def image_url(name: str) -> str:
        return path_for("pair_audit_image", audit_id=audit.id, name=name)

    return viewer_data(audit.report, image_url)


@router.get("/audits/{audit_id}/images/{name}.png", name="pair_audit_image")
def pair_audit_image(
    audit_id: DbId, name: str, user: StudyManager, session: SessionDep
) -> Response:
    """One of the audit's images (original, reconstruction, score, difference, or a region's
    crop such as ``region-1-original``), as stored."""
    audit = service.get_pair_audit(session, audit_id)
    key = service.image_key(audit, name)
    return stored_file(key, "image/png", {"Cache-Control": "private, max-age=3600"}, what="image")
