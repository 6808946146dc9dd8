"""JSON API for studies, the taxonomy and annotating."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.auth.dependencies import Annotator, AnyUser, StudyManager, TaxonomyEditor
from app.db import SessionDep
from app.domain import agreement
from app.domain.bounds import DbId, Page, Share
from app.studies import (
    adjudication,
    assignment,
    labels,
    members,
    qualification,
    queries,
    report_cache,
    results,
    service,
)
from app.studies.models import (
    Adjudication,
    Annotation,
    Assignment,
    Study,
    StudyItem,
    TaxonomyVersion,
)
from app.studies.schemas import (
    AdjudicationCreate,
    AnnotationEdit,
    AnnotationSubmit,
    CategoryCreate,
    StudyCreate,
    StudyRead,
)

router = APIRouter(prefix="/api", tags=["studies"])


def _read(session: SessionDep, study: Study) -> StudyRead:
    return StudyRead.model_validate(study).model_copy(
        update={"progress": service.progress(session, study)}
    )


def _taxonomy(version: TaxonomyVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "name": version.name,
        "version": version.version,
        "categories": version.categories,
        "verdicts": version.verdicts,
    }


@router.get("/studies", response_model=list[StudyRead])
def list_studies(user: StudyManager, session: SessionDep) -> list[StudyRead]:
    return [_read(session, s) for s in service.list_studies(session)]


@router.post("/studies", response_model=StudyRead, status_code=status.HTTP_201_CREATED)
def create_study(data: StudyCreate, user: StudyManager, session: SessionDep) -> StudyRead:
    study = service.create_study(session, data, actor=user)
    return _read(session, study)


@router.get("/studies/{study_id}")
def get_study(study_id: DbId, user: StudyManager, session: SessionDep) -> dict[str, Any]:
    study = service.get_study(session, study_id)
    return {
        **_read(session, study).model_dump(mode="json"),
        "raters": service.rater_progress(session, study),
        "members": [{"kind": m.kind, "name": m.name} for m in members.members(session, study)],
        "qualification": [
            {
                "username": q.username,
                "attempt": q.standing.attempt,
                "questions": q.standing.questions,
                "answered": q.standing.answered,
                "correct": q.standing.correct,
                "outcome": q.standing.outcome.value,
                "resets": q.resets,
            }
            for q in qualification.raters(session, study)
        ],
    }


@router.get("/studies/{study_id}/agreement")
def study_agreement(study_id: DbId, user: StudyManager, session: SessionDep) -> dict[str, Any]:
    """The study's agreement report: every question's statistics with bootstrap intervals
    and the notes on undefined values, once the workers have computed it for the current
    labels (``status`` and ``progress`` until then; ``stale`` while newer labels wait)."""
    study = service.get_study(session, study_id)
    row = results.request_report(session, study)
    return {
        "status": row.status,
        "label_source": study.label_source,
        "simulation": study.simulation,
        "progress": {"done": row.done, "total": row.total},
        "stale": row.fingerprint != report_cache.labels_fingerprint(session, study),
        "computed_at": row.computed_at.isoformat() if row.computed_at else None,
        "error": row.error,
        "questions": row.report.get("questions", []),
        "definitions": [agreement.SINGLE_RATINGS_NOTE],
        "raters": row.report.get("raters", []),
        "category_confusion": row.report.get("confusion"),
        "prevalence": row.report.get("prevalence", []),
        "regions": row.report.get("regions"),
    }


def _decision(decision: Adjudication | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "verdict": decision.verdict,
        "categories": decision.categories,
        "modifiers": decision.modifiers,
        "note": decision.note,
        "adjudicator_id": decision.adjudicator_id,
        "decided_at": decision.decided_at.isoformat(),
    }


@router.get("/studies/{study_id}/adjudication")
def adjudication_queue(
    study_id: DbId,
    user: StudyManager,
    session: SessionDep,
    response: Response,
    threshold: Share = adjudication.DEFAULT_THRESHOLD,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    page: Page = 1,
) -> list[dict[str, Any]]:
    """The items whose raters disagree (the least agreed first, decided ones last; page
    ``page`` of ``limit`` items, the total in the ``X-Total-Count`` header), with every
    counted rater's labels by pane name, the late ones apart (``late_ratings``: kept, never
    counted), and the decision where one was made."""
    study = service.get_study(session, study_id)
    queue = adjudication.disagreements(
        session,
        study,
        threshold=threshold,
        page=page,
        page_size=limit,
    )
    response.headers["X-Total-Count"] = str(queue.total)
    return [
        {
            "item_id": d.item.id,
            "position": d.item.position,
            "verdict_agreement": d.verdict_agreement,
            "categories_differ": d.categories_differ,
            "ratings": [_rating(r) for r in d.ratings],
            "late_ratings": [_rating(r) for r in d.late],
            "decision": _decision(d.decision),
        }
        for d in queue.entries
    ]


def _rating(rated: queries.RaterAnnotation) -> dict[str, Any]:
    """A rater's labels, panes by name (researchers are not blind)."""
    return {
        "rater": rated.rater,
        "verdict": rated.annotation.verdict,
        "categories": rated.annotation.categories,
        "modifiers": rated.annotation.modifiers,
        "seen_in": rated.annotation.seen_in,
        "boxes": rated.annotation.boxes,
        "note": rated.annotation.note,
    }


@router.put("/studies/{study_id}/adjudication/{item_id}")
def adjudicate(
    study_id: DbId,
    item_id: DbId,
    data: AdjudicationCreate,
    user: StudyManager,
    session: SessionDep,
) -> dict[str, Any] | None:
    """Record or replace an item's final label (the raters' annotations stay as they are)."""
    study = service.get_study(session, study_id)
    return _decision(adjudication.decide(session, study, item_id, data, user))


@router.get("/taxonomy")
def get_taxonomy(user: AnyUser, session: SessionDep) -> dict[str, Any]:
    """The current version of the default taxonomy (studies keep the version they began with)."""
    return _taxonomy(service.default_taxonomy(session))


@router.post("/taxonomy/categories", status_code=status.HTTP_201_CREATED)
def add_category(data: CategoryCreate, user: TaxonomyEditor, session: SessionDep) -> dict[str, Any]:
    return _taxonomy(service.add_category(session, data, actor=user))


@router.post("/studies/{study_id}/next")
def next_item(study_id: DbId, user: Annotator, session: SessionDep) -> dict[str, Any] | None:
    """The annotator's next item (or their current lease): panes by the labels they may see,
    as opaque image URLs. null when nothing is left for them; 409 in plain words while the
    study's qualification round is not passed (it is answered on the web)."""
    study = queries.get_study_for_people(session, study_id, user)
    qualification.require_passed(session, study, user)  # 409 until the round is passed
    lease = assignment.next_item(session, study, user)
    if lease is None:
        return None
    item = session.get(StudyItem, lease.item_id)
    assert item is not None
    return {
        "assignment_id": lease.id,
        "lease_expires_at": lease.lease_expires_at.isoformat(),
        "size": item.size,
        "panes": {
            label: f"/media/assets/{item.assets[pane]}.png"
            for label, pane in lease.pane_map.items()
            if pane in item.assets
        },
    }


@router.post("/assignments/{assignment_id}/annotation", status_code=status.HTTP_201_CREATED)
def submit_annotation(
    assignment_id: DbId, data: AnnotationSubmit, user: Annotator, session: SessionDep
) -> dict[str, Any]:
    annotation = labels.submit(session, assignment_id, user, data)
    return {"id": annotation.id, "client_id": annotation.client_id, "late": annotation.late}


@router.post("/assignments/{assignment_id}/skip")
def skip(assignment_id: DbId, user: Annotator, session: SessionDep) -> dict[str, Any]:
    lease = assignment.finish(session, assignment_id, user, status="skipped")
    return {"assignment_id": lease.id, "status": lease.status}


def _annotation(session: SessionDep, annotation: Annotation) -> dict[str, Any]:
    """The annotation as its rater sees it: panes named by the labels they were shown."""
    lease = session.get(Assignment, annotation.assignment_id)
    assert lease is not None
    return {
        "id": annotation.id,
        "item_id": annotation.item_id,
        "study_id": annotation.study_id,
        "verdict": annotation.verdict,
        "categories": annotation.categories,
        "modifiers": annotation.modifiers,
        "original_shows": annotation.original_shows,
        "compressed_shows": annotation.compressed_shows,
        "confidence": annotation.confidence,
        **labels.shown_labels(lease, annotation),
        "note": annotation.note,
        "revision": annotation.revision,
        "late": annotation.late,
        "created_at": annotation.created_at.isoformat(),
    }


@router.get("/annotations/mine")
def my_annotations(user: Annotator, session: SessionDep) -> list[dict[str, Any]]:
    """The rater's recent annotations, which they may still revise."""
    return [_annotation(session, a) for a in labels.recent(session, user)]


@router.put("/annotations/{annotation_id}")
def revise_annotation(
    annotation_id: DbId, data: AnnotationEdit, user: Annotator, session: SessionDep
) -> dict[str, Any]:
    return _annotation(session, labels.revise(session, annotation_id, user, data))
