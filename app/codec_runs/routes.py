"""Codec run pages (HTML): create, follow live, cancel, retry; result images."""

from __future__ import annotations

import functools
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile as StarletteUploadFile

from app.auth.dependencies import DatasetReader, DatasetWriter
from app.codec_runs import service, sweeps
from app.codec_runs.imports import import_uploads
from app.codec_runs.models import CodecResult
from app.codec_runs.schemas import ALL_MAPS, RunCreate, SweepCreate
from app.codec_runs.viewer import viewer_data as result_viewer_data
from app.config import get_settings
from app.datasets import service as dataset_service
from app.db import SessionDep
from app.domain import rd, result_order
from app.domain.bounds import DB_ID, DbId, parse_json
from app.domain.codecs import parameters as codec_parameters
from app.domain.codecs import registry
from app.domain.result_order import ResultOrder, parse_order
from app.domain.sweeps import parse_values
from app.domain.validation import validation_message
from app.errors import InvalidInput, NotFound, UserError
from app.web import figure_format, figure_response, hx_redirect, media_file, paths_of, render

router = APIRouter(tags=["codec runs"])
RESULT_FILES = {"reconstruction": "recon_key", "jpeg": "jpeg_key"}
MAP_FILES = ("difference", "ssim", "ciede2000")


def _form_page(
    request: Request,
    session: SessionDep,
    *,
    form: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "runs/new.html",
        {
            "datasets": dataset_service.list_datasets(session),
            "codecs": service.codec_availability(),
            "parameters": service.codec_parameters(),
            "maps": ALL_MAPS,
            "form": form,
            "error": error,
        },
        status_code=status_code,
    )


CODEC_FIELD_PREFIX = "p."
"""The generated form's fields are named ``p.CODEC.PARAMETER``: each codec's own, so that
the fields of codecs not chosen (all shown without JavaScript) never mix in."""


async def _codec_fields(request: Request) -> dict[str, dict[str, str]]:
    """The generated parameter fields as typed, by codec (the form is parsed once; FastAPI
    keeps it for the route's own Form parameters)."""
    typed: dict[str, dict[str, str]] = {}
    for key, value in (await request.form()).multi_items():
        if key.startswith(CODEC_FIELD_PREFIX) and isinstance(value, str):
            codec, _, name = key.removeprefix(CODEC_FIELD_PREFIX).partition(".")
            typed.setdefault(codec, {})[name] = value
    return typed


CodecFields = Annotated[dict[str, dict[str, str]], Depends(_codec_fields)]


@router.get("/runs", name="runs_list")
def runs_list(
    request: Request, user: DatasetReader, session: SessionDep, sweep: DbId | None = None
) -> Response:
    """Every run, newest first; ``?sweep=`` shows the runs of one sweep."""
    chosen = sweeps.get_sweep(session, sweep) if sweep is not None else None
    listed = service.list_runs(session, sweep_id=sweep)
    return render(
        request,
        "runs/list.html",
        {
            "runs": [(run, service.progress(session, run)) for run in listed],
            "sweeps": sweeps.sweeps_by_id(session, listed),
            "sweep": chosen,
            "sweep_dataset": (
                dataset_service.get_dataset(session, chosen.dataset_id) if chosen else None
            ),
        },
    )


@router.get("/runs/new", name="runs_new")
def runs_new(request: Request, user: DatasetWriter, session: SessionDep) -> Response:
    return _form_page(
        request,
        session,
        form={"params": "{}", "seeds": "0", "maps": ALL_MAPS, "sweep_param": "quality"},
    )


@router.post("/runs", name="runs_create")
def runs_create(
    request: Request,
    user: DatasetWriter,
    session: SessionDep,
    codec_fields: CodecFields,
    # The dataset id arrives as sent: RunCreate checks it, so that a refused value comes back
    # in the form, with everything else entered, and its reason.
    dataset_id: Annotated[str, Form()],
    codec: Annotated[str, Form()],
    params: Annotated[str, Form()] = "{}",
    seeds: Annotated[str, Form()] = "0",
    match_jpeg: Annotated[str, Form()] = "default",
    maps: Annotated[list[str] | None, Form()] = None,
    sweep_param: Annotated[str, Form()] = "",
    sweep_values: Annotated[str, Form()] = "",
) -> Response:
    """One run, or with sweep values one run per value (a sweep), shown together. The
    parameters are the chosen codec's generated fields, then the JSON, which overrides them
    (and may set what the fields cannot)."""
    form = {
        "dataset_id": int(dataset_id) if dataset_id.isascii() and dataset_id.isdigit() else None,
        "codec": codec,
        "params": params,
        "seeds": seeds,
        "match_jpeg": match_jpeg,
        "maps": maps or [],
        "sweep_param": sweep_param,
        "sweep_values": sweep_values,
        "fields": codec_fields,
    }
    try:
        parsed = parse_json(params or "{}", field="params")
        if not isinstance(parsed, dict):
            raise ValueError("params: must be a JSON object")
        chosen = codec_parameters.from_form(
            registry.parameters(codec, get_settings().operator_setup),
            codec_fields.get(codec, {}),
        )
        if sweep_values.strip():  # the sweep sets that parameter, not its field
            chosen.pop(sweep_param.strip(), None)
        fields: dict[str, Any] = {
            "dataset_id": dataset_id,
            "codec": codec,
            "params": {**chosen, **parsed},
            "seeds": seeds.replace(",", " ").split() or [0],
            "match_jpeg": None if match_jpeg == "default" else match_jpeg == "yes",
            "maps": maps or [],
        }
        if sweep_values.strip():
            if not sweep_param.strip():
                raise ValueError("sweep: name the parameter the values are for (e.g. quality)")
            fields["sweep"] = {
                "param": sweep_param.strip(),
                "values": parse_values(sweep_values),
            }
            sweep, _ = sweeps.create_sweep(session, SweepCreate.model_validate(fields), actor=user)
            return hx_redirect(request, f"/runs?sweep={sweep.id}")
        run = service.create_run(session, RunCreate.model_validate(fields), actor=user)
    except (ValueError, ValidationError) as exc:
        message = validation_message(exc.errors()) if isinstance(exc, ValidationError) else str(exc)
        return _form_page(request, session, form=form, error=message, status_code=422)
    except UserError as exc:
        return _form_page(
            request, session, form=form, error=exc.message, status_code=exc.status_code
        )
    return hx_redirect(request, f"/runs/{run.id}")


@router.get("/runs/import", name="runs_import_form")
def runs_import_form(request: Request, user: DatasetWriter, session: SessionDep) -> Response:
    return render(
        request,
        "runs/import.html",
        {"datasets": dataset_service.list_datasets(session), "error": None},
    )


@router.post("/runs/import", name="runs_import")
async def runs_import(request: Request, user: DatasetWriter, session: SessionDep) -> Response:
    """Reconstructions made elsewhere: a manifest and a zip of the files it names."""
    form = await request.form()
    manifest, archive = form.get("manifest"), form.get("archive")
    try:
        if not isinstance(manifest, StarletteUploadFile) or not manifest.filename:
            raise InvalidInput("choose a manifest file (.csv or .json)")
        dataset_id = DB_ID.validate_python(str(form.get("dataset_id", "")))
        archive_file = (
            archive.file if isinstance(archive, StarletteUploadFile) and archive.filename else None
        )
        runs = await run_in_threadpool(
            functools.partial(
                import_uploads,
                session,
                dataset_id,
                manifest_name=manifest.filename,
                manifest=manifest.file,
                archive=archive_file,
                match_jpeg=form.get("match_jpeg") == "yes",
                actor=user,
            )
        )
    except (UserError, ValueError) as exc:
        message = exc.message if isinstance(exc, UserError) else "choose a dataset"
        return render(
            request,
            "runs/import.html",
            {"datasets": dataset_service.list_datasets(session), "error": message},
            status_code=422,
        )
    return hx_redirect(request, f"/runs/{runs[0].id}" if len(runs) == 1 else "/runs")


def _order(sort: str | None, order: str | None) -> ResultOrder:
    try:
        return parse_order(sort, order)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _sort_context(chosen: ResultOrder) -> dict[str, Any]:
    """What a page needs to offer and keep the order of a run's results."""
    return {
        "order": chosen,
        "order_query": f"?{urlencode(chosen.query)}" if chosen.query else "",
        "sort_keys": result_order.SORT_LABELS,
    }


@router.get("/runs/{run_id}", name="runs_detail")
def runs_detail(
    request: Request,
    run_id: DbId,
    user: DatasetReader,
    session: SessionDep,
    sort: str | None = None,
    order: str | None = None,
) -> Response:
    """The run, its progress, and its results in the order asked for (``?sort=psnr``:
    worst PSNR first), each linking to the result viewer in that order."""
    chosen = _order(sort, order)
    run = service.get_run(session, run_id)
    results = service.results(session, run_id, chosen)
    return render(
        request,
        "runs/detail.html",
        {
            "run": run,
            "progress": service.progress(session, run),
            "dataset": dataset_service.get_dataset(session, run.dataset_id),
            "dataset_images": dataset_service.image_count(session, run.dataset_id),
            "results": results,
            "metric_columns": result_order.shown_metrics([r.metrics for r, _ in results]),
            **_sort_context(chosen),
        },
        block="run_status",
    )


@router.get("/runs/{run_id}/results/{result_id}", name="result_viewer")
def result_viewer(
    request: Request,
    run_id: DbId,
    result_id: DbId,
    user: DatasetReader,
    session: SessionDep,
    sort: str | None = None,
    order: str | None = None,
) -> Response:
    """One result in the pixel-exact viewer beside its metrics; ``j`` and ``k`` step
    through the run's results in the order the page was opened with."""
    chosen = _order(sort, order)
    run = service.get_run(session, run_id)
    result = service.get_result(session, run_id, result_id)
    image = dataset_service.get_image(session, result.image_id)

    return render(
        request,
        "runs/result.html",
        {
            "run": run,
            "result": result,
            "image": image,
            "dataset": dataset_service.get_dataset(session, run.dataset_id),
            "viewer": result_viewer_data(run, result, image, paths_of(request)),
            "neighbours": service.neighbours(session, result, chosen),
            "metric_columns": result_order.shown_metrics([result.metrics, result.jpeg_metrics]),
            **_sort_context(chosen),
        },
    )


@router.post("/runs/{run_id}/cancel", name="runs_cancel")
def runs_cancel(
    request: Request, run_id: DbId, user: DatasetWriter, session: SessionDep
) -> Response:
    service.cancel_run(session, run_id)
    return hx_redirect(request, f"/runs/{run_id}")


@router.post("/runs/{run_id}/retry", name="runs_retry")
def runs_retry(
    request: Request, run_id: DbId, user: DatasetWriter, session: SessionDep
) -> Response:
    service.retry_run(session, run_id)
    return hx_redirect(request, f"/runs/{run_id}")


@router.get("/media/results/{result_id}/{kind}.png", name="result_image")
def result_image(result_id: DbId, kind: str, user: DatasetReader, session: SessionDep) -> Response:
    """Reconstructions, matched JPEGs and maps, served as stored (lossless PNG)."""
    result = session.get(CodecResult, result_id)
    if result is None:
        raise NotFound(f"result {result_id} not found")
    if kind in RESULT_FILES:
        key = getattr(result, RESULT_FILES[kind])
    elif kind in MAP_FILES:
        key = result.maps.get(kind)
    else:
        raise NotFound(f"no {kind!r} image; choose from {sorted([*RESULT_FILES, *MAP_FILES])}")
    if not key:
        raise NotFound(f"result {result_id} has no {kind} image (yet)")
    return media_file(key, "image/png")


@router.get("/datasets/{dataset_id}/rd.{fmt}", name="dataset_rd_plot")
def dataset_rd_plot(
    dataset_id: DbId, fmt: str, user: DatasetReader, session: SessionDep
) -> Response:
    """The dataset's rate-distortion plot (bpp vs PSNR and MS-SSIM, one curve per codec)."""
    chosen = figure_format(fmt)
    dataset = dataset_service.get_dataset(session, dataset_id)
    curves = rd.curves(service.rd_points(session, dataset_id))
    if not curves:
        raise NotFound(f"dataset {dataset.name!r} has no finished codec results yet")
    body = rd.render(curves, title=f"Rate-distortion on {dataset.name}", fmt=chosen)
    return figure_response(body, chosen, f"rd-{dataset.name}.{fmt}")


@router.get("/images/{image_id}/rd.{fmt}", name="image_rd_plot")
def image_rd_plot(image_id: DbId, fmt: str, user: DatasetReader, session: SessionDep) -> Response:
    """One image's rate-distortion plot, across the runs that coded it."""
    chosen = figure_format(fmt)
    image = dataset_service.get_image(session, image_id)
    curves = rd.curves(service.rd_points(session, image.dataset_id, image_id=image_id))
    if not curves:
        raise NotFound(f"image {image.filename!r} has no finished codec results yet")
    body = rd.render(curves, title=f"Rate-distortion on {image.filename}", fmt=chosen)
    return figure_response(body, chosen, f"rd-image-{image_id}.{fmt}")
