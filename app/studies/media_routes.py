"""Crop images for the workspace and researchers' pages: under links signed for one browser
session (the workspace's; served by ``app.signed_media_asgi`` before the framework, and
here when that cannot answer) and under opaque tokens checked against the database.

Blinding holds here: an image's answer is its bytes under headers that are the same for
every pane of an item (``uniform_media``), and nothing in its address names a codec.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app import signed_media
from app.auth.dependencies import AnyUser, session_secret
from app.db import SessionDep
from app.domain.roles import Role
from app.errors import NotFound
from app.studies import panes, qualification, queries
from app.studies.models import Assignment, Study, StudyAsset, StudyItem
from app.web import uniform_media

router = APIRouter(tags=["annotation"])


def links(request: Request, session: Session, items: list[StudyItem]) -> panes.UrlOf:
    """The URLs of ``items``' images, signed for this browser session: the page that names
    them is where the rater's right to them was checked."""
    return panes.session_links(
        session,
        items,
        secret_key=request.app.state.settings.secret_key,
        session_id=session_secret(request),
    )


@router.get("/media/signed/{link}.png", name="signed_asset")
def signed_asset(request: Request, link: str) -> Response:
    """A crop image under a link signed for this browser session (``signed_media``), with
    the same headers as ``study_asset``. No database: the page that named it checked the
    right to it. A link that is altered, expired or made for another session is "no such
    image", as an unknown token is."""
    key = signed_media.open_link(
        request.app.state.settings.secret_key, link, session_secret(request)
    )
    if key is None:
        raise NotFound("no such image")
    return uniform_media(key, "image/png")


@router.get("/media/assets/{token}.png", name="study_asset")
def study_asset(token: str, user: AnyUser, session: SessionDep) -> Response:
    """A crop image under its opaque token, byte for byte, under headers that are the same for
    every pane of an item (see ``uniform_media``). Annotators get only the images of items
    whose lease they hold or held, or that are questions of their qualification round;
    researchers and admins get all. The image and the right to it are one indexed statement:
    a workspace asks for four or more images per item."""
    held = exists().where(
        Assignment.item_id == StudyAsset.item_id, Assignment.user_id == user.id
    ) & exists().where(Study.id == StudyAsset.study_id, queries.open_to(user.id))
    found = session.execute(
        select(StudyAsset.storage_key, StudyAsset.study_id, StudyAsset.item_id, held).where(
            StudyAsset.token == token
        )
    ).one_or_none()
    if found is None:
        raise NotFound("no such image")
    storage_key, study_id, item_id, leased = found
    if user.role == Role.ANNOTATOR and not (
        item_id is not None
        and (leased or qualification.shows_item(session, study_id, item_id, user))
    ):
        raise NotFound("no such image")
    return uniform_media(storage_key, "image/png")
