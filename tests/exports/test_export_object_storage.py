"""Exports with media in an S3 bucket: a worker reads the originals into a bundle through
local copies of the bucket's objects, stores the finished file in the bucket, and the web
streams it to the researcher at the same download URL (no presigned bucket link)."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.domain.exports import bundle_layout as layout
from app.exports.models import ExportJob
from app.storage import export_key, media_storage
from tests.exports.helpers import api_headers, label_everything, wait_for_export
from tests.s3 import S3Media
from tests.studies.helpers import blind_study, finished_run


def test_a_bundle_with_originals_is_stored_in_the_bucket_and_downloaded_through_the_web(
    s3_media: S3Media,
    committed_client: TestClient,
    committed_db: Engine,
    request: pytest.FixtureRequest,
) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db), raters_per_item=2)
    label_everything(committed_db, study_id)
    request.getfixturevalue("celery_worker_thread")  # after the coding, as in test_bundle
    api = api_headers(committed_db)

    asked = committed_client.post(
        f"/api/studies/{study_id}/exports",
        json={"format": "bundle", "include_originals": True},
        headers=api,
    )
    assert asked.status_code == 202, asked.text
    done = wait_for_export(committed_client, asked.json()["id"], api)
    assert done["status"] == "done", done
    with Session(committed_db) as session:
        job = session.get(ExportJob, done["id"])
        assert job is not None and job.file_name
        key = export_key(job.file_name)
    settings = s3_media.settings
    assert s3_media.prefix + key in s3_media.server.keys(s3_media.prefix)
    assert not (settings.exports_dir / job.file_name).exists(), "moved into the bucket"

    download = committed_client.get(str(done["download_url"]), headers=api)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["content-length"] == str(done["size_bytes"])
    assert job.file_name in download.headers["content-disposition"]
    assert download.content == media_storage(settings).read(key)
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert any(n.startswith(f"{layout.ORIGINALS_DIR}/") for n in names)
    cached = [p for p in settings.media_cache_dir.rglob("*.png") if p.is_file()]
    assert cached, "the originals were read through the local copies"
