"""The sections of a study's export records (``app.domain.exports.schema``) from plain rows:
the columns the export reads, and the sections made of them.

JSON columns are read as text and decoded once per distinct short value (:class:`JsonTexts`);
an item's sections are made once and shared by its ratings' records, and an image's and a
codec result's by the items that show them (:class:`ItemSections`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Text, cast

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Dataset, Image
from app.domain import crops
from app.domain.consensus import verdict_agreement
from app.domain.exports.schema import Record
from app.domain.rd import source_codec
from app.studies import queries
from app.studies.models import Annotation, AnnotationRevision, Assignment, StudyItem

AnyRow = Row[*tuple[Any, ...]]
"""A plain result row of any columns."""


def _as_text(column: Any, name: str | None = None) -> Any:
    """A JSON column read as its text (labelled ``name``, by default its own), decoded by
    :class:`JsonTexts`."""
    return cast(column, Text).label(name or column.key)


ITEM_COLUMNS = (
    StudyItem.id,
    StudyItem.position,
    StudyItem.kind,
    StudyItem.method,
    StudyItem.score,
    StudyItem.inclusion_probability,
    StudyItem.x,
    StudyItem.y,
    StudyItem.size,
    StudyItem.share_percent,
    _as_text(StudyItem.evidence),
    StudyItem.image_id,
    StudyItem.result_id,
    Image.filename.label("image_filename"),
    Image.pixels_sha256.label("image_pixels_sha256"),
    Image.source_sha256.label("image_source_sha256"),
    Image.width.label("image_width"),
    Image.height.label("image_height"),
    Dataset.name.label("dataset_name"),
    Dataset.license.label("dataset_license"),
    Dataset.source.label("dataset_source"),
    CodecResult.run_id.label("result_run_id"),
    CodecResult.seed.label("result_seed"),
    _as_text(CodecResult.environment, "result_environment"),
    CodecResult.device.label("result_device"),
    CodecResult.bpp.label("result_bpp"),
    CodecResult.bits_source.label("result_bits_source"),
    _as_text(CodecResult.metrics, "result_metrics"),
    CodecResult.jpeg_status.label("result_jpeg_status"),
    CodecResult.jpeg_quality.label("result_jpeg_quality"),
    CodecResult.jpeg_bpp.label("result_jpeg_bpp"),
    _as_text(CodecResult.jpeg_metrics, "result_jpeg_metrics"),
    CodecRun.codec.label("run_codec"),
    _as_text(CodecRun.params, "run_params"),
)
"""What the item, image and codec sections need: one row per item."""


def _labels(model: type[Annotation] | type[AnnotationRevision]) -> tuple[Any, ...]:
    """The columns of one revision's labels, last in a label row (:func:`label_section`
    takes them by place: a row's attributes cost more than its items)."""
    return (
        model.verdict,
        _as_text(model.categories),
        _as_text(model.modifiers),
        _as_text(model.seen_in),
        _as_text(model.boxes),
        model.original_shows,
        model.compressed_shows,
        model.confidence,
        model.note,
    )


_LABELS = len(_labels(Annotation))

LABEL_COLUMNS = (
    Annotation.id,
    Annotation.item_id,
    Annotation.user_id,
    Annotation.time_spent_ms,
    Annotation.late,
    Annotation.revision,
    Annotation.created_at,
    _as_text(Assignment.pane_map),
    Assignment.leased_at,
    queries.is_counted().label("counted"),
    AnnotationRevision.created_at.label("current_at"),
    *_labels(Annotation),
)
"""What a label section needs: one row per annotation (its current revision)."""

REVISION_COLUMNS = (
    AnnotationRevision.annotation_id,
    AnnotationRevision.number,
    AnnotationRevision.created_at,
    Annotation.item_id,
    *_labels(AnnotationRevision),
)
"""What an earlier revision's label section needs."""


class JsonTexts:
    """JSON values from their text, each distinct short text decoded once: labels repeat a
    handful of values (``[]``, ``["shape"]``, a pane map), and decoding each of the millions
    an export reads would be most of its time. Decoded values are shared between records,
    which never change them; the cache is bounded."""

    SHORT = 100
    KEPT = 10_000

    def __init__(self) -> None:
        self._known: dict[str, Any] = {}

    def __call__(self, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return self._known[text]
        except KeyError:
            value = json.loads(text)
            if len(text) <= self.SHORT and len(self._known) < self.KEPT:
                self._known[text] = value
            return value


class ItemSections:
    """The sections an item's records share, made once per item; an image's and a codec
    result's once per image and result while few enough (items share them)."""

    KEPT = 10_000

    def __init__(self, study_part: dict[str, Any]) -> None:
        self.study = study_part
        self.json = JsonTexts()
        self._images: dict[int, dict[str, Any]] = {}
        self._codecs: dict[int, dict[str, Any]] = {}

    def of(self, item: AnyRow, decision: AnyRow | None, ratings: list[AnyRow]) -> Record:
        """The sections the records of the item's ``ratings`` share: all but the rater's
        and the label."""
        given = [rating.verdict for rating in ratings if rating.counted]
        shared: Record = {
            "study": self.study,
            "item": _item_section(item, self.json(item.evidence)),
            "image": self._kept(self._images, item.image_id, lambda: _image_section(item)),
            "codec": self._kept(
                self._codecs, item.result_id, lambda: _codec_section(item, self.json)
            )
            if item.result_id is not None
            else {},
            "rater": {},  # each record's own; its place in the record is kept here
            "adjudication": _adjudication_section(decision),
            "agreement": {
                "counted_ratings": len(given),
                "verdicts": dict(sorted(Counter(given).items())),
                "verdict_agreement": verdict_agreement(given) if len(given) >= 2 else None,
            },
        }
        return shared

    def _kept(
        self, kept: dict[int, dict[str, Any]], key: int, make: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        section = kept.get(key)
        if section is None:
            if len(kept) >= self.KEPT:
                kept.clear()
            section = kept[key] = make()
        return section


def label_section(
    labels: AnyRow,
    annotation: AnyRow,
    item: AnyRow,
    json_value: JsonTexts,
    *,
    revision: int,
    current: bool,
    counted: bool,
    submitted_at: datetime,
) -> dict[str, Any]:
    """The label section of one revision of ``annotation``, whose labels end the row
    ``labels`` (the annotation's own row for its current revision)."""
    verdict, categories, modifiers, seen_in, boxes, original, compressed, confidence, note = labels[
        -_LABELS:
    ]
    boxes = json_value(boxes)
    return {
        "annotation_id": annotation.id,
        "revision": revision,
        "current": current,
        "counted": counted,
        "late": annotation.late,
        "verdict": verdict,
        "categories": json_value(categories),
        "modifiers": json_value(modifiers),
        "seen_in": json_value(seen_in),
        "pane_map": json_value(annotation.pane_map),
        "boxes": boxes,
        "boxes_in_image": [_in_image(box, item) for box in boxes] if boxes else [],
        "original_shows": original,
        "compressed_shows": compressed,
        "confidence": confidence,
        "note": note,
        "time_spent_ms": annotation.time_spent_ms,
        "leased_at": annotation.leased_at,
        "submitted_at": submitted_at,
    }


def _item_section(item: AnyRow, evidence: Any) -> dict[str, Any]:
    box = crops.Box(item.x, item.y, item.size)
    contexts = {}
    for factor in crops.CONTEXT_FACTORS:
        window = crops.context_window(box, factor, item.image_width, item.image_height)
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
        "evidence": evidence,
    }


def _image_section(item: AnyRow) -> dict[str, Any]:
    """An item's image, from its row (``image_*`` and ``dataset_*`` columns)."""
    return {
        "id": item.image_id,
        "dataset": item.dataset_name,
        "filename": item.image_filename,
        "sha256": item.image_pixels_sha256,
        "source_sha256": item.image_source_sha256,
        "width": item.image_width,
        "height": item.image_height,
        "license": item.dataset_license,
        "attribution": item.dataset_source,
    }


def weights_sha256(environment: dict[str, Any]) -> str | None:
    """The learned codec's weights a result was coded with, as its environment records them
    (``sha256`` in results coded before the key was named)."""
    identity = environment.get("codec") or {}
    return identity.get("weights_sha256") or identity.get("sha256")


def _codec_section(item: AnyRow, json_value: JsonTexts) -> dict[str, Any]:
    """An item's codec result and run, from its row (``result_*`` and ``run_*`` columns)."""
    name, params = source_codec(item.run_codec, json_value(item.run_params))
    return {
        "run_id": item.result_run_id,
        "result_id": item.result_id,
        "name": name,
        "params": params,
        "seed": item.result_seed,
        "weights_sha256": weights_sha256(json_value(item.result_environment)),
        "device": item.result_device,
        "bpp": item.result_bpp,
        "bits_source": item.result_bits_source,
        "metrics": json_value(item.result_metrics),
        "jpeg_status": item.result_jpeg_status,
        "jpeg_quality": item.result_jpeg_quality,
        "jpeg_bpp": item.result_jpeg_bpp,
        "jpeg_metrics": json_value(item.result_jpeg_metrics),
    }


def _adjudication_section(decision: AnyRow | None) -> dict[str, Any]:
    if decision is None:
        return {}
    return {
        "verdict": decision.verdict,
        "categories": list(decision.categories),
        "modifiers": list(decision.modifiers),
        "note": decision.note,
        "decided_at": decision.decided_at,
    }


def _in_image(box: dict[str, Any], item: AnyRow) -> dict[str, Any]:
    """A box drawn on the crop, in original-image pixels (crops are 1:1 cut-outs)."""
    return {**box, "x": box["x"] + item.x, "y": box["y"] + item.y}
