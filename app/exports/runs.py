"""A codec run's results as export records (``app.domain.exports.run_schema``), streamed.

Results are read a chunk at a time with their images, so memory does not grow with the run;
a first pass over the metrics alone finds which metric columns the run has.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Image
from app.domain.exports.run_schema import JPEG_METRICS_SECTION, METRICS_SECTION, run_fields
from app.domain.exports.schema import Field, Record

RESULTS_PER_CHUNK = 1000


@dataclass(frozen=True)
class RunColumns:
    """The metrics a run measured, by name: the reconstructions' and the matched JPEGs'."""

    metrics: tuple[str, ...]
    jpeg_metrics: tuple[str, ...]

    @property
    def fields(self) -> tuple[Field, ...]:
        return run_fields(self.metrics, self.jpeg_metrics)


def run_columns(session: Session, run_id: int) -> RunColumns:
    """Every metric name any result of the run has (JSON keys, read on any database)."""
    metrics: set[str] = set()
    jpeg_metrics: set[str] = set()
    rows = session.execute(
        select(CodecResult.metrics, CodecResult.jpeg_metrics)
        .where(CodecResult.run_id == run_id)
        .execution_options(yield_per=RESULTS_PER_CHUNK)
    )
    for measured, jpeg_measured in rows:
        metrics.update(measured or ())
        jpeg_metrics.update(jpeg_measured or ())
    return RunColumns(tuple(sorted(metrics)), tuple(sorted(jpeg_metrics)))


def count_results(session: Session, run_id: int) -> int:
    """How many records :func:`run_records` yields (for a progress bar)."""
    return int(session.scalar(select(func.count()).where(CodecResult.run_id == run_id)) or 0)


def run_records(session: Session, run: CodecRun) -> Iterator[Record]:
    """One record per result, by image, then seed."""
    run_part = {"id": run.id, "codec": run.codec, "params": run.params}
    result_ids = list(
        session.scalars(
            select(CodecResult.id)
            .where(CodecResult.run_id == run.id)
            .order_by(CodecResult.image_id, CodecResult.seed)
        )
    )
    for start in range(0, len(result_ids), RESULTS_PER_CHUNK):
        chunk = result_ids[start : start + RESULTS_PER_CHUNK]
        rows = session.execute(
            select(CodecResult, Image)
            .join(Image, Image.id == CodecResult.image_id)
            .where(CodecResult.id.in_(chunk))
            .order_by(CodecResult.image_id, CodecResult.seed)
        )
        for result, image in rows:
            yield _result_record(run_part, result, image)
        session.expunge_all()  # constant memory: nothing of this chunk is needed again


def _result_record(run_part: dict[str, Any], result: CodecResult, image: Image) -> Record:
    return {
        "image": {
            "id": image.id,
            "filename": image.filename,
            "sha256": image.pixels_sha256,
            "width": image.width,
            "height": image.height,
        },
        "run": run_part,
        "result": {
            "id": result.id,
            "seed": result.seed,
            "status": result.status,
            "error": result.error,
            "bits": result.bits,
            "bpp": result.bpp,
            "bits_source": result.bits_source,
            "encode_s": result.encode_s,
            "decode_s": result.decode_s,
            "device": result.device,
        },
        METRICS_SECTION: dict(result.metrics or {}),
        "jpeg": {
            "status": result.jpeg_status,
            "target_bpp": result.jpeg_target_bpp,
            "quality": result.jpeg_quality,
            "bpp": result.jpeg_bpp,
        },
        JPEG_METRICS_SECTION: dict(result.jpeg_metrics or {}),
    }
