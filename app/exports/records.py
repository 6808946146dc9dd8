"""A study's annotations as export records (``app.domain.exports.schema``), streamed.

Items are read a chunk at a time with everything their records need (image, dataset, codec
result and run, leases, annotations or their revisions, adjudications), so memory does not
grow with the study. What "counted" means comes from ``app.studies.queries``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Dataset, Image
from app.domain import crops
from app.domain.exports.schema import Record
from app.domain.rd import source_codec
from app.studies import queries
from app.studies.adjudication import verdict_agreement
from app.studies.models import (
    Adjudication,
    Annotation,
    AnnotationRevision,
    Assignment,
    Study,
    StudyItem,
    TaxonomyVersion,
)
from app.users.models import User

ITEMS_PER_CHUNK = 500
_T = TypeVar("_T")


@dataclass(frozen=True)
class ExportOptions:
    all_revisions: bool = False
    """Every revision of every annotation, not only the current one."""
    names: bool = False
    """The raters' usernames beside their pseudonyms."""


def count_records(session: Session, study: Study, options: ExportOptions) -> int:
    """How many records :func:`study_records` yields (for a progress bar)."""
    annotations = select(func.count()).where(Annotation.study_id == study.id)
    total = int(session.scalar(annotations) or 0)
    if options.all_revisions:
        total += int(session.scalar(_earlier_revisions(select(func.count()), study.id)) or 0)
    return total


def _earlier_revisions(statement: Select[_T], study_id: int) -> Select[_T]:
    """``statement`` over the revisions an annotation has since replaced."""
    return (
        statement.select_from(AnnotationRevision)
        .join(Annotation, Annotation.id == AnnotationRevision.annotation_id)
        .where(Annotation.study_id == study_id, AnnotationRevision.number < Annotation.revision)
    )


def study_section(session: Session, study: Study) -> dict[str, Any]:
    taxonomy = session.get(TaxonomyVersion, study.taxonomy_version_id)
    assert taxonomy is not None
    return {
        "id": study.id,
        "name": study.name,
        "raters_per_item": study.raters_per_item,
        "per_rater_cap": study.per_rater_cap,
        "quotas": study.quotas,
        "blind": study.blind,
        "panes": list(study.panes),
        "crop_sizes": list(study.crop_sizes),
        "methods": list(study.methods),
        "seed": study.seed,
        "run_ids": list(study.run_ids),
        "versus_run_id": study.versus_run_id,
        "taxonomy": f"{taxonomy.name} v{taxonomy.version}",
        "taxonomy_categories": [
            {k: c.get(k) for k in ("key", "label", "kind", "description")}
            for c in taxonomy.categories
        ],
    }


def rater_pseudonyms(session: Session, study_id: int) -> dict[int, str]:
    """R01, R02... in the order raters first took an item of the study: stable, since a
    rater who joins later gets the next number."""
    first_lease = (
        select(Assignment.user_id, func.min(Assignment.id).label("first"))
        .where(Assignment.study_id == study_id)
        .group_by(Assignment.user_id)
        .order_by("first")
    )
    users = [user_id for user_id, _ in session.execute(first_lease)]
    width = max(2, len(str(len(users))))
    return {user_id: f"R{n:0{width}d}" for n, user_id in enumerate(users, start=1)}


def study_records(
    session: Session, study: Study, options: ExportOptions = ExportOptions()
) -> Iterator[Record]:
    """One record per annotation (per revision with ``all_revisions``), by item, then in
    the order the annotations were given."""
    study_part = study_section(session, study)
    pseudonyms = rater_pseudonyms(session, study.id)
    usernames: dict[int, str] = {}
    if options.names:
        statement = select(User.id, User.username).where(User.id.in_(pseudonyms))
        usernames = dict(session.execute(statement).all())
    item_ids = list(
        session.scalars(select(StudyItem.id).where(StudyItem.study_id == study.id).order_by("id"))
    )
    for start in range(0, len(item_ids), ITEMS_PER_CHUNK):
        chunk = item_ids[start : start + ITEMS_PER_CHUNK]
        yield from _chunk_records(session, study_part, chunk, pseudonyms, usernames, options)
        session.expunge_all()  # constant memory: nothing of this chunk is needed again


def _chunk_records(
    session: Session,
    study_part: dict[str, Any],
    item_ids: Sequence[int],
    pseudonyms: dict[int, str],
    usernames: dict[int, str],
    options: ExportOptions,
) -> Iterator[Record]:
    items = {i.id: i for i in session.scalars(select(StudyItem).where(StudyItem.id.in_(item_ids)))}
    images = {
        image.id: (image, dataset)
        for image, dataset in session.execute(
            select(Image, Dataset)
            .join(Dataset, Dataset.id == Image.dataset_id)
            .where(Image.id.in_({i.image_id for i in items.values()}))
        )
    }
    result_ids = {i.result_id for i in items.values() if i.result_id is not None}
    results = {
        result.id: (result, run)
        for result, run in session.execute(
            select(CodecResult, CodecRun)
            .join(CodecRun, CodecRun.id == CodecResult.run_id)
            .where(CodecResult.id.in_(result_ids))
        )
    }
    decisions = {
        d.item_id: d
        for d in session.scalars(select(Adjudication).where(Adjudication.item_id.in_(item_ids)))
    }
    current_revision = and_(
        AnnotationRevision.annotation_id == Annotation.id,
        AnnotationRevision.number == Annotation.revision,
    )
    rows = session.execute(
        select(Annotation, Assignment, queries.is_counted(), AnnotationRevision.created_at)
        .join(Assignment, Assignment.id == Annotation.assignment_id)
        .join(StudyItem, StudyItem.id == Annotation.item_id)
        .outerjoin(AnnotationRevision, current_revision)
        .where(Annotation.item_id.in_(item_ids))
        .order_by(Annotation.item_id, Annotation.id)
    ).all()
    earlier: dict[int, list[AnnotationRevision]] = defaultdict(list)
    if options.all_revisions and rows:
        for revision in session.scalars(
            _earlier_revisions(select(AnnotationRevision), study_part["id"])
            .where(Annotation.item_id.in_(item_ids))
            .order_by(AnnotationRevision.number)
        ):
            earlier[revision.annotation_id].append(revision)
    verdicts: dict[int, list[str]] = defaultdict(list)
    for annotation, _, counted, _ in rows:
        if counted:
            verdicts[annotation.item_id].append(annotation.verdict)
    for annotation, lease, counted, current_at in rows:
        item = items[annotation.item_id]
        image, dataset = images[item.image_id]
        result_run = results.get(item.result_id) if item.result_id is not None else None
        given = verdicts.get(item.id, [])
        shared: Record = {
            "study": study_part,
            "item": _item_section(item, image),
            "image": _image_section(image, dataset),
            "codec": _codec_section(*result_run) if result_run else {},
            "rater": {
                "id": pseudonyms.get(annotation.user_id),
                "name": usernames.get(annotation.user_id),
            },
            "adjudication": _adjudication_section(decisions.get(item.id)),
            "agreement": {
                "counted_ratings": len(given),
                "verdicts": dict(sorted(Counter(given).items())),
                "verdict_agreement": verdict_agreement(given) if len(given) >= 2 else None,
            },
        }
        for revision in earlier.get(annotation.id, []):
            label = _label_section(revision, item, annotation, lease)
            label.update(revision=revision.number, current=False, counted=False)
            yield {**shared, "label": {**label, "submitted_at": revision.created_at}}
        label = _label_section(annotation, item, annotation, lease)
        label.update(revision=annotation.revision, current=True, counted=bool(counted))
        yield {**shared, "label": {**label, "submitted_at": current_at or annotation.created_at}}


def _label_section(
    labels: Annotation | AnnotationRevision,
    item: StudyItem,
    annotation: Annotation,
    lease: Assignment,
) -> dict[str, Any]:
    """The labels of one revision (``labels``: the annotation itself for its current one)."""
    return {
        "annotation_id": annotation.id,
        "late": annotation.late,
        "verdict": labels.verdict,
        "categories": list(labels.categories),
        "modifiers": list(labels.modifiers),
        "seen_in": list(labels.seen_in),
        "pane_map": dict(lease.pane_map),
        "boxes": list(labels.boxes),
        "boxes_in_image": [_in_image(box, item) for box in labels.boxes],
        "original_shows": labels.original_shows,
        "compressed_shows": labels.compressed_shows,
        "confidence": labels.confidence,
        "note": labels.note,
        "time_spent_ms": annotation.time_spent_ms,
        "leased_at": lease.leased_at,
    }


def _item_section(item: StudyItem, image: Image) -> dict[str, Any]:
    box = crops.Box(item.x, item.y, item.size)
    contexts = {}
    for factor in crops.CONTEXT_FACTORS:
        window = crops.context_window(box, factor, image.width, image.height)
        if window is not None:
            contexts[f"{factor}x"] = [window.x, window.y, window.size, window.size]
    return {
        "id": item.id,
        "position": item.position,
        "kind": item.kind,
        "method": item.method,
        "score": item.score,
        "inclusion_probability": item.inclusion_probability,
        "x": item.x,
        "y": item.y,
        "size": item.size,
        "share_percent": item.share_percent,
        "context_boxes": contexts,
        "evidence": item.evidence,
    }


def _image_section(image: Image, dataset: Dataset) -> dict[str, Any]:
    return {
        "id": image.id,
        "dataset": dataset.name,
        "filename": image.filename,
        "sha256": image.pixels_sha256,
        "source_sha256": image.source_sha256,
        "width": image.width,
        "height": image.height,
        "license": dataset.license,
        "attribution": dataset.source,
    }


def weights_sha256(environment: dict[str, Any]) -> str | None:
    """The learned codec's weights a result was coded with, as its environment records them
    (``sha256`` in results coded before the key was named)."""
    identity = environment.get("codec") or {}
    return identity.get("weights_sha256") or identity.get("sha256")


def _codec_section(result: CodecResult, run: CodecRun) -> dict[str, Any]:
    name, params = source_codec(run.codec, run.params)
    return {
        "run_id": run.id,
        "result_id": result.id,
        "name": name,
        "params": params,
        "seed": result.seed,
        "weights_sha256": weights_sha256(result.environment),
        "device": result.device,
        "bpp": result.bpp,
        "bits_source": result.bits_source,
        "metrics": result.metrics,
        "jpeg_status": result.jpeg_status,
        "jpeg_quality": result.jpeg_quality,
        "jpeg_bpp": result.jpeg_bpp,
        "jpeg_metrics": result.jpeg_metrics,
    }


def _adjudication_section(decision: Adjudication | None) -> dict[str, Any]:
    if decision is None:
        return {}
    return {
        "verdict": decision.verdict,
        "categories": list(decision.categories),
        "modifiers": list(decision.modifiers),
        "note": decision.note,
        "decided_at": decision.decided_at,
    }


def _in_image(box: dict[str, Any], item: StudyItem) -> dict[str, Any]:
    """A box drawn on the crop, in original-image pixels (crops are 1:1 cut-outs)."""
    return {**box, "x": box["x"] + item.x, "y": box["y"] + item.y}
