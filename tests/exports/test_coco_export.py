"""A study exported as COCO loads in pycocotools: every box of every record is an annotation on
its original image at the right place, with who drew it and how, and the categories are the
taxonomy's; a study with no boxes is still valid COCO."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from pycocotools.coco import COCO
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.domain.exports import formats
from app.domain.exports.coco import UNCATEGORISED
from app.domain.exports.schema import SECTIONS, Record
from app.exports import service as export_service
from app.studies.models import Study
from tests.exports.helpers import jsonl_records


def _load(path: Path) -> COCO:
    return COCO(str(path))  # fails on a malformed document


def _write_coco(records: list[Record], path: Path) -> int:
    with path.open("wb") as out:
        return formats.get("coco").write(records, out, None)


def test_the_boxes_load_in_pycocotools_on_their_original_images(
    labelled_study: dict[str, Any], committed_db: Engine, tmp_path: Path
) -> None:
    study_id = labelled_study["study_id"]
    out = tmp_path / "study.coco.json"
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        written = export_service.export_study(session, study, out, format_name="coco")
    records = jsonl_records(committed_db, study_id)
    assert written == len(records)
    coco = _load(out)

    taxonomy = records[0]["study"]["taxonomy_categories"]
    category_keys = [c["key"] for c in taxonomy if c["kind"] == "category"]
    categories = coco.loadCats(coco.getCatIds())
    assert [c["name"] for c in categories] == [*category_keys, UNCATEGORISED]
    assert "symbol" not in {c["name"] for c in categories}  # a modifier, not a category
    category_name = {c["id"]: c["name"] for c in categories}

    expected = {
        (
            r["label"]["annotation_id"],
            r["image"]["id"],
            (box["x"], box["y"], box["w"], box["h"]),
        ): r
        for r in records
        for box in r["label"]["boxes_in_image"]
    }
    assert expected  # the seer drew a box on every item
    annotations = coco.loadAnns(coco.getAnnIds())
    assert len(annotations) == len(expected)
    for annotation in annotations:
        attributes = annotation["attributes"]
        key = (attributes["annotation_id"], annotation["image_id"], tuple(annotation["bbox"]))
        record = expected[key]
        label = record["label"]
        x, y, w, h = annotation["bbox"]
        assert annotation["area"] == w * h and annotation["iscrowd"] == 0
        assert 0 <= x <= x + w <= record["image"]["width"]
        assert 0 <= y <= y + h <= record["image"]["height"]
        # The box lies inside the crop the rater saw, in original-image pixels.
        item = record["item"]
        assert item["x"] <= x and x + w <= item["x"] + item["size"]
        first_in_taxonomy = next(k for k in category_keys if k in label["categories"])
        assert category_name[annotation["category_id"]] == first_in_taxonomy
        assert attributes["categories"] == label["categories"]
        assert attributes["symbol"] is True and attributes["verdict"] == "miscompression"
        assert attributes["pane"] == "reconstruction"  # named, never A or B
        assert attributes["rater"] == record["rater"]["id"] == "R01"
        assert attributes["confidence"] == 4 and attributes["item_id"] == item["id"]
        assert attributes["revision"] == label["revision"]
        assert annotation["id"] in coco.getAnnIds(imgIds=[annotation["image_id"]])
    revised = [
        a for a in annotations if a["attributes"]["annotation_id"] == labelled_study["revised"]
    ]
    assert [category_name[a["category_id"]] for a in revised] == ["amplitude"]

    image_ids = {r["image"]["id"] for r in records}
    assert set(coco.getImgIds()) == image_ids
    for image in coco.loadImgs(coco.getImgIds()):
        record = next(r for r in records if r["image"]["id"] == image["id"])
        assert image["file_name"] == record["image"]["filename"]
        assert (image["width"], image["height"]) == (
            record["image"]["width"],
            record["image"]["height"],
        )
        assert image["sha256"] == record["image"]["sha256"]
        assert image["dataset"] == record["image"]["dataset"]
    document = json.loads(out.read_text(encoding="utf-8"))
    licences = {licence["id"]: licence for licence in document["licenses"]}
    for image in document["images"]:
        record = next(r for r in records if r["image"]["id"] == image["id"])
        assert licences[image["license"]]["name"] == record["image"]["license"]
    crops = {crop["id"]: crop for crop in document["crops"]}
    assert set(crops) == {r["item"]["id"] for r in records}
    for record in records:
        item = record["item"]
        assert crops[item["id"]]["image_id"] == record["image"]["id"]
        assert crops[item["id"]]["bbox"] == [item["x"], item["y"], item["size"], item["size"]]

    # The same study with no box drawn is still COCO: images and categories, no annotation.
    for record in records:
        record["label"]["boxes_in_image"] = []
    assert _write_coco(records, tmp_path / "no-boxes.json") == len(records)
    empty = _load(tmp_path / "no-boxes.json")
    assert empty.getAnnIds() == [] and set(empty.getImgIds()) == image_ids
    assert [c["name"] for c in empty.loadCats(empty.getCatIds())][:-1] == category_keys


def test_a_box_with_no_category_named_and_an_empty_export(tmp_path: Path) -> None:
    record: Record = {section: {} for section in SECTIONS}
    record["study"].update(
        id=7,
        name="by hand",
        taxonomy_categories=[
            {"key": "shape", "kind": "category"},
            {"key": "symbol", "kind": "modifier"},
        ],
    )
    record["image"].update(
        id=3, filename="a.png", width=100, height=80, sha256="ab", dataset="d", license="CC0"
    )
    record["item"].update(id=11, x=10, y=20, size=32, kind="crop", method="random")
    record["label"].update(
        annotation_id=5,
        verdict="unsure",
        categories=[],
        modifiers=[],
        boxes_in_image=[{"pane": "jpeg", "x": 12, "y": 22, "w": 4, "h": 5}],
    )
    record["rater"].update(id="R01")
    out = io.BytesIO()
    assert formats.get("coco").write([record], out, None) == 1
    (tmp_path / "one.json").write_bytes(out.getvalue())
    coco = _load(tmp_path / "one.json")
    (annotation,) = coco.loadAnns(coco.getAnnIds(imgIds=[3]))
    assert annotation["bbox"] == [12, 22, 4, 5] and annotation["area"] == 20
    assert coco.loadCats([annotation["category_id"]])[0]["name"] == UNCATEGORISED
    assert annotation["attributes"]["symbol"] is False
    assert annotation["attributes"]["pane"] == "jpeg"
    assert coco.annToMask(annotation).sum() > 0  # the segmentation rasterises

    assert _write_coco([], tmp_path / "none.json") == 0
    nothing = _load(tmp_path / "none.json")
    assert nothing.getAnnIds() == [] and nothing.getImgIds() == []
