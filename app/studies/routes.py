"""Study pages for researchers and admins: create, follow live, read the proposal report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select

from app.auth.dependencies import StudyManager
from app.codec_runs import service as run_service
from app.codec_runs.models import CodecResult, CodecRun
from app.config import get_settings
from app.datasets.models import Dataset
from app.db import SessionDep
from app.domain import agreement
from app.domain import panes as pane_names
from app.domain.bounds import DbId, Page
from app.domain.crops import DEFAULT_SIZES
from app.domain.validation import validation_message
from app.errors import NotFound, UserError
from app.storage import media_storage
from app.studies import (
    gallery,
    members,
    qualification,
    report_figures,
    results,
    retraining_routes,
    service,
    taxonomies,
)
from app.studies.methods import registry as method_registry
from app.studies.models import Study, StudyItem, TaxonomyVersion
from app.studies.schemas import (
    StudyCreate,
    StudyForm,
)
from app.web import figure_format, figure_response, hx_redirect, render

router = APIRouter(tags=["studies"])
PANES = pane_names.ALL


@dataclass(frozen=True)
class RunChoice:
    """A run the study form offers: its dataset, finished results and distinct crops."""

    run: CodecRun
    dataset: str
    results: int
    crops: dict[int, int]
    """Distinct crop positions of the finished results, per crop size of the form."""


def _runs_with_results(session: SessionDep) -> list[RunChoice]:
    done = dict(
        session.execute(
            select(CodecResult.run_id, func.count())
            .where(CodecResult.status == "done")
            .group_by(CodecResult.run_id)
        ).all()
    )
    runs = [run for run in run_service.list_runs(session) if done.get(run.id)]
    datasets = dict(
        session.execute(
            select(Dataset.id, Dataset.name).where(Dataset.id.in_({r.dataset_id for r in runs}))
        ).all()
    )
    positions = service.crop_positions(session, [r.id for r in runs], list(DEFAULT_SIZES))
    return [
        RunChoice(run, datasets[run.dataset_id], done[run.id], positions[run.id]) for run in runs
    ]


def _form_page(
    request: Request,
    session: SessionDep,
    form: dict[str, Any],
    *,
    error: str | None = None,
    status_code: int = 200,
    block: str | None = None,
) -> Response:
    return render(
        request,
        "studies/new.html",
        {
            "runs": _runs_with_results(session),
            "sizes": DEFAULT_SIZES,
            "methods": method_registry.methods(),
            "panes": PANES,
            "taxonomies": [row.version for row in taxonomies.list_versions(session)],
            "form": form,
            "error": error,
        },
        status_code=status_code,
        block=block,
    )


@router.get("/studies", name="studies_list")
def studies_list(request: Request, user: StudyManager, session: SessionDep) -> Response:
    studies = [(s, service.progress(session, s)) for s in service.list_studies(session)]
    return render(request, "studies/list.html", {"studies": studies})


def _new_form(taxonomy_version: TaxonomyVersion) -> dict[str, Any]:
    """The form of a new study: the defaults, with instructions that start from the chosen
    taxonomy version's definitions."""
    defaults = StudyCreate(name="-", run_ids=[1])  # only for the defaults of the form
    return {
        **defaults.model_dump(exclude={"items"}),
        "instructions": taxonomies.instructions(taxonomy_version),
        "taxonomy_version_id": taxonomy_version.id,
        # Not "items": a template's form.items would be the dict's method, not the number.
        "items_target": defaults.items,
        "name": "",
        "run_ids": [],
        "quota_guided": 60,
        "quota_random": 30,
        "quota_control": 10,
        "lease_min": 15,
        "qualification_pass": round(defaults.qualification_pass * 100),
    }


@router.get("/studies/new", name="studies_new")
def studies_new(request: Request, user: StudyManager, session: SessionDep) -> Response:
    return _form_page(request, session, _new_form(service.default_taxonomy(session)))


@router.get("/studies/new/instructions", name="studies_new_instructions")
def studies_new_instructions(
    request: Request, user: StudyManager, session: SessionDep, taxonomy_version_id: DbId
) -> Response:
    """The instructions field, written anew from another taxonomy version's definitions
    (htmx swaps it in when the form's taxonomy changes)."""
    version = taxonomies.get_version(session, taxonomy_version_id)
    return _form_page(request, session, _new_form(version), block="instructions")


def _ints_where_possible(values: list[str]) -> list[int | str]:
    """Checkbox values as the form's options compare them (ints), the rest as sent."""
    return [int(v) if v.isascii() and v.isdigit() and len(v) < 10 else v for v in values]


@router.post("/studies", name="studies_create")
def studies_create(
    request: Request,
    user: StudyManager,
    session: SessionDep,
    name: Annotated[str, Form()],
    # Numbers arrive as the text typed: StudyForm and StudyCreate check them, so that a
    # refused value comes back in the form, with everything else entered, and its reason.
    run_ids: Annotated[list[str] | None, Form()] = None,
    versus_run_id: Annotated[str, Form()] = "",
    instructions: Annotated[str, Form()] = "",
    crop_sizes: Annotated[list[str] | None, Form()] = None,
    methods: Annotated[list[str] | None, Form()] = None,
    # An empty field arrives as the default: "" so that an emptied Items is refused, not 300.
    items: Annotated[str, Form()] = "",
    quota_guided: Annotated[str, Form()] = "60",
    quota_random: Annotated[str, Form()] = "30",
    quota_control: Annotated[str, Form()] = "10",
    planted_controls: Annotated[bool, Form()] = False,
    raters_per_item: Annotated[str, Form()] = "3",
    per_rater_cap: Annotated[str, Form()] = "",
    lease_min: Annotated[str, Form()] = "15",
    blind: Annotated[bool, Form()] = False,
    panes: Annotated[list[str] | None, Form()] = None,
    seed: Annotated[str, Form()] = "0",
    region_iou: Annotated[str, Form()] = "0.5",
    taxonomy_version_id: Annotated[str, Form()] = "",
    qualification_items: Annotated[str, Form()] = "0",
    qualification_pass: Annotated[str, Form()] = "80",
) -> Response:
    form: dict[str, Any] = {
        "name": name,
        "taxonomy_version_id": _ints_where_possible([taxonomy_version_id])[0],
        "run_ids": _ints_where_possible(run_ids or []),
        "versus_run_id": _ints_where_possible([versus_run_id])[0],
        "instructions": instructions,
        "crop_sizes": _ints_where_possible(crop_sizes or []),
        "methods": methods or [],
        "items_target": items,
        "quota_guided": quota_guided,
        "quota_random": quota_random,
        "quota_control": quota_control,
        "planted_controls": planted_controls,
        "raters_per_item": raters_per_item,
        "per_rater_cap": per_rater_cap,
        "lease_min": lease_min,
        "blind": blind,
        "panes": panes or [],
        "seed": seed,
        "region_iou": region_iou,
        "qualification_items": qualification_items,
        "qualification_pass": qualification_pass,
    }
    try:
        numbers = StudyForm.model_validate(
            {
                "items": items,
                "quota_guided": quota_guided,
                "quota_random": quota_random,
                "quota_control": quota_control,
                "per_rater_cap": per_rater_cap,
                "lease_min": lease_min,
                "qualification_pass": qualification_pass,
            }
        )
        data = StudyCreate.model_validate(
            {
                "name": name.strip(),
                "run_ids": run_ids or [],
                "versus_run_id": versus_run_id.strip() or None,
                "instructions": instructions,
                "crop_sizes": crop_sizes or [],
                "methods": methods or [],
                **numbers.study_fields(),
                "planted_controls": planted_controls,
                "raters_per_item": raters_per_item,
                "blind": blind,
                "panes": panes or [],
                "seed": seed,
                "region_iou": region_iou,
                "qualification_items": qualification_items.strip() or 0,
                "taxonomy_version_id": taxonomy_version_id.strip() or None,
            }
        )
        study = service.create_study(session, data, actor=user)
    except ValidationError as exc:
        return _form_page(
            request, session, form, error=validation_message(exc.errors()), status_code=422
        )
    except ValueError as exc:
        return _form_page(request, session, form, error=str(exc), status_code=422)
    except UserError as exc:
        return _form_page(request, session, form, error=exc.message, status_code=exc.status_code)
    return hx_redirect(request, f"/studies/{study.id}")


@router.get("/studies/{study_id}", name="studies_detail")
def studies_detail(
    request: Request, study_id: DbId, user: StudyManager, session: SessionDep
) -> Response:
    return detail_page(request, session, service.get_study(session, study_id))


def detail_page(
    request: Request,
    session: SessionDep,
    study: Study,
    *,
    member_error: str | None = None,
    member_form: dict[str, str] | None = None,
    qualification_error: str | None = None,
    status_code: int = 200,
) -> Response:
    items = list(
        session.scalars(
            select(StudyItem)
            .where(StudyItem.study_id == study.id)
            .order_by(StudyItem.position)
            .limit(200)
        )
    )
    return render(
        request,
        "studies/detail.html",
        {
            "study": study,
            "progress": service.progress(session, study),
            "raters": service.rater_progress(session, study),
            "items": items,
            "default_panes": pane_names.DEFAULT,
            "members": members.members(session, study),
            "qualification": qualification.raters(session, study)
            if study.qualification_items
            else [],
            "member_error": member_error,
            "member_form": member_form or {"kind": "user", "name": ""},
            "qualification_error": qualification_error,
        },
        block="study_status",
        status_code=status_code,
    )


@router.get("/studies/{study_id}/results", name="studies_results")
def studies_results(
    request: Request, study_id: DbId, user: StudyManager, session: SessionDep
) -> Response:
    """Agreement per question with 95 % intervals. Computed on a worker (progress shown,
    polled while it runs) and kept until new labels arrive."""
    study = service.get_study(session, study_id)
    result = results.request_report(session, study)
    return render(
        request,
        "studies/results.html",
        {
            "study": study,
            "result": result,
            "statistics": results.STATISTICS,
            "definitions": [agreement.SINGLE_RATINGS_NOTE],
            "prevalence_groups": results.prevalence_groups(result.report),
            **retraining_routes.panel_context(session, study),
        },
        block="results",
    )


@router.get("/studies/{study_id}/results/prevalence.{fmt}", name="studies_prevalence_plot")
def studies_prevalence_plot(
    study_id: DbId,
    fmt: str,
    user: StudyManager,
    session: SessionDep,
    outcome: str = "miscompression",
) -> Response:
    """Prevalence against bpp, one line per codec, from the last computed report."""
    chosen = figure_format(fmt)
    study = service.get_study(session, study_id)
    report = results.request_report(session, study).report
    if outcome not in report.get("outcomes", ["miscompression"]):
        raise NotFound(f"no outcome {outcome!r} in this study")
    body = report_figures.prevalence_figure(
        report, outcome, title=f"{study.name}: random crops", fmt=chosen
    )
    return figure_response(body, chosen, f"{study.name}-prevalence.{fmt}")


GALLERY_PAGE = 50
"""Panels per page of the gallery, in item order."""


@router.get("/studies/{study_id}/gallery", name="studies_gallery")
def studies_gallery(
    request: Request, study_id: DbId, user: StudyManager, session: SessionDep, page: Page = 1
) -> Response:
    """The confirmed miscompressions as figure panels for papers (PNG and PDF)."""
    study = service.get_study(session, study_id)
    pager, entries = gallery.confirmed(
        session,
        study,
        page=page,
        page_size=GALLERY_PAGE,
    )
    return render(
        request,
        "studies/gallery.html",
        {"study": study, "entries": entries, "pager": pager},
    )


@router.get("/studies/{study_id}/gallery/{item_id}.{fmt}", name="studies_gallery_panel")
def studies_gallery_panel(
    study_id: DbId, item_id: DbId, fmt: str, user: StudyManager, session: SessionDep
) -> Response:
    chosen = figure_format(fmt)
    study = service.get_study(session, study_id)
    found = gallery.confirmed(session, study, item_id=item_id)[1]
    entry = found[0] if found else None
    if entry is None:
        raise NotFound(f"item {item_id} is not a confirmed miscompression of {study.name!r}")
    storage = media_storage(get_settings())
    body = gallery.panel(session, storage, study, entry, chosen)
    return figure_response(body, chosen, f"{study.name}-item-{entry.item.position}.{fmt}")


@router.get("/studies/{study_id}/results/agreement.{fmt}", name="studies_agreement_plot")
def studies_agreement_plot(
    study_id: DbId, fmt: str, user: StudyManager, session: SessionDep
) -> Response:
    """Agreement per question (alpha, Fleiss' kappa, AC1) with their intervals."""
    chosen = figure_format(fmt)
    study = service.get_study(session, study_id)
    report = results.request_report(session, study).report
    body = report_figures.agreement_figure(
        report, title=f"{study.name}: agreement per question", fmt=chosen
    )
    return figure_response(body, chosen, f"{study.name}-agreement.{fmt}")
