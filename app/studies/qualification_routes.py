"""The qualification round's pages: the rater's questions, the feedback after each, the
result; and the researcher's reset on the study page. The rules are in ``qualification.py``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth.dependencies import Annotator, StudyManager
from app.db import SessionDep
from app.domain.bounds import DB_ID, DbId
from app.domain.qualification import Outcome
from app.errors import InvalidInput, UserError
from app.studies import panes, qualification, queries, routes, service, taxonomies
from app.studies.models import Study
from app.studies.workspace import render_markdown
from app.users.models import User
from app.web import hx_redirect, render

router = APIRouter(tags=["annotation"])


def _page(
    request: Request,
    session: SessionDep,
    study: Study,
    user: User,
    *,
    number: int | None = None,
    feedback: qualification.Feedback | None = None,
    error: str | None = None,
) -> Response:
    """The round as the rater stands in it: question ``number`` (with its feedback once
    answered), or the result when the round is decided."""
    standing = qualification.standing(session, study, user.id)
    taxonomy = taxonomies.of_study(session, study)
    context: dict[str, Any] = {
        "study": study,
        "standing": standing,
        "verdicts": {v["key"]: v for v in taxonomy.verdicts},
        "instructions": render_markdown(study.instructions),
        "feedback": feedback,
        "error": error,
        "question": None,
        "viewer": None,
    }
    if number is not None:
        asked = qualification.question(session, study, user, number)
        viewer = panes.viewer_data(session, study, asked.item, asked.pane_map)
        viewer["boxes"] = []
        viewer["read_only"] = True
        context |= {"question": asked, "viewer": viewer}
    return render(
        request, "annotate/qualification.html", context, status_code=422 if error else 200
    )


@router.get("/annotate/studies/{study_id}/qualification", name="annotate_qualification")
def annotate_qualification(
    request: Request,
    study_id: DbId,
    user: Annotator,
    session: SessionDep,
    answered: DbId | None = None,
) -> Response:
    """The rater's next question; with ``answered``, what they were told about that one."""
    study = queries.study_for_annotator(session, study_id, user)
    standing = qualification.standing(session, study, user.id)
    if standing.outcome == Outcome.NONE:
        return hx_redirect(request, f"/annotate/studies/{study.id}")
    if answered is not None:
        feedback = qualification.feedback(session, study, user, answered)
        return _page(request, session, study, user, number=answered, feedback=feedback)
    current = qualification.current_question(session, study, user)
    return _page(request, session, study, user, number=current.number if current else None)


@router.post("/annotate/studies/{study_id}/qualification", name="annotate_qualification_answer")
def annotate_qualification_answer(
    request: Request,
    study_id: DbId,
    user: Annotator,
    session: SessionDep,
    number: Annotated[str, Form()] = "",
    verdict: Annotated[str, Form()] = "",
) -> Response:
    """Record the answer, then show its feedback (a redirect, so that a reload asks nothing
    twice); a refusal shows the question again with the reason."""
    study = queries.get_study_for_people(session, study_id, user)
    current = qualification.current_question(session, study, user)
    try:
        try:
            asked = DB_ID.validate_python(number)
        except ValueError:
            raise InvalidInput("the question's number is missing; reload the page") from None
        qualification.answer(session, study, user, asked, verdict)
    except UserError as exc:
        session.rollback()
        study = service.get_study(session, study_id)
        return _page(
            request,
            session,
            study,
            user,
            number=current.number if current else None,
            error=exc.message,
        )
    return hx_redirect(request, f"/annotate/studies/{study.id}/qualification?answered={asked}")


@router.post("/studies/{study_id}/qualification/reset", name="studies_qualification_reset")
def studies_qualification_reset(
    request: Request,
    study_id: DbId,
    user: StudyManager,
    session: SessionDep,
    user_id: Annotated[str, Form()] = "",
) -> Response:
    """Let an annotator take the qualification round again (a new draw); their earlier
    answers are kept, marked reset."""
    study = service.get_study(session, study_id)
    try:
        try:
            rater = DB_ID.validate_python(user_id)
        except ValueError:
            raise InvalidInput("choose whose qualification round to reset") from None
        qualification.reset(session, study, rater)
    except UserError as exc:
        session.rollback()
        return routes.detail_page(
            request,
            session,
            service.get_study(session, study_id),
            qualification_error=exc.message,
            status_code=exc.status_code,
        )
    return hx_redirect(request, f"/studies/{study.id}#qualification")
