"""JSON API for datasets, images and imports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status

from app.auth.dependencies import DatasetReader, DatasetWriter
from app.config import get_settings
from app.datasets import importer, service
from app.datasets.schemas import (
    DatasetCreate,
    DatasetRead,
    ImagePage,
    ImageRead,
    ImportFileRead,
    ImportRead,
    ImportReport,
)
from app.db import SessionDep
from app.domain.bounds import DbId, Offset
from app.storage import media_storage
from app.uploads import stage_uploads

router = APIRouter(prefix="/api", tags=["datasets"])


@router.get("/datasets", response_model=list[DatasetRead])
def list_datasets(user: DatasetReader, session: SessionDep) -> list[DatasetRead]:
    return [
        DatasetRead.model_validate(s.dataset).model_copy(update={"image_count": s.image_count})
        for s in service.list_datasets(session)
    ]


@router.post("/datasets", response_model=DatasetRead, status_code=status.HTTP_201_CREATED)
def create_dataset(data: DatasetCreate, user: DatasetWriter, session: SessionDep) -> DatasetRead:
    return DatasetRead.model_validate(service.create_dataset(session, data, actor=user))


@router.get("/datasets/{dataset_id}", response_model=DatasetRead)
def get_dataset(dataset_id: DbId, user: DatasetReader, session: SessionDep) -> DatasetRead:
    dataset = service.get_dataset(session, dataset_id)
    return DatasetRead.model_validate(dataset).model_copy(
        update={"image_count": service.image_count(session, dataset_id)}
    )


@router.get("/datasets/{dataset_id}/images", response_model=ImagePage)
def list_images(
    dataset_id: DbId,
    user: DatasetReader,
    session: SessionDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)] = 100,
) -> ImagePage:
    service.get_dataset(session, dataset_id)
    images = service.list_images(session, dataset_id, offset=offset, limit=limit)
    return ImagePage(
        total=service.image_count(session, dataset_id),
        offset=offset,
        limit=limit,
        items=[ImageRead.model_validate(i) for i in images],
    )


@router.post(
    "/datasets/{dataset_id}/imports",
    response_model=ImportRead,
    status_code=status.HTTP_202_ACCEPTED,
)
def create_import(
    dataset_id: DbId,
    user: DatasetWriter,
    session: SessionDep,
    files: Annotated[list[UploadFile], File()],
) -> ImportRead:
    settings = get_settings()
    dataset = service.get_dataset(session, dataset_id)
    staged = stage_uploads(
        settings,
        media_storage(settings),
        [(f.filename or "", f.file) for f in files if f.filename or f.size],
    )
    return ImportRead.model_validate(
        importer.queue_upload_import(session, dataset, staged, actor=user)
    )


@router.get("/imports/{import_id}", response_model=ImportReport)
def get_import(import_id: DbId, user: DatasetWriter, session: SessionDep) -> ImportReport:
    job = service.get_import(session, import_id)
    return ImportReport(
        **ImportRead.model_validate(job).model_dump(),
        files=[ImportFileRead.model_validate(f) for f in service.import_files(session, import_id)],
    )


@router.get("/images/{image_id}", response_model=ImageRead)
def get_image(image_id: DbId, user: DatasetReader, session: SessionDep) -> ImageRead:
    return ImageRead.model_validate(service.get_image(session, image_id))
