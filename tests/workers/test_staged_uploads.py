"""Uploads staged in the bucket (issue 18, "Scale-out"): the web puts each uploaded file into
the media storage, and a Celery worker that shares no folder with it (a subprocess with a
media root, var folder and temporary folder of its own) imports them from there, then deletes
them, whether the import is done or failed."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.datasets.models import ImportJob
from app.storage import media_storage
from tests.conftest import login_new_admin
from tests.factories import image_bytes, make_dataset, zip_bytes
from tests.s3 import S3Media
from tests.workers.helpers import start_worker, stop_process, wait_for

pytestmark = pytest.mark.worker


@dataclass(frozen=True)
class Folders:
    """The local folders of the web (this process) and of the worker: all must stay empty."""

    web_media: Path
    web_tmp: Path
    worker_media: Path
    worker_var: Path
    worker_tmp: Path

    def files(self) -> list[Path]:
        every = (self.web_media, self.web_tmp, self.worker_media, self.worker_tmp)
        return [p for folder in every if folder.exists() for p in folder.rglob("*") if p.is_file()]


@pytest.fixture
def folders(s3_media: S3Media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Folders:
    web_tmp = tmp_path / "web-tmp"
    web_tmp.mkdir()
    # Where this process (the web) receives uploads before putting them into the bucket.
    monkeypatch.setattr(tempfile, "tempdir", str(web_tmp))
    made = Folders(
        web_media=s3_media.settings.media_root,
        web_tmp=web_tmp,
        worker_media=tmp_path / "worker-media",
        worker_var=tmp_path / "worker-var",
        worker_tmp=tmp_path / "worker-tmp",
    )
    made.worker_tmp.mkdir()
    return made


@pytest.fixture
def worker(folders: Folders) -> Iterator[None]:
    """Another machine, as far as files go; the bucket's settings from the environment."""
    process = start_worker(
        {
            **os.environ,
            "MISCOMP_MEDIA_ROOT": str(folders.worker_media),
            "MISCOMP_VAR_DIR": str(folders.worker_var),
            "TMPDIR": str(folders.worker_tmp),
        }
    )
    try:
        yield
    finally:
        stop_process(process, signal.SIGTERM)


def _job(engine: Engine, import_id: int) -> ImportJob:
    with Session(engine) as session:
        job = session.get(ImportJob, import_id)
        assert job is not None
        return job


def _ended(engine: Engine, *import_ids: int) -> bool:
    return all(_job(engine, i).status in ("done", "failed") for i in import_ids)


def _staged_in_bucket(s3_media: S3Media) -> set[str]:
    return {
        key.removeprefix(s3_media.prefix)
        for key in s3_media.server.keys(f"{s3_media.prefix}staging/")
    }


def _outcomes(client: TestClient, import_id: int) -> dict[str, tuple[str, str]]:
    report = client.get(f"/api/imports/{import_id}").json()
    return {f["name"]: (f["outcome"], f["message"]) for f in report["files"]}


def test_uploads_are_staged_in_the_bucket_imported_by_a_worker_and_deleted(
    s3_media: S3Media,
    committed_db: Engine,
    committed_client: TestClient,
    folders: Folders,
    request: pytest.FixtureRequest,
) -> None:
    storage = media_storage(s3_media.settings)
    with Session(committed_db, expire_on_commit=False) as session:
        dataset = make_dataset(session, "staged-in-the-bucket")
        session.commit()
    csrf = {"X-CSRF-Token": login_new_admin(committed_client, committed_db)}
    api = f"/api/datasets/{dataset.id}/imports"

    # 1. A zip and loose files through the API; the browser's form with two loose files.
    photos = zip_bytes({f"photos/{n}.png": image_bytes() for n in range(3)})
    loose = image_bytes("JPEG"), image_bytes()
    uploaded = committed_client.post(
        api,
        headers=csrf,
        files=[
            ("files", ("photos.zip", photos, "application/zip")),
            ("files", ("loose.jpg", loose[0], "image/jpeg")),
            ("files", ("loose.png", loose[1], "image/png")),
        ],
    )
    assert uploaded.status_code == 202, uploaded.text
    formed = committed_client.post(
        f"/datasets/{dataset.id}/import",
        data={"csrf_token": csrf["X-CSRF-Token"]},
        files=[
            ("files", ("form-1.png", image_bytes(), "image/png")),
            ("files", ("form-2.png", image_bytes(), "image/png")),
        ],
    )
    assert formed.status_code == 303, formed.text
    # 2. A corrupt zip: its import ends with the file refused, and why.
    corrupt = committed_client.post(
        api, headers=csrf, files=[("files", ("broken.zip", b"PK\x03\x04 not a zip", "x/y"))]
    )
    # 3. An upload whose staged file is lost from the bucket before a worker takes it: the
    # import fails and says which file and why; the other staged file goes too.
    lost = committed_client.post(
        api,
        headers=csrf,
        files=[
            ("files", ("kept.png", image_bytes(), "image/png")),
            ("files", ("lost.png", image_bytes(), "image/png")),
        ],
    )
    assert corrupt.status_code == lost.status_code == 202
    ids = {
        "upload": uploaded.json()["id"],
        "form": int(formed.headers["location"].rsplit("/", 1)[1]),
        "corrupt": corrupt.json()["id"],
        "lost": lost.json()["id"],
    }

    # Staged: in the bucket, under the keys the jobs name, and nowhere on the web's disk.
    jobs = {name: _job(committed_db, i) for name, i in ids.items()}
    staged = {upload["key"] for job in jobs.values() for upload in job.uploads}
    assert len(staged) == 3 + 2 + 1 + 2
    assert _staged_in_bucket(s3_media) == staged
    assert storage.read(jobs["upload"].uploads[0]["key"]) == photos
    assert folders.files() == []
    lost_key = jobs["lost"].uploads[1]["key"]
    storage.delete(lost_key)

    request.getfixturevalue("worker")
    wait_for(lambda: _ended(committed_db, *ids.values()), 180, "the worker to end every import")
    jobs = {name: _job(committed_db, i) for name, i in ids.items()}

    assert (jobs["upload"].status, jobs["upload"].n_imported) == ("done", 5), jobs["upload"].error
    assert set(_outcomes(committed_client, ids["upload"]).items()) == {
        ("photos.zip/photos/0.png", ("imported", "")),
        ("photos.zip/photos/1.png", ("imported", "")),
        ("photos.zip/photos/2.png", ("imported", "")),
        ("loose.jpg", ("imported", "")),
        ("loose.png", ("imported", "")),
    }
    assert (jobs["form"].status, jobs["form"].n_imported) == ("done", 2), jobs["form"].error
    assert (jobs["corrupt"].status, jobs["corrupt"].n_failed) == ("done", 1)
    ((outcome, why),) = _outcomes(committed_client, ids["corrupt"]).values()
    assert outcome == "failed" and "not a readable zip archive" in why
    assert jobs["lost"].status == "failed"
    assert jobs["lost"].error is not None
    assert "lost.png: the uploaded file is no longer in the media storage" in jobs["lost"].error
    assert storage.location(lost_key) in jobs["lost"].error

    images = committed_client.get(f"/api/datasets/{dataset.id}/images").json()
    assert images["total"] == 7
    for image in images["items"]:
        pixels = committed_client.get(f"/media/images/{image['id']}/pixels.png")
        assert pixels.status_code == 200 and pixels.content.startswith(b"\x89PNG")

    # Nothing staged is left in the bucket, and no machine kept a file of it.
    assert _staged_in_bucket(s3_media) == set()
    assert folders.files() == []
