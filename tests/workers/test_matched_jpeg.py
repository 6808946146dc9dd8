"""A reconstruction whose bpp JPEG cannot reach gets the nearest JPEG of the quality ladder,
stored and marked unreachable (below or above the ladder), never passed off as a match: in
the database, the API and the run page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.config import get_settings
from app.datasets.models import Image
from app.domain.codecs.classical import JpegCodec
from app.storage import LocalMediaStorage, load_rgb
from tests.conftest import login_new_admin
from tests.studies.helpers import finished_run


def test_targets_outside_jpegs_range_are_stored_and_shown_as_unreachable(
    committed_client: TestClient, committed_db: Engine
) -> None:
    # WebP at quality 0 spends fewer bits than JPEG at quality 1 (whose headers and tables
    # alone are about 0.1 bpp here); JPEG at quality 100 without chroma subsampling spends
    # more than the matched JPEG's ladder (4:2:0, the default) at its top.
    below = finished_run(committed_db, "webp", {"quality": 0})
    with Session(committed_db) as session:
        dataset_id = session.get(CodecRun, below).dataset_id  # type: ignore[union-attr]
    above = finished_run(
        committed_db, "jpeg", {"quality": 100, "subsampling": "4:4:4"}, dataset_id=dataset_id
    )
    storage = LocalMediaStorage(get_settings().media_root)
    login_new_admin(committed_client, committed_db)
    for run_id, status, ladder_end, side in (
        (below, "unreachable_below", 1, "lowest quality is above"),
        (above, "unreachable_above", 100, "highest quality is below"),
    ):
        with Session(committed_db, expire_on_commit=False) as session:
            results = session.execute(
                select(CodecResult, Image)
                .join(Image, Image.id == CodecResult.image_id)
                .where(CodecResult.run_id == run_id)
            ).all()
        assert len(results) == 2
        for result, image in results:
            assert (result.status, result.jpeg_status) == ("done", status)
            assert result.bpp is not None and result.jpeg_target_bpp == result.bpp
            # The status is true of JPEG itself: its ladder's end misses the target.
            end = JpegCodec(quality=ladder_end).encode_decode(load_rgb(storage, image.storage_key))
            assert (end.bpp() > result.bpp) is (status == "unreachable_below")
            # The nearest JPEG is kept and measured: studies can still show it.
            assert result.jpeg_quality is not None and result.jpeg_bpp is not None
            assert result.jpeg_key is not None and storage.exists(result.jpeg_key)
            assert result.jpeg_metrics["psnr_rgb"] > 0
        report = committed_client.get(f"/api/runs/{run_id}").json()
        assert {(r["jpeg_status"], r["jpeg_path"]) for r in report["results"]} == {
            (status, result.jpeg_key) for result, _ in results
        }
        page = committed_client.get(f"/runs/{run_id}").text
        for result, _ in results:
            shown = (
                f'<span data-testid="jpeg-unreachable">(unreachable: JPEG\'s {side} the'
                f" {result.bpp:.4f} bpp target; the nearest is shown)</span>"
            )
            assert shown in page.replace("&#39;", "'")
