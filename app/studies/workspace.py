"""Where annotators work: their studies, the next item, labels, skip.

Blinding is enforced here: an item page names panes only as the lease's pane map says
("original", "A", "B" in a blind study), images under opaque links (``media_routes``), and
nothing about the codec (name, run, parameters, file names) reaches the page, its URLs or
headers.
"""

from __future__ import annotations

import secrets
import time
from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import Select, bindparam, func, select

from app.auth.dependencies import Annotator
from app.datasets.models import Image
from app.db import SessionDep, keep
from app.domain.bounds import DbId
from app.domain.validation import validation_message
from app.errors import InvalidInput, NotFound, UserError
from app.studies import (
    assignment,
    labels,
    media_routes,
    panes,
    qualification,
    queries,
    service,
    taxonomies,
)
from app.studies.label_form import LabelFormDep
from app.studies.models import (
    Annotation,
    Assignment,
    StudyItem,
)
from app.studies.schemas import AnnotationEdit, AnnotationSubmit
from app.web import hx_redirect, is_htmx, render

router = APIRouter(tags=["annotation"])
_markdown = MarkdownIt("commonmark", {"html": False})


def render_markdown(text: str) -> Markup:
    return Markup(_markdown.render(text))  # noqa: S704 - raw HTML is disabled in the parser


@router.get("/annotate", name="annotate_queue")
def annotate_queue(request: Request, user: Annotator, session: SessionDep) -> Response:
    studies = queries.open_studies_for_people(session, user)
    mine = dict(
        session.execute(
            select(Assignment.study_id, func.count())
            .where(Assignment.user_id == user.id, Assignment.status == "done")
            .group_by(Assignment.study_id)
        ).all()
    )
    rows = [
        (
            s,
            mine.get(s.id, 0),
            service.remaining_for(session, s, user.id),
            service.progress(session, s),
        )
        for s in studies
    ]
    return render(request, "annotate/queue.html", {"rows": rows})


@router.get("/annotate/studies/{study_id}", name="annotate_study")
def annotate_study(
    request: Request, study_id: DbId, user: Annotator, session: SessionDep
) -> Response:
    """A study as its annotator sees it: instructions, their progress, Start. 404 for a
    members-only study they are not a member of, as for one that does not exist."""
    study = queries.study_for_annotator(session, study_id, user)
    done = session.scalar(
        select(func.count()).where(
            Assignment.study_id == study.id,
            Assignment.user_id == user.id,
            Assignment.status == "done",
        )
    )
    return render(
        request,
        "annotate/study.html",
        {
            "study": study,
            "mine": done or 0,
            "left": service.remaining_for(session, study, user.id),
            "instructions": render_markdown(study.instructions),
            "qualification": qualification.standing(session, study, user.id),
        },
    )


@router.post("/annotate/studies/{study_id}/next", name="annotate_next")
def annotate_next(
    request: Request, study_id: DbId, user: Annotator, session: SessionDep
) -> Response:
    """The rater's next item. From the workspace (htmx), the item's workspace is the answer,
    swapped in without a page load; from a plain form, a redirect to the item's page."""
    study = queries.get_study_for_people(session, study_id, user)
    try:
        qualification.require_passed(session, study, user)
    except qualification.QualificationPending:
        return hx_redirect(request, f"/annotate/studies/{study.id}/qualification")
    htmx = is_htmx(request)
    # In the workspace, the item after it is leased in the same transaction, and the answer
    # names its images for the browser to fetch while the rater works on this one. The page
    # is read in that transaction too: the request's session commits it before answering.
    lease, ahead = (
        assignment.next_and_ahead(session, study, user, commit=False)
        if htmx
        else (assignment.next_item(session, study, user), None)
    )
    if lease is None:
        response = render(request, "annotate/finished.html", {"study": study}, block="content")
        if htmx:
            response.headers["HX-Retarget"] = "#main"
            response.headers["HX-Reswap"] = "innerHTML"
        return response
    if htmx:
        response = _item_page(request, session, lease, ahead=ahead, ahead_answered=True)
        response.headers["HX-Push-Url"] = f"/annotate/items/{lease.id}"
        return response
    return hx_redirect(request, f"/annotate/items/{lease.id}")


def _lease(session: SessionDep, assignment_id: int, user: Annotator) -> Assignment:
    return assignment.owned_lease(session, assignment_id, user, called="item")


@router.get("/annotate/items/{assignment_id}", name="annotate_item")
def annotate_item(
    request: Request,
    assignment_id: DbId,
    user: Annotator,
    session: SessionDep,
) -> Response:
    """The item's workspace. An item the rater finished shows what they said, read-only,
    with "Revise" (browser Back to it, or its link in their history): the labels, whose
    revision goes through ``annotate_revise``; a skipped one shows that it was skipped."""
    lease = _lease(session, assignment_id, user)
    if lease.status == "skipped":
        return _item_page(request, session, lease, finished={"status": "skipped"})
    annotation = (
        session.scalar(
            select(Annotation)
            .where(Annotation.assignment_id == lease.id)
            .order_by(Annotation.id.desc())
            .limit(1)
        )
        if lease.status == "done"
        else None
    )
    if annotation is None:
        return _item_page(request, session, lease)
    return _revision_page(
        request,
        session,
        lease,
        annotation,
        finished={"status": "done", "revision": annotation.revision, "late": annotation.late},
    )


def _refusal(exc: UserError | ValidationError) -> str:
    """What the rater is told when a submission is refused."""
    if isinstance(exc, UserError):
        return exc.message
    return validation_message(exc.errors()[:1])


@router.post("/annotate/items/{assignment_id}", name="annotate_submit")
def annotate_submit(
    request: Request,
    assignment_id: DbId,
    user: Annotator,
    session: SessionDep,
    form: LabelFormDep,
) -> Response:
    lease = _lease(session, assignment_id, user)
    spent = int(time.time() * 1000) - form.shown_at_ms if form.shown_at_ms else None
    try:
        data = AnnotationSubmit(
            **form.labels(),
            time_spent_ms=spent if spent is not None and 0 <= spent <= 86_400_000 else None,
        )
        labels.submit_to(session, lease, user, data)
    except (UserError, ValidationError) as exc:
        session.rollback()
        # Nothing the rater entered is lost: the form comes back filled in, with the reason.
        return _item_page(
            request,
            session,
            lease,
            values=form.values(),
            client_id=form.client_id,
            shown_at_ms=form.shown_at_ms or None,
            error=_refusal(exc),
        )
    return annotate_next(request, lease.study_id, user, session)


@router.post("/annotate/items/{assignment_id}/ahead", name="annotate_ahead")
def annotate_ahead(
    request: Request, assignment_id: DbId, user: Annotator, session: SessionDep
) -> dict[str, list[str]]:
    """The images of the rater's next item, which is leased now (idempotent), for the
    browser to fetch while the rater works on this one. A page opened by its address asks
    for them once it is shown; the workspace's own answers name them already."""
    lease = _lease(session, assignment_id, user)
    if lease.status != "leased":
        return {"urls": []}
    study = queries.get_study_for_people(session, lease.study_id, user)
    if not qualification.passed(session, study, user):
        return {"urls": []}  # reset meanwhile: no real item until the round is passed again
    ahead = assignment.lease_ahead(session, study, user)
    if ahead is None:
        return {"urls": []}
    item = session.get(StudyItem, ahead.item_id)
    assert item is not None
    return {"urls": panes.prefetch_urls(ahead, item, media_routes.links(request, session, [item]))}


@router.post("/annotate/items/{assignment_id}/skip", name="annotate_skip")
def annotate_skip(
    request: Request, assignment_id: DbId, user: Annotator, session: SessionDep
) -> Response:
    lease = _lease(session, assignment_id, user)
    assignment.finish(session, lease.id, user, status="skipped")
    return annotate_next(request, lease.study_id, user, session)


@router.get("/annotate/studies/{study_id}/back", name="annotate_back")
def annotate_back(
    request: Request, study_id: DbId, user: Annotator, session: SessionDep
) -> Response:
    """Back to the rater's latest annotation in this study, to revise it."""
    queries.require_open_to(session, study_id, user, called=f"study {study_id}")
    latest = session.scalar(
        select(Annotation.id)
        .where(Annotation.study_id == study_id, Annotation.user_id == user.id)
        .order_by(Annotation.id.desc())
        .limit(1)
    )
    if latest is None:
        raise NotFound("you have not labelled anything in this study yet")
    return hx_redirect(request, f"/annotate/annotations/{latest}")


@router.get("/annotate/history", name="annotate_history")
def annotate_history(request: Request, user: Annotator, session: SessionDep) -> Response:
    rows = labels.history(session, user)
    names = {s.id: s.name for s in service.list_studies(session)}
    return render(
        request,
        "annotate/history.html",
        {"rows": rows, "names": names, "days": labels.EDITABLE_DAYS},
    )


def _stored_values(lease: Assignment, annotation: Annotation) -> dict[str, Any]:
    return {
        "verdict": annotation.verdict,
        "categories": annotation.categories,
        "modifiers": annotation.modifiers,
        "original_shows": annotation.original_shows,
        "compressed_shows": annotation.compressed_shows,
        "confidence": str(annotation.confidence or ""),
        "note": annotation.note,
        **labels.shown_labels(lease, annotation),
    }


@router.get("/annotate/annotations/{annotation_id}", name="annotate_revise_form")
def annotate_revise_form(
    request: Request, annotation_id: DbId, user: Annotator, session: SessionDep
) -> Response:
    annotation = labels.own_annotation(session, annotation_id, user)
    lease = _lease(session, annotation.assignment_id, user)
    return _revision_page(request, session, lease, annotation)


def _revision_page(
    request: Request,
    session: SessionDep,
    lease: Assignment,
    annotation: Annotation,
    finished: dict[str, Any] | None = None,
) -> Response:
    """The item with the rater's stored labels, to revise them (``finished``: shown
    read-only first, with a Revise button)."""
    return _item_page(
        request,
        session,
        lease,
        action=f"/annotate/annotations/{annotation.id}",
        values=_stored_values(lease, annotation),
        base_revision=annotation.revision,
        finished=finished,
    )


@router.post("/annotate/annotations/{annotation_id}", name="annotate_revise")
def annotate_revise(
    request: Request,
    annotation_id: DbId,
    user: Annotator,
    session: SessionDep,
    form: LabelFormDep,
) -> Response:
    annotation = labels.own_annotation(session, annotation_id, user)
    lease = _lease(session, annotation.assignment_id, user)
    try:
        if form.base_revision is None:
            raise InvalidInput("the revision this edit started from is missing; reload it")
        data = AnnotationEdit(**form.labels(), base_revision=form.base_revision)
        labels.revise(session, annotation_id, user, data)
    except (UserError, ValidationError) as exc:
        session.rollback()
        return _item_page(
            request,
            session,
            lease,
            action=f"/annotate/annotations/{annotation_id}",
            values=form.values(),
            base_revision=form.base_revision,
            client_id=form.client_id,
            then=form.then,
            error=_refusal(exc),
        )
    if form.then == "next" and service.get_study(session, lease.study_id).status == "open":
        return annotate_next(request, lease.study_id, user, session)
    return hx_redirect(request, "/annotate/history")


@cache
def _with_images() -> Select[StudyItem, Image]:
    """Built once: building it cost more than running it, for every page."""
    return (
        select(StudyItem, Image)
        .join(Image, Image.id == StudyItem.image_id)
        .where(StudyItem.id.in_(bindparam("items", expanding=True)))
    )


def _items_with_images(session: SessionDep, leases: list[Assignment]) -> dict[int, StudyItem]:
    """The leases' items by id, in one statement with the image each is cropped from, which
    the session keeps for ``viewer_data``."""
    rows = session.execute(_with_images(), {"items": [lease.item_id for lease in leases]})
    items = {}
    for item, image in rows:
        keep(session, image)
        items[item.id] = item
    return items


def _item_page(
    request: Request,
    session: SessionDep,
    lease: Assignment,
    *,
    action: str | None = None,
    values: dict[str, Any] | None = None,
    base_revision: int | None = None,
    client_id: str | None = None,
    shown_at_ms: int | None = None,
    finished: dict[str, Any] | None = None,
    then: str = "",
    error: str | None = None,
    ahead: Assignment | None = None,
    ahead_answered: bool = False,
) -> Response:
    """The workspace for ``lease``. ``finished``: the item is done (or skipped) and shown
    read-only until the rater chooses to revise it; ``then``: where a revision goes after.
    ``ahead_answered``: the item after it was leased with it (``ahead``, None when nothing
    is left), and the page names its images to fetch; otherwise a fresh item's page asks
    for them (``annotate_ahead``) once it is shown."""
    study = service.get_study(session, lease.study_id)
    taxonomy = taxonomies.of_study(session, study)
    loaded = _items_with_images(session, [lease] if ahead is None else [lease, ahead])
    item = loaded[lease.item_id]
    ahead_item = loaded[ahead.item_id] if ahead is not None else None
    url_of = media_routes.links(
        request, session, [item] if ahead_item is None else [item, ahead_item]
    )
    viewer = panes.viewer_data(session, study, item, lease.pane_map, url_of=url_of)
    values = values or {}
    viewer["boxes"] = values.get("boxes", [])
    viewer["read_only"] = finished is not None
    fresh = base_revision is None and lease.status == "leased"
    prefetch = None
    if fresh and ahead_answered:
        prefetch = []
        if ahead is not None and ahead_item is not None:
            prefetch = panes.prefetch_urls(ahead, ahead_item, url_of)
    return render(
        request,
        "annotate/item.html",
        {
            "lease": lease,
            "study": study,
            "size": item.size,
            "viewer": viewer,
            "compared": [p["label"] for p in viewer["panes"] if p["role"] == "compared"],
            # The next item's images, named here or asked for once this one is on screen.
            "prefetch": prefetch,
            "ahead_url": (
                f"/annotate/items/{lease.id}/ahead" if fresh and prefetch is None else None
            ),
            "taxonomy": taxonomy,
            "instructions": render_markdown(study.instructions),
            "client_id": client_id or secrets.token_urlsafe(16),
            "shown_at_ms": shown_at_ms or int(time.time() * 1000),
            # Labelling a new item, unless the page revises an annotation (``action``).
            "action": action or f"/annotate/items/{lease.id}",
            "skip_action": None if action or finished else f"/annotate/items/{lease.id}/skip",
            "values": values,
            "base_revision": base_revision,
            "progress": service.item_progress(session, study, lease),
            "finished": finished,
            "then": "next" if finished is not None else then,
            "error": error,
        },
        block="workspace",
        status_code=422 if error else 200,
    )
