"""COCO detection JSON: the raters' boxes on the original images, for detection tools
(pycocotools, torchvision, FiftyOne...).

- ``images``: each original image of the exported records once (``id`` is the image's id),
  with its ``sha256``, ``dataset`` and ``license`` (an id into ``licenses``).
- ``licenses``: one per distinct dataset licence and source.
- ``categories``: the taxonomy's categories (kind ``category``, in taxonomy order, ids from 1)
  and, last, ``UNCATEGORISED`` for boxes whose label names no category (a miscompression
  whose kind the rater left open, or a box given with an ``unsure`` verdict). Modifiers are
  not categories: SYMBOL is an attribute of each box.
- ``annotations``: one per box in original-image pixels (``label.boxes_in_image``), of every
  record (every revision with ``--all-revisions``). A label naming several categories gives
  its boxes the first of them in taxonomy order; ``attributes.categories`` lists them all.
- ``crops``: one per item (a COCO extension that COCO readers ignore): the square the raters
  saw, ``[x, y, size, size]`` on ``image_id``. Crops are not ``images`` entries, which
  detection tools would take for images with no boxes.

COCO is one JSON document, but annotations are many: they are written as records come, and
what is left (images, licences, categories, crops: one small dict per image or item) is kept
and written after them, so one pass over the records is enough.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from app.domain.exports.formats import Progress, counted
from app.domain.exports.schema import Field, Record

UNCATEGORISED = "(uncategorised)"
"""The category of boxes whose label names none; parenthesised, so no taxonomy key (lower-case
letters, digits, _) can be the same."""
SYMBOL = "symbol"
"""The taxonomy key of the SYMBOL modifier."""

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def coco_categories(study: dict[str, Any]) -> list[dict[str, Any]]:
    """The taxonomy's categories (not its modifiers) and ``UNCATEGORISED``, ids from 1."""
    named = [c for c in study.get("taxonomy_categories") or [] if c.get("kind") == "category"]
    categories = [
        {
            "id": number,
            "name": c["key"],
            "supercategory": "miscompression",
            "label": c.get("label"),
            "description": c.get("description"),
        }
        for number, c in enumerate(named, start=1)
    ]
    categories.append(
        {
            "id": len(categories) + 1,
            "name": UNCATEGORISED,
            "supercategory": "miscompression",
            "label": "No category named",
            "description": "A box whose label names no category.",
        }
    )
    return categories


class _Document:
    """What a COCO file holds besides its annotations, gathered as records pass."""

    def __init__(self) -> None:
        self.study: dict[str, Any] = {}
        self.categories: list[dict[str, Any]] = coco_categories({})
        self.images: dict[int, dict[str, Any]] = {}
        self.licences: dict[tuple[str, str], int] = {}
        self.crops: dict[int, dict[str, Any]] = {}

    def take(self, record: Record) -> None:
        if not self.study:
            # One study per export, so its taxonomy is the same in every record.
            self.study = record["study"]
            self.categories = coco_categories(self.study)
        image, item = record["image"], record["item"]
        if image["id"] not in self.images:
            licence = (image.get("license") or "", image.get("attribution") or "")
            self.images[image["id"]] = {
                "id": image["id"],
                "file_name": image["filename"],
                "width": image["width"],
                "height": image["height"],
                "sha256": image["sha256"],
                "dataset": image["dataset"],
                "license": self.licences.setdefault(licence, len(self.licences) + 1),
            }
        if item["id"] not in self.crops:
            self.crops[item["id"]] = {
                "id": item["id"],
                "image_id": image["id"],
                "bbox": [item["x"], item["y"], item["size"], item["size"]],
                "kind": item["kind"],
                "method": item["method"],
            }

    def category_of(self, label: dict[str, Any]) -> int:
        """The first of the label's categories in taxonomy order, or ``UNCATEGORISED``."""
        named = set(label.get("categories") or ())
        for category in self.categories:
            if category["name"] in named:
                return int(category["id"])
        return int(self.categories[-1]["id"])  # UNCATEGORISED

    def rest(self) -> dict[str, Any]:
        """Everything but the annotations."""
        return {
            "info": {
                "description": "Miscompressions labelled in a miscomp study.",
                "study_id": self.study.get("id"),
                "study_name": self.study.get("name"),
                "taxonomy": self.study.get("taxonomy"),
            },
            "licenses": [
                {"id": number, "name": name, "url": "", "attribution": attribution}
                for (name, attribution), number in self.licences.items()
            ],
            "categories": self.categories,
            "images": list(self.images.values()),
            "crops": list(self.crops.values()),
        }


def box_annotations(record: Record, category_id: int, first_id: int) -> Iterable[dict[str, Any]]:
    """The record's boxes as COCO annotations, numbered from ``first_id``."""
    label = record["label"]
    attributes = {
        "verdict": label.get("verdict"),
        "categories": list(label.get("categories") or ()),
        "symbol": SYMBOL in (label.get("modifiers") or ()),
        "modifiers": list(label.get("modifiers") or ()),
        "rater": record["rater"].get("id"),
        "confidence": label.get("confidence"),
        "item_id": record["item"]["id"],
        "annotation_id": label.get("annotation_id"),
        "revision": label.get("revision"),
        "current": label.get("current"),
        "counted": label.get("counted"),
    }
    for number, box in enumerate(label.get("boxes_in_image") or (), start=first_id):
        x, y, w, h = box["x"], box["y"], box["w"], box["h"]
        yield {
            "id": number,
            "image_id": record["image"]["id"],
            "category_id": category_id,
            "bbox": [x, y, w, h],
            "area": w * h,
            "iscrowd": 0,
            # The box as a polygon, for tools that draw or rasterise segmentations.
            "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
            "attributes": {**attributes, "pane": box.get("pane")},
        }


def write_coco(
    records: Iterable[Record],
    out: BinaryIO,
    progress: Progress | None,
    fields: Sequence[Field],
) -> int:
    """The COCO document of a study's records (``fields`` are the study's: this format reads
    its sections by name); returns how many records it read."""
    document = _Document()
    written = boxes = 0
    out.write(b'{"annotations": [')
    for record in counted(records, progress):
        document.take(record)
        category_id = document.category_of(record["label"])
        for annotation in box_annotations(record, category_id, first_id=boxes + 1):
            out.write(b",\n" if boxes else b"\n")
            out.write(_ENCODER.encode(annotation).encode())
            boxes += 1
        written += 1
    out.write(b"\n],\n")
    rest = _ENCODER.encode(document.rest())
    out.write(rest[1:].encode())  # the other members, after the annotations' "," (no "{")
    return written
