"""A study exported to Parquet reads back, with its documented types, in pyarrow, pandas and
Hugging Face ``datasets``, and holds what the JSONL export of the same study holds."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.domain.exports import formats, parquet
from app.domain.exports.schema import FIELDS, SECTIONS, Record
from app.exports import service as export_service
from app.studies.models import Study
from tests.exports.helpers import hf_dataset, jsonl_records


def _export_parquet(engine: Engine, study_id: int, out: Path) -> int:
    with Session(engine) as session:
        study = session.get(Study, study_id)
        assert study is not None
        return export_service.export_study(session, study, out, format_name="parquet")


def test_the_parquet_file_reads_back_everywhere_with_the_documented_schema(
    labelled_study: dict[str, Any],
    committed_db: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study_id = labelled_study["study_id"]
    out = tmp_path / "study.parquet"
    written = _export_parquet(committed_db, study_id, out)
    expected = {r["label"]["annotation_id"]: r for r in jsonl_records(committed_db, study_id)}
    assert written == len(expected) > 0

    schema = pq.read_schema(out)
    assert schema.names == [f.column for f in FIELDS]
    assert schema.equals(parquet.arrow_schema(FIELDS))  # metadata too: kind and meaning
    assert schema.field("study.id").type == pa.int64()
    assert schema.field("item.score").type == pa.float64()
    assert schema.field("study.blind").type == pa.bool_()
    assert schema.field("label.categories").type == pa.list_(pa.string())
    assert schema.field("codec.metrics").type == pa.string()
    assert schema.field("label.submitted_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("label.note").metadata[b"description"] == b"The rater's note."

    table = pq.read_table(out)
    assert table.num_rows == len(expected)
    for row in table.to_pylist():
        record = expected[row["label.annotation_id"]]
        assert row["image.sha256"] == record["image"]["sha256"]
        assert row["image.filename"] == record["image"]["filename"]
        assert row["study.name"] == record["study"]["name"]
        assert row["item.id"] == record["item"]["id"]
        assert (row["item.x"], row["item.y"]) == (record["item"]["x"], record["item"]["y"])
        assert row["codec.result_id"] == record["codec"].get("result_id")
        assert row["codec.bpp"] == pytest.approx(record["codec"].get("bpp"))
        assert json.loads(row["codec.params"] or "null") == record["codec"].get("params")
        assert json.loads(row["label.boxes_in_image"]) == record["label"]["boxes_in_image"]
        assert row["label.categories"] == record["label"]["categories"]
        assert row["study.crop_sizes"] == [str(s) for s in record["study"]["crop_sizes"]]
        assert row["label.submitted_at"] == datetime.fromisoformat(record["label"]["submitted_at"])
        assert row["rater.id"] == record["rater"]["id"]
        assert row["adjudication.verdict"] == record["adjudication"].get("verdict")

    frame = pd.read_parquet(out)
    assert list(frame.columns) == [f.column for f in FIELDS] and len(frame) == len(expected)
    revised = frame[frame["label.annotation_id"] == labelled_study["revised"]].iloc[0]
    assert list(revised["label.categories"]) == ["amplitude", "shape"]
    assert revised["label.note"] == "Ziffer geändert — 数字"
    assert revised["label.confidence"] == 4 and bool(revised["label.current"]) is True
    assert str(frame["label.submitted_at"].dtype) == "datetime64[us, UTC]"

    dataset = hf_dataset(out, tmp_path, monkeypatch)
    assert dataset.num_rows == len(expected)
    assert dataset.column_names == [f.column for f in FIELDS]
    assert set(dataset["label.annotation_id"]) == set(expected)
    assert dataset.features["label.categories"].feature.dtype == "string"
    for row in dataset:
        record = expected[row["label.annotation_id"]]
        assert row["image.sha256"] == record["image"]["sha256"]
        assert row["label.verdict"] == record["label"]["verdict"]


def _record(number: int) -> Record:
    record: Record = {section: {} for section in SECTIONS}
    record["study"].update(id=1, name="by hand", crop_sizes=[64, 128], blind=True)
    record["label"].update(
        annotation_id=number,
        categories=["shape"],
        boxes=[{"pane": "reconstruction", "x": 1, "y": 2, "w": 3, "h": 4}],
        submitted_at="2026-11-25T12:10:00+00:00",  # as a record read back from JSON holds it
    )
    return record


def test_records_are_written_a_row_group_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet, "ROWS_PER_GROUP", 10)
    out = io.BytesIO()
    seen: list[int] = []
    assert formats.get("parquet").write((_record(n) for n in range(25)), out, seen.append) == 25
    file = pq.ParquetFile(io.BytesIO(out.getvalue()))
    assert file.metadata.num_row_groups == 3 and file.metadata.num_rows == 25
    assert [file.metadata.row_group(g).num_rows for g in range(3)] == [10, 10, 5]
    assert seen[-1] == 25
    rows = file.read().to_pylist()
    assert [r["label.annotation_id"] for r in rows] == list(range(25))
    assert rows[0]["study.crop_sizes"] == ["64", "128"]
    assert rows[0]["item.id"] is None and rows[0]["label.confidence"] is None
    assert json.loads(rows[0]["label.boxes"])[0]["pane"] == "reconstruction"
    assert rows[0]["label.submitted_at"].isoformat() == "2026-11-25T12:10:00+00:00"


def test_an_empty_export_is_a_valid_file_with_the_schema() -> None:
    out = io.BytesIO()
    assert formats.get("parquet").write([], out, None) == 0
    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert table.num_rows == 0 and table.schema.equals(parquet.arrow_schema(FIELDS))
