"""Active learning across studies: gather finished studies' labels for retraining, retrain
on them (the operator's `miscomp detector train --study`, or a job a worker runs when a
researcher asks on the results page), and record, per study, how the retrained detector
ranks the study's held-out items against the detector it started from
(``study_labels.compare``)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.db import utcnow
from app.detector import task_names
from app.detector.records import RETRAINING_ACTIVE_STATUSES, DetectorRetraining
from app.detector.study_labels import StudyExample, compare, item_labels, split, study_examples
from app.domain.codecs.learned import sha256_of
from app.errors import Conflict, UserError
from app.jobs import enqueue_after_commit, run_job

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from app.config import Settings
    from app.detector.model import Detector
    from app.storage import MediaStorage
    from app.studies.models import Study
    from app.users.models import User

MIN_LABELLED_ITEMS = 2
RETRAIN_LR = 5e-4
"""Retraining starts from a trained detector: a quarter of the learning rate from scratch."""
PROGRESS_EVERY = 10
"""Steps between the job's progress commits."""


@dataclass(frozen=True)
class StudyLabels:
    study_id: int
    name: str
    train: list[StudyExample]
    held_out: list[StudyExample]
    split: str


def _too_few(study: Study, count: int) -> UserError:
    return UserError(
        f"study {study.name!r} has {count} labelled crop items (counted ratings with a "
        f"majority verdict, or adjudicated); at least {MIN_LABELLED_ITEMS} are needed"
    )


def gather(session: Session, storage: MediaStorage, study_ids: Sequence[int]) -> list[StudyLabels]:
    """Each study's labelled crops, split into training and held-out ones. A UserError names
    a study that does not exist or has too few labelled items, and nothing is trained."""
    from app.studies import service

    gathered = []
    for study_id in dict.fromkeys(study_ids):
        study = service.get_study(session, study_id)
        examples = study_examples(session, storage, study)
        if len(examples) < MIN_LABELLED_ITEMS:
            raise _too_few(study, len(examples))
        train, held_out, how = split(examples)
        gathered.append(StudyLabels(study.id, study.name, train, held_out, how))
    return gathered


def measure(
    gathered: Sequence[StudyLabels], before: Detector, after: Detector
) -> dict[int, dict[str, Any]]:
    """Per study, both detectors' figures on its held-out items (``study_labels.compare``)."""
    return {labels.study_id: compare(before, after, labels.held_out) for labels in gathered}


def _results(
    labels: StudyLabels, before: Detector, after: Detector, figures: dict[str, Any]
) -> dict[str, Any]:
    """The columns of a finished retraining of ``labels``' study."""
    return {
        "model_name": str(after.card.get("name") or after.path.stem),
        "model_sha256": sha256_of(after.path),
        "base_name": str(before.card.get("name") or before.path.stem),
        "base_sha256": sha256_of(before.path),
        "trained_items": len(labels.train),
        "split": labels.split,
        "figures": figures,
    }


def record(
    session: Session,
    gathered: Sequence[StudyLabels],
    before: Detector,
    after: Detector,
    figures: dict[int, dict[str, Any]],
) -> list[DetectorRetraining]:
    """One row per study for a detector the CLI trained: the new detector (as its file is
    now) and ``figures`` (``measure``). Flushes, never commits."""
    rows = []
    for labels in gathered:
        steps = int(after.card.get("steps", 0))
        row = DetectorRetraining(
            study_id=labels.study_id,
            steps=steps,
            done_steps=steps,
            model_path=str(after.path.resolve()),
            status="done",
            finished_at=utcnow(),
            **_results(labels, before, after, figures[labels.study_id]),
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


# ---- the results page's job ------------------------------------------------------------------


def request_retraining(
    session: Session, study: Study, steps: int, actor: User
) -> DetectorRetraining:
    """Queue a retraining on the study's labels (sent after the commit). Refused, with
    nothing changed, while one is under way for the study or when too few items are
    labelled. Flushes, never commits."""
    from app.studies.models import Study as StudyRow

    # The study's row lock makes two requests at once take turns: the second sees the first.
    session.execute(select(StudyRow.id).where(StudyRow.id == study.id).with_for_update())
    active = session.scalar(
        select(DetectorRetraining.id).where(
            DetectorRetraining.study_id == study.id,
            DetectorRetraining.status.in_(RETRAINING_ACTIVE_STATUSES),
        )
    )
    if active is not None:
        raise Conflict(f"the detector is already being retrained on study {study.name!r}")
    labelled = len(item_labels(session, study))
    if labelled < MIN_LABELLED_ITEMS:
        raise _too_few(study, labelled)
    row = DetectorRetraining(
        study_id=study.id, status="queued", steps=steps, done_steps=0, requested_by_id=actor.id
    )
    session.add(row)
    session.flush()
    enqueue_after_commit(session, task_names.RETRAIN_DETECTOR, row.id)
    return row


def run_retraining(factory: sessionmaker[Session], settings: Settings, retraining_id: int) -> str:
    """The worker's step (``jobs.run_job``): retrain the configured detector on the study's
    labels, store the weights with the media and the figures with the job. One cut short
    starts again from the beginning."""
    from app.storage import media_storage

    def work(session: Session, job: DetectorRetraining) -> dict[str, Any]:
        return _retrain(session, job, settings, media_storage(settings))

    def claim(session: Session, job: DetectorRetraining) -> None:
        job.done_steps = 0

    return run_job(
        factory, DetectorRetraining, retraining_id, RETRAINING_ACTIVE_STATUSES, work, claim=claim
    )


def _retrain(
    session: Session, job: DetectorRetraining, settings: Settings, storage: MediaStorage
) -> dict[str, Any]:
    from app.detector import model, training
    from app.storage import artefact_key

    (labels,) = gather(session, storage, [job.study_id])
    device = model.pick_device("auto")
    # Kept once per worker process (``model.load``): training copies its weights, never
    # changes them.
    before = model.load(settings.detector_weights, device)

    def progress(step: int, total: int, loss: float) -> None:
        if step % PROGRESS_EVERY == 0 or step == total:
            job.done_steps = step
            session.commit()

    network = training.train(
        [],
        training.TrainSettings(steps=job.steps, lr=RETRAIN_LR, device=device, seed=job.id),
        progress,
        study=labels.train,
        base=before,
    )
    name = f"miscomp-detector-study-{job.study_id}-{job.id}"
    card: dict[str, Any] = {
        "name": name,
        "data": {"examples": 0},
        "studies": [{"id": labels.study_id, "name": labels.name, "split": labels.split,
                     "trained_items": len(labels.train), "held_out_items": len(labels.held_out)}],
        "base": {"name": before.card.get("name"), "path": str(before.path)},
        "seed": job.id,
        "steps": job.steps,
        "lr": RETRAIN_LR,
        "device": device,
        "environment": training.environment(),
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="miscomp-retrain-") as folder:
        path = Path(folder) / f"{name}.pt"
        training.save(network, path, card)
        figures = measure([labels], before, model.Detector(path, device))[labels.study_id]
        training.save(network, path, {**card, "metrics": {"studies": {str(job.study_id): figures}}})
        after = model.Detector(path, device)
        data = path.read_bytes()
        weights_key = artefact_key("detectors", data, ".pt")
        storage.put(weights_key, data)
        return {"weights_key": weights_key, **_results(labels, before, after, figures)}
