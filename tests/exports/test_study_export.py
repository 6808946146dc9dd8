"""A researcher exports a study's annotations: every provenance field of every record matches
the database, panes are named (never by the A/B label a rater saw), revisions and
adjudications are there, raters are pseudonyms unless names are asked for, and a file
appears only once it is complete."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app import cli
from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Dataset, Image
from app.domain.exports.schema import FIELDS
from app.exports.records import ExportOptions, count_records
from app.exports.service import write_atomically
from app.studies.models import Annotation, Assignment, Study, StudyItem
from app.users.models import User
from tests.exports.helpers import export_bytes, jsonl_records, label_everything
from tests.studies.helpers import blind_study, finished_run

ROOT = Path(__file__).resolve().parents[2]


def test_every_record_matches_the_database(
    labelled_study: dict[str, Any], committed_db: Engine
) -> None:
    study_id = labelled_study["study_id"]
    records = jsonl_records(committed_db, study_id)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        annotations = list(
            session.scalars(select(Annotation).where(Annotation.study_id == study_id))
        )
        assert len(records) == len(annotations) == count_records(session, study, ExportOptions())
        assert {r["label"]["annotation_id"] for r in records} == {a.id for a in annotations}
        pseudonyms = set()
        for record in records:
            annotation = session.get(Annotation, record["label"]["annotation_id"])
            assert annotation is not None
            item = session.get(StudyItem, annotation.item_id)
            lease = session.get(Assignment, annotation.assignment_id)
            assert item is not None and lease is not None
            image = session.get(Image, item.image_id)
            assert image is not None
            dataset = session.get(Dataset, image.dataset_id)
            result = session.get(CodecResult, item.result_id) if item.result_id else None
            assert record["study"]["name"] == study.name  # not Latin-1, intact
            assert record["study"]["blind"] is labelled_study["blind"]
            assert record["study"]["raters_per_item"] == 2
            assert {c["key"] for c in record["study"]["taxonomy_categories"]} >= {
                "amplitude", "geometry", "shape", "symbol",
            }  # fmt: skip
            assert (record["item"]["id"], record["item"]["kind"]) == (item.id, item.kind)
            assert (record["item"]["x"], record["item"]["y"]) == (item.x, item.y)
            assert record["item"]["size"] == item.size
            assert record["item"]["share_percent"] == pytest.approx(item.share_percent)
            assert record["item"]["inclusion_probability"] == item.inclusion_probability
            assert record["image"]["sha256"] == image.pixels_sha256
            assert record["image"]["filename"] == image.filename
            assert dataset is not None and record["image"]["dataset"] == dataset.name
            assert (record["image"]["width"], record["image"]["height"]) == (
                image.width,
                image.height,
            )
            if result is not None:
                run = session.get(CodecRun, result.run_id)
                assert run is not None
                assert record["codec"]["name"] == run.codec == "jpeg"
                assert record["codec"]["params"] == run.params
                assert record["codec"]["bpp"] == pytest.approx(result.bpp)
                assert record["codec"]["jpeg_bpp"] == pytest.approx(result.jpeg_bpp)
                assert record["codec"]["metrics"] == result.metrics and result.metrics
                assert record["codec"]["jpeg_metrics"] == result.jpeg_metrics
            label = record["label"]
            assert label["verdict"] == annotation.verdict
            assert label["current"] is True and label["revision"] == annotation.revision
            assert label["counted"] is (item.kind == "crop" and not annotation.late)
            assert label["pane_map"] == lease.pane_map
            if annotation.verdict == "miscompression":
                # Named panes, whatever the rater saw them as.
                assert label["seen_in"] == ["reconstruction"]
                assert label["boxes"] == [
                    {"pane": "reconstruction", "x": 3, "y": 4, "w": 10, "h": 6}
                ]
                assert label["boxes_in_image"] == [
                    {"pane": "reconstruction", "x": 3 + item.x, "y": 4 + item.y, "w": 10, "h": 6}
                ]
                assert label["note"] == "Ziffer geändert — 数字"
                assert (label["confidence"], label["time_spent_ms"]) == (4, 5400)
                assert label["compressed_shows"] == "an 8"
            assert record["rater"]["name"] is None
            pseudonyms.add(record["rater"]["id"])
            if item.id == labelled_study["adjudicated"]:
                assert record["adjudication"]["verdict"] == "miscompression"
                assert record["adjudication"]["categories"] == ["shape"]
            else:
                assert record["adjudication"] == {}
            if item.kind == "crop":
                assert record["agreement"]["counted_ratings"] == 2
                assert record["agreement"]["verdict_agreement"] == 0.0
        assert pseudonyms == {"R01", "R02"}
        revised = next(
            r for r in records if r["label"]["annotation_id"] == labelled_study["revised"]
        )
        assert revised["label"]["revision"] == 2
        assert revised["label"]["categories"] == ["amplitude", "shape"]


def test_every_revision_and_names_on_request(
    labelled_study: dict[str, Any], committed_db: Engine
) -> None:
    study_id = labelled_study["study_id"]
    records = jsonl_records(committed_db, study_id, all_revisions=True, names=True)
    history = [
        r["label"] for r in records if r["label"]["annotation_id"] == labelled_study["revised"]
    ]
    assert [(h["revision"], h["current"], h["counted"]) for h in history] == [
        (1, False, False),
        (2, True, True),
    ]
    assert [h["categories"] for h in history] == [["shape"], ["amplitude", "shape"]]
    assert history[0]["submitted_at"] <= history[1]["submitted_at"]
    with Session(committed_db) as session:
        assert len(records) == count_records(
            session,
            session.get(Study, study_id),
            ExportOptions(all_revisions=True),  # type: ignore[arg-type]
        )
        names = {
            session.get(User, labelled_study[who].id).username: who  # type: ignore[union-attr]
            for who in ("seer", "doubter")
        }
    by_name = {r["rater"]["name"]: r["rater"]["id"] for r in records}
    assert set(by_name) == set(names)
    # Pseudonyms follow the order raters joined: the seer labelled first.
    assert by_name[next(n for n, w in names.items() if w == "seer")] == "R01"


def test_the_csv_has_the_documented_columns_and_reads_in_pandas(
    labelled_study: dict[str, Any], committed_db: Engine
) -> None:
    study_id = labelled_study["study_id"]
    data = export_bytes(committed_db, study_id, "csv")
    frame = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)
    assert list(frame.columns) == [f.column for f in FIELDS]
    jsonl = jsonl_records(committed_db, study_id)
    assert len(frame) == len(jsonl)
    row = frame[frame["label.annotation_id"] == str(labelled_study["revised"])].iloc[0]
    assert row["label.categories"] == "amplitude;shape"
    assert row["label.modifiers"] == "symbol"
    assert row["label.seen_in"] == "reconstruction"
    assert json.loads(row["label.boxes"]) == [
        {"h": 6, "pane": "reconstruction", "w": 10, "x": 3, "y": 4}
    ]
    assert row["study.name"].startswith("Étude 圧縮 Ω")
    assert row["label.note"] == "Ziffer geändert — 数字"
    assert (row["label.current"], row["label.revision"], row["label.confidence"]) == (
        "true",
        "2",
        "4",
    )
    assert row["adjudication.verdict"] in ("", "miscompression")


def test_the_column_list_is_documented() -> None:
    documented = (ROOT / "docs" / "exports.md").read_text()
    missing = [f.column for f in FIELDS if f"`{f.column}`" not in documented]
    assert missing == []


def test_an_interrupted_export_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "study.jsonl"

    def half_then_fail(temporary: Any) -> int:
        Path(temporary).write_text('{"half": ')
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        write_atomically(out, half_then_fail)
    assert list(tmp_path.iterdir()) == []
    assert write_atomically(out, lambda t: Path(t).write_text("{}\n")) == 3
    assert out.read_text() == "{}\n" and list(tmp_path.iterdir()) == [out]


def test_the_command_writes_the_file_and_refuses_an_unknown_format(
    committed_db: Engine, tmp_path: Path
) -> None:
    run_id = finished_run(committed_db)
    study_id = blind_study(committed_db, run_id, raters_per_item=2)
    label_everything(committed_db, study_id)
    out = tmp_path / "export" / "study.csv"
    result = CliRunner().invoke(
        cli.app, ["studies", "export", str(study_id), "--format", "csv", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    with Session(committed_db) as session:
        count = len(
            list(session.scalars(select(Annotation.id).where(Annotation.study_id == study_id)))
        )
    assert len(rows) == count and f"wrote {count} records" in result.output
    refused = CliRunner().invoke(
        cli.app, ["studies", "export", str(study_id), "--format", "xml", "--out", str(out)]
    )
    assert refused.exit_code == 1
    assert "unknown export format 'xml'; known: coco, csv, jsonl, parquet, bundle" in refused.output
    missing = CliRunner().invoke(cli.app, ["studies", "export", "999999", "--out", str(out)])
    assert missing.exit_code == 1 and "study 999999 not found" in missing.output
