"""The adjudication pages: the queue of items the raters disagree on, and one item's
labels with every rater's boxes, where a researcher records the final label."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.auth.dependencies import StudyManager
from app.db import SessionDep
from app.domain import panes as pane_names
from app.domain.bounds import DbId, Page, Share
from app.errors import NotFound, UserError
from app.studies import adjudication, panes, service, taxonomies
from app.studies.schemas import AdjudicationCreate
from app.web import hx_redirect, render

router = APIRouter(tags=["studies"])

ADJUDICATION_PAGE = 200
"""Items per page of the adjudication queue."""
ADJUDICATION_PANES = {pane: pane for pane in pane_names.ALL if pane != pane_names.DIFFERENCE}
"""Researchers see panes by their names: adjudication is not blind."""


@router.get("/studies/{study_id}/adjudication", name="studies_adjudication")
def studies_adjudication(
    request: Request,
    study_id: DbId,
    user: StudyManager,
    session: SessionDep,
    threshold: Share = adjudication.DEFAULT_THRESHOLD,
    page: Page = 1,
) -> Response:
    """The items the raters disagree on, the least agreed first, decided ones last, a page
    at a time."""
    study = service.get_study(session, study_id)
    queue = adjudication.disagreements(
        session,
        study,
        threshold=threshold,
        page=page,
        page_size=ADJUDICATION_PAGE,
    )
    return render(
        request,
        "studies/adjudication.html",
        {
            "study": study,
            "queue": queue.entries,
            "total": queue.total,
            "decided": queue.decided,
            "threshold": threshold,
            "pager": queue.pager,
            "pager_query": f"threshold={threshold}&",
        },
    )


@router.get("/studies/{study_id}/adjudication/{item_id}", name="studies_adjudicate_item")
def studies_adjudicate_item(
    request: Request,
    study_id: DbId,
    item_id: DbId,
    user: StudyManager,
    session: SessionDep,
    error: str | None = None,
) -> Response:
    study = service.get_study(session, study_id)
    found = adjudication.disagreements(session, study, item_id=item_id).entries
    entry = found[0] if found else None
    if entry is None:
        raise NotFound(f"item {item_id} has no disagreement to adjudicate in {study.name!r}")
    viewer = panes.viewer_data(session, study, entry.item, ADJUDICATION_PANES, reveal=True)
    # Every rater's boxes on every pane, named by the pane they were drawn on.
    viewer["boxes"] = [
        {**box, "rater": r.rater} for r in entry.ratings for box in r.annotation.boxes
    ]
    viewer["read_only"] = True
    taxonomy = taxonomies.of_study(session, study)
    return render(
        request,
        "studies/adjudicate_item.html",
        {"study": study, "entry": entry, "viewer": viewer, "taxonomy": taxonomy, "error": error},
        status_code=422 if error else 200,
    )


@router.post("/studies/{study_id}/adjudication/{item_id}", name="studies_adjudicate")
def studies_adjudicate(
    request: Request,
    study_id: DbId,
    item_id: DbId,
    user: StudyManager,
    session: SessionDep,
    verdict: Annotated[str, Form()] = "",
    categories: Annotated[list[str] | None, Form()] = None,
    modifiers: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form()] = "",
) -> Response:
    study = service.get_study(session, study_id)
    try:
        data = AdjudicationCreate(
            verdict=verdict, categories=categories or [], modifiers=modifiers or [], note=note
        )
        adjudication.decide(session, study, item_id, data, user)
    except (UserError, ValidationError) as exc:
        session.rollback()
        message = exc.message if isinstance(exc, UserError) else "choose a verdict"
        return studies_adjudicate_item(request, study_id, item_id, user, session, error=message)
    return hx_redirect(request, f"/studies/{study.id}/adjudication")
