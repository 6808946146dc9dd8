"""An upload goes through the real path: web request, commit, Redis, Celery worker, database."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.roles import Role
from app.storage import media_storage
from app.uploads import ABANDONED_STAGING_AGE
from tests.conftest import login
from tests.factories import image_bytes, make_dataset, make_user, zip_bytes

pytestmark = pytest.mark.worker


def _wait_for_import(client: TestClient, import_id: int, timeout_s: float = 60) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        report = client.get(f"/api/imports/{import_id}").json()
        if report["status"] in ("done", "failed"):
            return report  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"import {import_id} did not finish in {timeout_s} s")


def test_worker_imports_an_upload_and_reports_each_file(
    committed_client: TestClient, committed_db: Engine, celery_worker_thread: None
) -> None:
    with Session(committed_db, expire_on_commit=False) as session:
        admin = make_user(session, Role.ADMIN)
        dataset = make_dataset(session, "worker-upload")
        session.commit()
        dataset_id = dataset.id
    csrf = login(committed_client, admin)
    files = [
        ("files", ("one.png", image_bytes(), "image/png")),
        (
            "files",
            (
                "batch.zip",
                zip_bytes({"two.jpg": image_bytes("JPEG"), "../bad.png": image_bytes()}),
                "application/zip",
            ),
        ),
        ("files", ("broken.png", b"\x89PNG\r\n\x1a\n broken", "image/png")),
    ]
    response = committed_client.post(
        f"/api/datasets/{dataset_id}/imports", files=files, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 202

    report = _wait_for_import(committed_client, response.json()["id"])

    assert report["status"] == "done"
    assert (report["n_imported"], report["n_failed"]) == (2, 2)
    outcomes = {f["name"]: f["outcome"] for f in report["files"]}
    assert outcomes == {
        "one.png": "imported",
        "batch.zip/two.jpg": "imported",
        "batch.zip/../bad.png": "failed",
        "broken.png": "failed",
    }
    images = committed_client.get(f"/api/datasets/{dataset_id}/images").json()
    assert images["total"] == 2
    pixels = committed_client.get(f"/media/images/{images['items'][0]['id']}/pixels.png")
    assert pixels.status_code == 200 and pixels.content.startswith(b"\x89PNG")


def test_after_an_import_the_worker_deletes_staging_abandoned_for_a_day(
    committed_client: TestClient, committed_db: Engine, celery_worker_thread: None
) -> None:
    """A batch left by a web process killed between its puts and its commit: no import names
    it, so the worker that runs the next import deletes it once it is a day old."""
    storage = media_storage(get_settings())
    abandoned, recent = (f"staging/{uuid.uuid4().hex}/00000-a.png" for _ in range(2))
    for key in (abandoned, recent):
        storage.put(key, image_bytes())
    long_ago = (datetime.now(UTC) - ABANDONED_STAGING_AGE).timestamp() - 60
    os.utime(storage.local_path(abandoned), (long_ago, long_ago))
    with Session(committed_db, expire_on_commit=False) as session:
        admin = make_user(session, Role.ADMIN)
        dataset = make_dataset(session, "after-abandoned")
        session.commit()
    csrf = login(committed_client, admin)
    response = committed_client.post(
        f"/api/datasets/{dataset.id}/imports",
        files=[("files", ("one.png", image_bytes(), "image/png"))],
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 202
    assert _wait_for_import(committed_client, response.json()["id"])["status"] == "done"
    deadline = time.monotonic() + 30  # the sweep follows the import in the same task
    while storage.exists(abandoned) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not storage.exists(abandoned)
    assert storage.exists(recent)
    storage.delete(recent)
