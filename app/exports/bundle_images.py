"""The datasets and images of a study's bundle, brought into this instance for
``bundle_import.py``: datasets by name (reused when they already hold every image the bundle
needs from them, by pixel sha256, else made as ``<name> (imported N)``), images through the
image import (``importer.record_file``), which recognises those already there; new ones
keep the bundle's provenance (source sha256, format, mode, notes)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.datasets import importer
from app.datasets import service as dataset_service
from app.datasets.models import Dataset, Image, ImportJob
from app.datasets.schemas import DatasetCreate
from app.db import utcnow
from app.domain.exports import bundle_layout as layout
from app.domain.sources import SourceFile
from app.errors import InvalidInput
from app.exports.bundle_reader import BundleContents
from app.exports.bundle_rebuild import IMAGE_FIELDS
from app.storage import MediaStorage


def datasets_for(session: Session, contents: BundleContents) -> dict[str, Dataset]:
    """Bundle dataset name -> the dataset here (see the module's docstring)."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for image in contents.images:
        wanted[str(image["dataset"])].add(str(image["sha256"]))
    chosen = {}
    for entry in contents.study["datasets"]:
        name = str(entry["name"])
        existing = dataset_service.find_dataset_by_name(session, name)
        if existing is not None:
            held = set(
                session.scalars(select(Image.pixels_sha256).where(Image.dataset_id == existing.id))
            )
            if wanted[name] <= held:
                chosen[name] = existing
                continue
        new_name, n = name, 0
        while dataset_service.find_dataset_by_name(session, new_name) is not None:
            n += 1
            new_name = f"{name[:180]} (imported {n})"
        chosen[name] = dataset_service.create_dataset(
            session,
            DatasetCreate(
                name=new_name,
                description=entry["description"],
                source=entry["source"],
                license=entry["license"],
            ),
            actor=None,
        )
    return chosen


def import_images(
    session: Session,
    storage: MediaStorage,
    settings: Settings,
    contents: BundleContents,
    datasets: dict[str, Dataset],
    step: Callable[[], None],
) -> dict[tuple[str, str], int]:
    """(bundle dataset, pixel sha256) -> image id, through the image import (one job per
    dataset, recorded like any import)."""
    jobs: dict[str, ImportJob] = {}
    found = {}
    for position, line in enumerate(contents.images):
        dataset = str(line["dataset"])
        job = jobs.get(dataset)
        if job is None:
            job = ImportJob(
                dataset_id=datasets[dataset].id,
                source_kind="bundle",
                source_label=contents.name,
                status="done",
                started_at=utcnow(),
                finished_at=utcnow(),
            )
            session.add(job)
            session.flush()
            jobs[dataset] = job
        data = contents.read(layout.original_member(line["sha256"]))
        file = SourceFile(str(line["filename"]), data)
        image_id = importer.record_file(session, storage, settings, job, position, file)
        image = session.get(Image, image_id) if image_id is not None else None
        if image is None or image.pixels_sha256 != line["sha256"]:
            raise InvalidInput(
                f"bundle refused, nothing imported: {layout.original_member(line['sha256'])} "
                "is not an image of those pixels"
            )
        if image.import_id == job.id:
            # Stored from the bundle's PNG: keep what the first import learnt of the file.
            for field in IMAGE_FIELDS:
                setattr(image, field, line[field])
        job.processed = job.total = job.processed + 1
        found[(dataset, str(line["sha256"]))] = image.id
        step()
    return found
