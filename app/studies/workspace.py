"""Where annotators work: their studies, the next item, labels, skip; crop images by token.

Blinding is enforced here: an item page names panes only as the lease's pane map says
("original", "A", "B" in a blind study), images are served under opaque tokens, and nothing
about the codec (name, run, parameters, file names) reaches the page, its URLs or headers.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import exists, func, select

from app.auth.dependencies import Annotator, AnyUser
from app.db import SessionDep
from app.domain.roles import Role
from app.errors import InvalidInput, NotFound, UserError
from app.studies import assignment, labels, service
from app.studies.models import (
    Annotation,
    Assignment,
    Study,
    StudyAsset,
    StudyItem,
    TaxonomyVersion,
)
from app.studies.schemas import AnnotationEdit, AnnotationSubmit
from app.web import hx_redirect, media_file, render

router = APIRouter(tags=["annotation"])
_markdown = MarkdownIt("commonmark", {"html": False})
DISPLAY_SIDE = 384
"""Panes are shown at an integer magnification that brings the crop near this many pixels."""


def render_markdown(text: str) -> Markup:
    return Markup(_markdown.render(text))  # noqa: S704 - raw HTML is disabled in the parser


@router.get("/annotate", name="annotate_queue")
def annotate_queue(request: Request, user: Annotator, session: SessionDep) -> Response:
    studies = list(session.scalars(select(Study).where(Study.status == "open").order_by(Study.id)))
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


@router.post("/annotate/studies/{study_id}/next", name="annotate_next")
def annotate_next(
    request: Request, study_id: int, user: Annotator, session: SessionDep
) -> Response:
    study = service.get_study(session, study_id)
    lease = assignment.next_item(session, study, user)
    if lease is None:
        return render(request, "annotate/finished.html", {"study": study})
    return hx_redirect(request, f"/annotate/items/{lease.id}")


def _lease(session: SessionDep, assignment_id: int, user: Annotator) -> Assignment:
    lease = session.get(Assignment, assignment_id)
    if lease is None or lease.user_id != user.id:
        raise NotFound(f"item {assignment_id} not found")
    return lease


@router.get("/annotate/items/{assignment_id}", name="annotate_item")
def annotate_item(
    request: Request,
    assignment_id: int,
    user: Annotator,
    session: SessionDep,
    error: str | None = None,
) -> Response:
    lease = _lease(session, assignment_id, user)
    return _item_page(
        request,
        session,
        lease,
        action=f"/annotate/items/{lease.id}",
        skip_action=f"/annotate/items/{lease.id}/skip",
        error=error,
    )


def _item_page(
    request: Request,
    session: SessionDep,
    lease: Assignment,
    *,
    action: str,
    skip_action: str | None = None,
    values: dict[str, object] | None = None,
    base_revision: int | None = None,
    error: str | None = None,
) -> Response:
    study = service.get_study(session, lease.study_id)
    item = session.get(StudyItem, lease.item_id)
    taxonomy = session.get(TaxonomyVersion, study.taxonomy_version_id)
    assert item is not None
    assert taxonomy is not None
    captions = {} if study.blind else _unblinded_captions(session, item)
    panes = [
        {"label": label, "token": item.assets[pane], "caption": captions.get(pane, "")}
        for label, pane in lease.pane_map.items()
        if pane in item.assets
    ]
    zoom = max(1, DISPLAY_SIDE // item.size)
    return render(
        request,
        "annotate/item.html",
        {
            "lease": lease,
            "study": study,
            "size": item.size,
            "zoom": zoom,
            "panes": panes,
            "taxonomy": taxonomy,
            "instructions": render_markdown(study.instructions),
            "client_id": secrets.token_urlsafe(16),
            "shown_at_ms": int(time.time() * 1000),
            "action": action,
            "skip_action": skip_action,
            "values": values,
            "base_revision": base_revision,
            "error": error,
        },
        status_code=422 if error else 200,
    )


def _unblinded_captions(session: SessionDep, item: StudyItem) -> dict[str, str]:
    """What an unblinded study tells its annotators under each pane: codec, bpp, quality."""
    from app.codec_runs.models import CodecResult, CodecRun
    from app.domain.rd import curve_label

    result = session.get(CodecResult, item.result_id) if item.result_id else None
    run = session.get(CodecRun, result.run_id) if result else None
    if result is None or run is None or item.kind != "crop" or result.bpp is None:
        return {}
    captions = {"reconstruction": f"{curve_label(run.codec, run.params)}, {result.bpp:.3f} bpp"}
    if result.jpeg_bpp is not None:
        captions["jpeg"] = f"JPEG quality {result.jpeg_quality}, {result.jpeg_bpp:.3f} bpp"
    return captions


@router.post("/annotate/items/{assignment_id}", name="annotate_submit")
def annotate_submit(
    request: Request,
    assignment_id: int,
    user: Annotator,
    session: SessionDep,
    client_id: Annotated[str, Form()],
    verdict: Annotated[str, Form()] = "",
    categories: Annotated[list[str] | None, Form()] = None,
    modifiers: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form()] = "",
    shown_at_ms: Annotated[int, Form()] = 0,
) -> Response:
    lease = _lease(session, assignment_id, user)
    spent = int(time.time() * 1000) - shown_at_ms if shown_at_ms else None
    try:
        if not verdict:
            raise InvalidInput("choose a verdict: miscompression, no miscompression or unsure")
        data = AnnotationSubmit(
            client_id=client_id,
            verdict=verdict,
            categories=categories or [],
            modifiers=modifiers or [],
            note=note,
            time_spent_ms=spent if spent is not None and 0 <= spent <= 86_400_000 else None,
        )
        labels.submit(session, lease.id, user, data)
    except UserError as exc:
        return annotate_item(request, assignment_id, user, session, error=exc.message)
    except ValueError as exc:
        return annotate_item(request, assignment_id, user, session, error=str(exc))
    return annotate_next(request, lease.study_id, user, session)


@router.post("/annotate/items/{assignment_id}/skip", name="annotate_skip")
def annotate_skip(
    request: Request, assignment_id: int, user: Annotator, session: SessionDep
) -> Response:
    lease = _lease(session, assignment_id, user)
    assignment.finish(session, lease.id, user, status="skipped")
    return annotate_next(request, lease.study_id, user, session)


@router.get("/annotate/history", name="annotate_history")
def annotate_history(request: Request, user: Annotator, session: SessionDep) -> Response:
    rows = labels.recent(session, user)
    names = {s.id: s.name for s in service.list_studies(session)}
    return render(
        request,
        "annotate/history.html",
        {"rows": rows, "names": names, "days": labels.EDITABLE_DAYS},
    )


def _own_annotation(session: SessionDep, annotation_id: int, user: Annotator) -> Annotation:
    annotation = session.get(Annotation, annotation_id)
    if annotation is None or annotation.user_id != user.id:
        raise NotFound(f"annotation {annotation_id} not found")
    return annotation


@router.get("/annotate/annotations/{annotation_id}", name="annotate_revise_form")
def annotate_revise_form(
    request: Request,
    annotation_id: int,
    user: Annotator,
    session: SessionDep,
    error: str | None = None,
) -> Response:
    annotation = _own_annotation(session, annotation_id, user)
    lease = _lease(session, annotation.assignment_id, user)
    return _item_page(
        request,
        session,
        lease,
        action=f"/annotate/annotations/{annotation.id}",
        values={
            "verdict": annotation.verdict,
            "categories": annotation.categories,
            "modifiers": annotation.modifiers,
            "note": annotation.note,
        },
        base_revision=annotation.revision,
        error=error,
    )


@router.post("/annotate/annotations/{annotation_id}", name="annotate_revise")
def annotate_revise(
    request: Request,
    annotation_id: int,
    user: Annotator,
    session: SessionDep,
    client_id: Annotated[str, Form()],
    base_revision: Annotated[int, Form()],
    verdict: Annotated[str, Form()] = "",
    categories: Annotated[list[str] | None, Form()] = None,
    modifiers: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = AnnotationEdit(
            client_id=client_id,
            verdict=verdict,
            categories=categories or [],
            modifiers=modifiers or [],
            note=note,
            base_revision=base_revision,
        )
        labels.revise(session, annotation_id, user, data)
    except UserError as exc:
        return annotate_revise_form(request, annotation_id, user, session, error=exc.message)
    except ValueError as exc:
        return annotate_revise_form(request, annotation_id, user, session, error=str(exc))
    return hx_redirect(request, "/annotate/history")


@router.get("/media/assets/{token}.png", name="study_asset")
def study_asset(token: str, user: AnyUser, session: SessionDep) -> Response:
    """A crop image under its opaque token, byte for byte. Annotators see only the assets of
    studies they work in; researchers and admins see all."""
    asset = session.get(StudyAsset, token)
    if asset is None:
        raise NotFound("no such image")
    if user.role == Role.ANNOTATOR:
        works_here = session.scalar(
            select(
                exists().where(Assignment.study_id == asset.study_id, Assignment.user_id == user.id)
            )
        )
        if not works_here:
            raise NotFound("no such image")
    return media_file(asset.storage_key, "image/png")
