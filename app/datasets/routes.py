"""Dataset, image and import pages (HTML)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUploadFile

from app.auth.dependencies import DatasetReader, DatasetWriter
from app.codec_runs import service as run_service
from app.codec_runs import sweeps
from app.codec_runs.reports import rd_report
from app.config import get_settings
from app.datasets import importer, service
from app.datasets.models import ImportJob
from app.datasets.schemas import DatasetCreate
from app.db import SessionDep
from app.domain import result_order
from app.domain.bounds import DbId, Page
from app.domain.validation import validation_message
from app.errors import UserError
from app.paging import paginate
from app.storage import media_storage
from app.uploads import stage_uploads
from app.users.models import User
from app.web import hx_redirect, media_file, render, wants_fragment

router = APIRouter(tags=["datasets"])
GRID_PAGE_SIZE = 60


@router.get("/datasets", name="datasets_list")
def datasets_list(request: Request, user: DatasetReader, session: SessionDep) -> Response:
    return render(request, "datasets/list.html", {"datasets": service.list_datasets(session)})


@router.get("/datasets/new", name="datasets_new")
def datasets_new(request: Request, user: DatasetWriter) -> Response:
    return render(request, "datasets/new.html", {"form": {}, "error": None})


@router.post("/datasets", name="datasets_create")
def datasets_create(
    request: Request,
    user: DatasetWriter,
    session: SessionDep,
    name: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "",
    license: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name, "description": description, "source": source, "license": license}
    try:
        dataset = service.create_dataset(session, DatasetCreate(**form), actor=user)
    except (ValidationError, UserError) as exc:
        message = exc.message if isinstance(exc, UserError) else validation_message(exc.errors())
        status_code = exc.status_code if isinstance(exc, UserError) else 422
        return render(
            request, "datasets/new.html", {"form": form, "error": message}, status_code=status_code
        )
    return hx_redirect(request, f"/datasets/{dataset.id}")


@router.get("/datasets/{dataset_id}", name="datasets_detail")
def datasets_detail(
    request: Request, dataset_id: DbId, user: DatasetReader, session: SessionDep, page: Page = 1
) -> Response:
    dataset = service.get_dataset(session, dataset_id)
    total = service.image_count(session, dataset_id)
    pager = paginate(total, page, GRID_PAGE_SIZE)
    images = service.list_images(session, dataset_id, offset=pager.offset, limit=pager.size)
    runs = run_service.list_runs(session, dataset_id=dataset_id)
    # The image grid's pages come as fragments: they need no curves.
    grid_only = wants_fragment(request)
    return render(
        request,
        "datasets/detail.html",
        {
            "dataset": dataset,
            "images": images,
            "total": total,
            "page": pager.page,
            "pages": pager.pages,
            "imports": service.list_imports(session, dataset_id),
            "runs": runs,
            "run_groups_list": sweeps.run_groups(session, runs),
            "rd_report": rd_report(session, dataset_id) if runs and not grid_only else None,
        },
        block="image_grid",
    )


@router.get("/datasets/{dataset_id}/import", name="imports_new")
def imports_new(
    request: Request, dataset_id: DbId, user: DatasetWriter, session: SessionDep
) -> Response:
    dataset = service.get_dataset(session, dataset_id)
    return render(
        request,
        "imports/new.html",
        {"dataset": dataset, "max_upload_bytes": get_settings().max_upload_bytes},
    )


@router.post("/datasets/{dataset_id}/import", name="imports_create")
async def imports_create(
    request: Request, dataset_id: DbId, user: DatasetWriter, session: SessionDep
) -> Response:
    # Read the form by hand: an empty file input arrives as a plain string, not a file.
    form = await request.form()
    files = [f for f in form.getlist("files") if isinstance(f, StarletteUploadFile) and f.filename]
    job = await run_in_threadpool(_queue_uploads, session, dataset_id, user, files)
    return hx_redirect(request, f"/imports/{job.id}")


def _queue_uploads(
    session: Session, dataset_id: int, user: User, files: list[StarletteUploadFile]
) -> ImportJob:
    dataset = service.get_dataset(session, dataset_id)
    settings = get_settings()
    staged = stage_uploads(
        settings, media_storage(settings), [(f.filename or "", f.file) for f in files]
    )
    return importer.queue_upload_import(session, dataset, staged, actor=user)


@router.get("/imports/{import_id}", name="imports_detail")
def imports_detail(
    request: Request, import_id: DbId, user: DatasetWriter, session: SessionDep
) -> Response:
    job = service.get_import(session, import_id)
    return render(
        request,
        "imports/detail.html",
        {
            "job": job,
            "dataset": service.get_dataset(session, job.dataset_id),
            "files": service.import_files(session, import_id),
        },
        block="progress",
    )


@router.get("/images/{image_id}", name="images_detail")
def images_detail(
    request: Request, image_id: DbId, user: DatasetReader, session: SessionDep
) -> Response:
    image = service.get_image(session, image_id)
    return render(
        request,
        "datasets/image.html",
        {
            "image": image,
            "dataset": service.get_dataset(session, image.dataset_id),
            "rd_report": rd_report(session, image.dataset_id, image_id=image_id),
            "reconstructions": run_service.image_results(session, image_id),
            "psnr": result_order.BY_KEY["psnr"],
        },
    )


@router.get("/media/images/{image_id}/pixels.png", name="image_pixels")
def image_pixels(image_id: DbId, user: DatasetReader, session: SessionDep) -> Response:
    """The stored lossless PNG, byte for byte: never re-encoded or resized on the way."""
    return media_file(service.get_image(session, image_id).storage_key, "image/png")


@router.get("/media/images/{image_id}/thumbnail.jpg", name="image_thumbnail")
def image_thumbnail(image_id: DbId, user: DatasetReader, session: SessionDep) -> Response:
    return media_file(service.get_image(session, image_id).thumbnail_key, "image/jpeg")
