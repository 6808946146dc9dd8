from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.datasets.models import Dataset, Image, ImportFile, ImportJob
from app.datasets.schemas import DatasetCreate
from app.errors import Conflict, NotFound
from app.users.models import User

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class DatasetSummary:
    dataset: Dataset
    image_count: int


def create_dataset(session: Session, data: DatasetCreate, *, actor: User | None) -> Dataset:
    if find_dataset_by_name(session, data.name) is not None:
        raise Conflict(f"a dataset named {data.name!r} already exists")
    dataset = Dataset(
        name=data.name,
        description=data.description,
        source=data.source,
        license=data.license,
        created_by_id=actor.id if actor else None,
    )
    session.add(dataset)
    session.flush()
    return dataset


def get_dataset(session: Session, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset


def find_dataset_by_name(session: Session, name: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.name == name))


def image_count(session: Session, dataset_id: int) -> int:
    return session.scalar(select(func.count()).where(Image.dataset_id == dataset_id)) or 0


def list_datasets(session: Session) -> list[DatasetSummary]:
    counts = select(Image.dataset_id, func.count().label("n")).group_by(Image.dataset_id).subquery()
    rows = session.execute(
        select(Dataset, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.dataset_id == Dataset.id)
        .order_by(Dataset.name)
    )
    return [DatasetSummary(dataset, int(n)) for dataset, n in rows]


def list_images(session: Session, dataset_id: int, *, offset: int, limit: int) -> list[Image]:
    """Keyed on (dataset_id, id) through the index, so deep pages of 10,000 images stay fast."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    return list(
        session.scalars(
            select(Image)
            .where(Image.dataset_id == dataset_id)
            .order_by(Image.id)
            .offset(max(0, offset))
            .limit(limit)
        )
    )


def get_image(session: Session, image_id: int) -> Image:
    image = session.get(Image, image_id)
    if image is None:
        raise NotFound(f"image {image_id} not found")
    return image


def get_import(session: Session, import_id: int) -> ImportJob:
    job = session.get(ImportJob, import_id)
    if job is None:
        raise NotFound(f"import {import_id} not found")
    return job


def import_files(session: Session, import_id: int, *, limit: int | None = None) -> list[ImportFile]:
    query = (
        select(ImportFile).where(ImportFile.import_id == import_id).order_by(ImportFile.position)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def list_imports(session: Session, dataset_id: int) -> list[ImportJob]:
    return list(
        session.scalars(
            select(ImportJob)
            .where(ImportJob.dataset_id == dataset_id)
            .order_by(ImportJob.id.desc())
            .limit(20)
        )
    )
