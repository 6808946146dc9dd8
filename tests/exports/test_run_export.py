"""A researcher exports a codec run: one row per result with the image, the codec, bits, bpp,
times, every metric the run measured and the matched JPEG, equal to the database, as CSV
(read with pandas) and as Parquet (read with pyarrow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app import cli
from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Image
from app.domain.exports.run_schema import RESULT_FIELDS
from app.exports.runs import run_columns
from tests.studies.helpers import finished_run

ROOT = Path(__file__).resolve().parents[2]


def _export(run_id: int, out: Path, format_name: str) -> Any:
    result = CliRunner().invoke(
        cli.app, ["runs", "export", str(run_id), "--format", format_name, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return result


def _results(engine: Engine, run_id: int) -> list[tuple[CodecResult, Image, CodecRun]]:
    with Session(engine, expire_on_commit=False) as session:
        rows = session.execute(
            select(CodecResult, Image, CodecRun)
            .join(Image, Image.id == CodecResult.image_id)
            .join(CodecRun, CodecRun.id == CodecResult.run_id)
            .where(CodecResult.run_id == run_id)
            .order_by(CodecResult.image_id, CodecResult.seed)
        )
        return [(result, image, run) for result, image, run in rows]


def _check_row(row: dict[str, Any], result: CodecResult, image: Image, run: CodecRun) -> None:
    """One exported row against its result, image and run (CSV cells or Parquet values)."""
    assert int(row["image.id"]) == image.id and row["image.filename"] == image.filename
    assert row["image.sha256"] == image.pixels_sha256
    assert (int(row["image.width"]), int(row["image.height"])) == (image.width, image.height)
    assert int(row["run.id"]) == run.id and row["run.codec"] == run.codec == "jpeg"
    assert json.loads(row["run.params"]) == run.params
    assert int(row["result.id"]) == result.id and int(row["result.seed"]) == result.seed
    assert row["result.status"] == result.status == "done"
    assert int(row["result.bits"]) == result.bits
    assert float(row["result.bpp"]) == pytest.approx(result.bpp)
    assert row["result.bits_source"] == result.bits_source
    assert float(row["result.encode_s"]) == pytest.approx(result.encode_s)
    assert float(row["result.decode_s"]) == pytest.approx(result.decode_s)
    assert row["result.device"] == result.device
    assert result.metrics and result.jpeg_metrics
    for name, value in result.metrics.items():
        assert float(row[f"metrics.{name}"]) == pytest.approx(value), name
    for name, value in result.jpeg_metrics.items():
        assert float(row[f"jpeg_metrics.{name}"]) == pytest.approx(value), name
    assert row["jpeg.status"] == result.jpeg_status
    assert float(row["jpeg.target_bpp"]) == pytest.approx(result.jpeg_target_bpp)
    assert int(row["jpeg.quality"]) == result.jpeg_quality
    assert float(row["jpeg.bpp"]) == pytest.approx(result.jpeg_bpp)


def test_a_run_exports_as_csv_and_parquet_equal_to_the_database(
    committed_db: Engine, tmp_path: Path
) -> None:
    run_id = finished_run(committed_db)
    rows = _results(committed_db, run_id)
    assert len(rows) == 2
    with Session(committed_db) as session:
        columns = run_columns(session, run_id)
    metric_names = sorted({name for result, _, _ in rows for name in result.metrics})
    assert list(columns.metrics) == metric_names and "psnr_rgb" in metric_names
    expected_columns = [f.column for f in columns.fields]
    assert [c for c in expected_columns if c.startswith("metrics.")] == [
        f"metrics.{name}" for name in metric_names
    ]

    csv_out = tmp_path / "run.csv"
    printed = _export(run_id, csv_out, "csv")
    assert f"wrote 2 results to {csv_out}" in printed.output
    frame = pd.read_csv(csv_out, keep_default_na=False, dtype=str)
    assert list(frame.columns) == expected_columns
    assert len(frame) == len(rows)
    for (_, row), (result, image, run) in zip(frame.iterrows(), rows, strict=True):
        _check_row(row.to_dict(), result, image, run)
        assert row["result.error"] == ""  # a missing value is an empty cell

    parquet_out = tmp_path / "run.parquet"
    _export(run_id, parquet_out, "parquet")
    table = pq.read_table(parquet_out)
    assert table.schema.names == expected_columns
    assert table.schema.field("result.bpp").type == pa.float64()
    assert table.schema.field("result.bits").type == pa.int64()
    assert table.schema.field("metrics.psnr_rgb").type == pa.float64()
    assert table.schema.field("jpeg_metrics.psnr_rgb").type == pa.float64()
    assert table.schema.field("run.params").type == pa.string()
    assert table.num_rows == len(rows)
    for row, (result, image, run) in zip(table.to_pylist(), rows, strict=True):
        _check_row(row, result, image, run)
        assert row["result.error"] is None


def test_the_command_refuses_a_study_format_and_a_missing_run(
    committed_db: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "run.json"
    refused = CliRunner().invoke(
        cli.app, ["runs", "export", "1", "--format", "coco", "--out", str(out)]
    )
    assert refused.exit_code == 1
    assert "the coco format exports studies only; a run exports to: csv, jsonl, parquet" in (
        refused.output
    )
    missing = CliRunner().invoke(cli.app, ["runs", "export", "999999", "--out", str(out)])
    assert missing.exit_code == 1 and "codec run 999999 not found" in missing.output
    assert not out.exists()


def test_the_run_columns_are_documented() -> None:
    documented = (ROOT / "docs" / "exports.md").read_text().split("\n## Codec runs\n")[1]
    missing = [f.column for f in RESULT_FIELDS if f"`{f.column}`" not in documented]
    assert missing == []
    assert "`metrics.<name>`" in documented and "`jpeg_metrics.<name>`" in documented
