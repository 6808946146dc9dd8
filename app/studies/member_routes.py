"""Who may annotate a study: the researcher's forms on the study page (members only or every
annotator; add and remove users and groups). The rule is ``queries.open_to``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth.dependencies import StudyManager
from app.db import SessionDep
from app.domain.bounds import DbId
from app.errors import UserError
from app.studies import members, routes, service
from app.web import hx_redirect

router = APIRouter(tags=["studies"])


@router.post("/studies/{study_id}/access", name="studies_access")
def studies_access(
    request: Request,
    study_id: DbId,
    user: StudyManager,
    session: SessionDep,
    members_only: Annotated[str, Form()] = "",
) -> Response:
    """Open the study to every annotator, or to its members alone."""
    study = service.get_study(session, study_id)
    members.set_members_only(session, study, members_only == "true")
    return hx_redirect(request, f"/studies/{study.id}#access")


@router.post("/studies/{study_id}/members", name="studies_member_add")
def studies_member_add(
    request: Request,
    study_id: DbId,
    user: StudyManager,
    session: SessionDep,
    kind: Annotated[str, Form()] = "user",
    member_name: Annotated[str, Form()] = "",
) -> Response:
    """List a user or a group as a member; a refusal comes back on the page, with what was
    typed and why."""
    study = service.get_study(session, study_id)
    form = {"kind": kind, "name": member_name}
    if kind not in ("user", "group"):
        return routes.detail_page(
            request,
            session,
            study,
            member_error="choose whether a user or a group is added",
            member_form=form,
            status_code=422,
        )
    try:
        members.add_member(
            session, study, "user" if kind == "user" else "group", member_name, actor=user
        )
    except UserError as exc:
        session.rollback()
        study = service.get_study(session, study_id)
        return routes.detail_page(
            request,
            session,
            study,
            member_error=exc.message,
            member_form=form,
            status_code=exc.status_code,
        )
    return hx_redirect(request, f"/studies/{study.id}#access")


@router.post("/studies/{study_id}/members/remove", name="studies_member_remove")
def studies_member_remove(
    request: Request,
    study_id: DbId,
    user: StudyManager,
    session: SessionDep,
    member_id: Annotated[DbId, Form()],
) -> Response:
    study = service.get_study(session, study_id)
    members.remove_member(session, study, member_id)
    return hx_redirect(request, f"/studies/{study.id}#access")
