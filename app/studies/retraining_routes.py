"""The results page's detector panel: retrain the detector on the study's labels (a job a
worker runs), watch it, read its precision at k before and after, download the weights."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from app.auth.dependencies import StudyManager
from app.db import SessionDep
from app.detector import records, retraining
from app.domain.bounds import DbId
from app.domain.validation import validation_message
from app.errors import NotFound, UserError
from app.studies import service
from app.studies.models import Study
from app.web import download_headers, render, stored_file

router = APIRouter(tags=["studies"])

DEFAULT_STEPS = 300
"""About two minutes on two CPU cores for crops of 64 to 128 pixels."""


class RetrainForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(ge=10, le=5000)


def panel_context(
    session: Session, study: Study, error: str | None = None, steps: str = str(DEFAULT_STEPS)
) -> dict[str, Any]:
    """What the panel shows (the results page includes it)."""
    rows = records.retrainings(session, study.id)
    return {
        "study": study,
        "retrainings": rows,
        "precision_ks": records.PRECISION_KS,
        "working": any(r.status in records.RETRAINING_ACTIVE_STATUSES for r in rows),
        "retrain_error": error,
        "retrain_steps": steps,
    }


def panel(
    request: Request,
    session: SessionDep,
    study: Study,
    error: str | None = None,
    *,
    steps: str = str(DEFAULT_STEPS),
) -> Response:
    return render(
        request,
        "studies/retraining_panel.html",
        panel_context(session, study, error, steps),
        status_code=422 if error else 200,
    )


@router.get("/studies/{study_id}/detector", name="studies_detector")
def studies_detector(
    request: Request, study_id: DbId, user: StudyManager, session: SessionDep
) -> Response:
    """The panel: the form and the study's retrainings, refreshed while one runs."""
    return panel(request, session, service.get_study(session, study_id))


@router.post("/studies/{study_id}/detector", name="studies_detector_retrain")
def studies_detector_retrain(
    request: Request,
    study_id: DbId,
    user: StudyManager,
    session: SessionDep,
    # An emptied field arrives as the default: "", so that it is refused, not taken as 300.
    steps: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Queue a retraining of the configured detector on the study's labels; a refusal comes
    back in the panel with its reason, the steps typed kept."""
    study = service.get_study(session, study_id)
    try:
        form = RetrainForm.model_validate({"steps": steps.strip()})
        retraining.request_retraining(session, study, form.steps, user)
    except ValidationError as exc:
        return panel(request, session, study, validation_message(exc.errors()), steps=steps)
    except UserError as exc:
        session.rollback()
        return panel(request, session, study, exc.message, steps=steps)
    return panel(request, session, study)


@router.get(
    "/studies/{study_id}/detector/{retraining_id}/weights.pt", name="studies_detector_weights"
)
def studies_detector_weights(
    study_id: DbId, retraining_id: DbId, user: StudyManager, session: SessionDep
) -> Response:
    """The retrained detector's weights (with its model card), for the operator to configure
    (``MISCOMP_DETECTOR_WEIGHTS``)."""
    study = service.get_study(session, study_id)
    row = session.get(records.DetectorRetraining, retraining_id)
    if row is None or row.study_id != study.id or row.weights_key is None:
        raise NotFound(
            f"study {study.name!r} has no retrained detector {retraining_id} to download"
        )
    return stored_file(
        row.weights_key,
        "application/octet-stream",
        download_headers(f"{row.model_name or 'miscomp-detector'}.pt"),
        what=f"weights of retraining {row.id}",
    )
