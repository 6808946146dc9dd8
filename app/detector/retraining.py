"""Active learning across studies: gather the labels of finished studies for retraining, and
record, per study, how the retrained detector ranks the study's held-out items against the
detector it started from (``study_labels.compare``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.detector.records import DetectorRetraining
from app.detector.study_labels import StudyExample, compare, split, study_examples
from app.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.detector.model import Detector
    from app.storage import MediaStorage

MIN_LABELLED_ITEMS = 2


@dataclass(frozen=True)
class StudyLabels:
    study_id: int
    name: str
    train: list[StudyExample]
    held_out: list[StudyExample]
    split: str


def gather(session: Session, storage: MediaStorage, study_ids: Sequence[int]) -> list[StudyLabels]:
    """Each study's labelled crops, split into training and held-out ones. A UserError names
    a study that does not exist or has too few labelled items, and nothing is trained."""
    from app.studies import service

    gathered = []
    for study_id in dict.fromkeys(study_ids):
        study = service.get_study(session, study_id)
        examples = study_examples(session, storage, study)
        if len(examples) < MIN_LABELLED_ITEMS:
            raise UserError(
                f"study {study.name!r} has {len(examples)} labelled crop items (counted "
                f"ratings with a majority verdict, or adjudicated); at least "
                f"{MIN_LABELLED_ITEMS} are needed"
            )
        train, held_out, how = split(examples)
        gathered.append(StudyLabels(study.id, study.name, train, held_out, how))
    return gathered


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def measure(
    gathered: Sequence[StudyLabels], before: Detector, after: Detector
) -> dict[int, dict[str, Any]]:
    """Per study, both detectors' figures on its held-out items (``study_labels.compare``)."""
    return {labels.study_id: compare(before, after, labels.held_out) for labels in gathered}


def record(
    session: Session,
    gathered: Sequence[StudyLabels],
    before: Detector,
    after: Detector,
    figures: dict[int, dict[str, Any]],
) -> list[DetectorRetraining]:
    """One row per study: the new detector (as its file is now) and ``figures`` (``measure``).
    Flushes, never commits."""
    rows = []
    for labels in gathered:
        row = DetectorRetraining(
            study_id=labels.study_id,
            model_name=str(after.card.get("name") or after.path.stem),
            model_sha256=file_sha256(after.path),
            model_path=str(after.path.resolve()),
            base_name=str(before.card.get("name") or before.path.stem),
            base_sha256=file_sha256(before.path),
            trained_items=len(labels.train),
            split=labels.split,
            figures=figures[labels.study_id],
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows
