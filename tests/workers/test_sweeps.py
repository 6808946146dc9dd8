"""A sweep end to end: queued through the API, coded by a real Celery worker, drawn as one
curve per codec with its BD-rate against JPEG on the dataset page, per image on the image
page, and returned by the API."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.datasets.models import Image
from tests.conftest import login_new_admin
from tests.workers.helpers import dataset_with_images, run_status, wait_for

pytestmark = pytest.mark.worker
JPEG_LABEL = "jpeg (optimize=False, progressive=False, subsampling=4:2:0)"


def test_sweeps_make_curves_with_bd_rates_against_jpeg(
    committed_client: TestClient, committed_db: Engine, celery_worker_thread: None
) -> None:
    dataset_id = dataset_with_images(committed_db, 2)
    csrf = {"X-CSRF-Token": login_new_admin(committed_client, committed_db)}
    sweeps = []
    for codec, values in (("jpeg", "ladder"), ("webp", [10, 30, 50, 80])):
        response = committed_client.post(
            "/api/sweeps",
            headers=csrf,
            json={
                "dataset_id": dataset_id,
                "codec": codec,
                "maps": [],
                "sweep": {"param": "quality", "values": values},
            },
        )
        assert response.status_code == 201, response.text
        sweeps.append(response.json())
    run_ids = [run["id"] for sweep in sweeps for run in sweep["runs"]]
    assert len(run_ids) == 7 + 4
    for run_id in run_ids:
        wait_for(lambda r=run_id: run_status(committed_db, r) == "done", what=f"run {run_id}")

    report = committed_client.get(f"/api/datasets/{dataset_id}/rd").json()
    curves = {c["label"]: c for c in report["curves"]}
    assert set(curves) == {JPEG_LABEL, "webp (method=4)"}
    assert len(curves[JPEG_LABEL]["bpp"]) == 7 and len(curves["webp (method=4)"]["bpp"]) == 4
    assert report["anchor"] == JPEG_LABEL and report["method"].startswith("Bjøntegaard")
    (row,) = report["bd"]
    assert (row["label"], row["anchor"], row["points"], row["reason"]) == (
        "webp (method=4)",
        JPEG_LABEL,
        4,
        None,
    )
    assert math.isfinite(row["bd_rate_percent"]) and math.isfinite(row["bd_psnr_db"])
    # More bits for the same quality go with less quality for the same bits.
    assert (row["bd_rate_percent"] < 0) == (row["bd_psnr_db"] > 0)

    page = committed_client.get(f"/datasets/{dataset_id}").text
    assert 'data-testid="bd-table"' in page and f"{row['bd_rate_percent']:+.1f} %" in page
    assert f"/datasets/{dataset_id}/rd.svg" in page
    svg = committed_client.get(f"/datasets/{dataset_id}/rd.svg").text
    assert JPEG_LABEL in svg and "webp (method=4)" in svg

    with Session(committed_db) as session:
        image_id = session.scalars(
            select(Image.id).where(Image.dataset_id == dataset_id).order_by(Image.id)
        ).first()
    image_report = committed_client.get(f"/api/images/{image_id}/rd").json()
    assert image_report["image_id"] == image_id
    assert [len(c["bpp"]) for c in image_report["curves"]] == [7, 4]
    assert image_report["bd"][0]["bd_rate_percent"] != row["bd_rate_percent"]
    image_page = committed_client.get(f"/images/{image_id}").text
    assert f"/images/{image_id}/rd.svg" in image_page and 'data-testid="bd-table"' in image_page
    image_svg = committed_client.get(f"/images/{image_id}/rd.svg")
    assert image_svg.headers["content-type"] == "image/svg+xml" and "webp" in image_svg.text
