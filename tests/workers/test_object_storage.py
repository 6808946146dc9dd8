"""Media on S3 end to end: a Celery worker that shares no folder with the web (a subprocess
with a media root and var folder of its own) codes a run into the bucket, and the web serves
its images, the result viewer's included, from there."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app import cli
from app.datasets.models import Image
from app.object_storage import S3MediaStorage
from app.storage import media_storage
from tests.conftest import login_new_admin
from tests.s3 import S3Media
from tests.workers.helpers import (
    dataset_with_images,
    run_status,
    start_worker,
    stop_process,
    wait_for,
)

pytestmark = pytest.mark.worker
MEDIA_URL = re.compile(r"/media/[A-Za-z0-9/_.-]+\.(?:png|jpg)")


def test_a_run_coded_on_a_worker_lands_in_the_bucket_and_the_web_serves_it(
    s3_media: S3Media, committed_db: Engine, committed_client: TestClient, tmp_path: Path
) -> None:
    storage = media_storage(s3_media.settings)
    assert isinstance(storage, S3MediaStorage)
    dataset_id = dataset_with_images(committed_db, 1)
    csrf = {"X-CSRF-Token": login_new_admin(committed_client, committed_db)}
    created = committed_client.post(
        "/api/runs",
        headers=csrf,
        json={"dataset_id": dataset_id, "codec": "miscomp-mbt-low", "params": {}},
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    assert created.json()["match_jpeg"] is True

    # Another machine, as far as files go: its own media root and var folder, the bucket's
    # settings from the environment it inherits.
    worker_media = tmp_path / "worker-media"
    worker = start_worker(
        {
            **os.environ,
            "MISCOMP_MEDIA_ROOT": str(worker_media),
            "MISCOMP_VAR_DIR": str(tmp_path / "worker-var"),
        }
    )
    try:
        wait_for(lambda: run_status(committed_db, run_id) == "done", 240, "the run on S3")
    finally:
        stop_process(worker, signal.SIGTERM)

    report = committed_client.get(f"/api/runs/{run_id}").json()
    (result,) = report["results"]
    assert result["status"] == "done", result["error"]
    maps = {name: key for name, key in result["maps"].items() if name != "difference_gain"}
    assert {"difference", "ssim", "ciede2000", "ssim_raw", "ciede2000_raw"} <= set(maps)
    with Session(committed_db) as session:
        image = session.query(Image).filter_by(dataset_id=dataset_id).one()
        image_id, original_key = image.id, image.storage_key
        image_keys = {original_key, image.thumbnail_key}
    artefacts = {result["recon_path"], result["jpeg_path"], *maps.values()}
    in_bucket = {key.removeprefix(s3_media.prefix) for key in s3_media.server.keys(s3_media.prefix)}
    assert artefacts | image_keys <= in_bucket
    assert not [p for p in worker_media.rglob("*") if p.is_file()], "the worker wrote no file"
    web_media = s3_media.settings.media_root
    assert not [key for key in artefacts | image_keys if (web_media / key).exists()]

    for kind, key in {
        "reconstruction": result["recon_path"],
        "jpeg": result["jpeg_path"],
        **{name: maps[name] for name in ("difference", "ssim", "ciede2000")},
    }.items():
        served = committed_client.get(f"/media/results/{result['id']}/{kind}.png")
        assert served.status_code == 200, kind
        assert served.headers["content-type"] == "image/png"
        assert served.headers["content-length"] == str(len(served.content))
        assert served.content == storage.read(key), kind
    pixels = committed_client.get(f"/media/images/{image_id}/pixels.png")
    assert pixels.content == storage.read(original_key)

    # The CLI names the files where they are: in the bucket.
    shown = CliRunner().invoke(cli.app, ["runs", "show", str(run_id), "--json"])
    assert shown.exit_code == 0, shown.output
    (listed,) = json.loads(shown.output)["results"]
    bucket_url = f"s3://{s3_media.server.bucket}/{s3_media.prefix}"
    assert listed["recon_path"] == bucket_url + result["recon_path"]
    assert listed["jpeg_path"] == bucket_url + result["jpeg_path"]

    viewer = committed_client.get(f"/runs/{run_id}/results/{result['id']}")
    assert viewer.status_code == 200
    named = set(MEDIA_URL.findall(viewer.text))
    assert f"/media/results/{result['id']}/reconstruction.png" in named
    assert f"/media/results/{result['id']}/jpeg.png" in named
    for url in named:
        served = committed_client.get(url)
        assert served.status_code == 200 and served.content, url

    # An object lost from the bucket is a plain 404, not a server error.
    s3_media.server.client().delete_object(
        Bucket=s3_media.server.bucket, Key=s3_media.prefix + maps["difference"]
    )
    lost = committed_client.get(f"/media/results/{result['id']}/difference.png")
    assert lost.status_code == 404 and "missing from the media storage" in lost.text
