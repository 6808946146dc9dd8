"""Importing images: every bad input gets a clear per-file error and stores nothing."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings
from app.datasets import importer
from app.datasets.models import Image, ImportFile, ImportJob
from app.db import make_sessionmaker
from app.domain.roles import Role
from app.storage import LocalMediaStorage, media_storage
from app.uploads import discard_staged
from tests.conftest import login
from tests.factories import image_bytes, make_dataset, make_user, zip_bytes


@pytest.fixture
def factory(committed_db: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(committed_db)


def _bomb() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("1", (6000, 4000)).save(buffer, format="PNG")
    return buffer.getvalue()


def _media_files() -> set[str]:
    root = get_settings().media_root
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.relative_to(root).as_posix().startswith("staging/")
    }


def _run(factory: sessionmaker[Session], path: Path, dataset_name: str) -> ImportJob:
    settings = get_settings()
    with factory.begin() as session:
        dataset = make_dataset(session, dataset_name) if dataset_name else None
        assert dataset is not None
        job = importer.create_path_import(session, dataset, path, actor=None)
        job_id = job.id
    return importer.execute_import(
        factory, LocalMediaStorage(settings.media_root), settings, job_id, actor_label="test"
    )


def _outcomes(factory: sessionmaker[Session], job_id: int) -> dict[str, tuple[str, str]]:
    with factory() as session:
        rows = session.scalars(select(ImportFile).where(ImportFile.import_id == job_id))
        return {r.name: (r.outcome, r.message) for r in rows}


def test_folder_import_reports_each_file_and_stores_only_good_ones(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    good = {
        "photo.jpg": image_bytes("JPEG"),
        "grey.png": image_bytes("PNG", mode="L"),
        "palette.gif": image_bytes("GIF", mode="P"),
        "cmyk.tif": image_bytes("TIFF", mode="CMYK"),
        "sub/alpha.png": image_bytes("PNG", mode="RGBA"),
    }
    truncated = image_bytes("PNG", size=(200, 200))
    bad = {
        "notes.txt": b"not an image at all",
        "empty.png": b"",
        "truncated.png": truncated[: len(truncated) // 2],
        "bomb.png": _bomb(),
        "nested.zip": zip_bytes({"x.png": image_bytes()}),
    }
    for name, data in {**good, **bad}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "link.png").symlink_to(tmp_path / "photo.jpg")
    before = _media_files()

    job = _run(factory, tmp_path, "mixed")

    outcomes = _outcomes(factory, job.id)
    assert {n for n, (o, _) in outcomes.items() if o == "imported"} == set(good)
    assert outcomes["notes.txt"] == ("failed", "not an image Pillow can read")
    assert outcomes["empty.png"] == ("failed", "empty file (0 bytes)")
    assert "truncated" in outcomes["truncated.png"][1]
    assert "decompression bomb" in outcomes["bomb.png"][1]
    assert outcomes["nested.zip"][0] == "failed" and "archive" in outcomes["nested.zip"][1]
    assert outcomes["link.png"] == ("failed", "symbolic link refused")
    assert (job.status, job.n_imported, job.n_failed) == ("done", 5, 6)
    assert job.processed == job.total == 11
    with factory() as session:
        images = session.scalars(select(Image).where(Image.dataset_id == job.dataset_id)).all()
        modes = {i.filename: i.original_mode for i in images}
    assert modes == {
        "photo.jpg": "RGB",
        "grey.png": "L",
        "palette.gif": "P",
        "cmyk.tif": "CMYK",
        "sub/alpha.png": "RGBA",
    }
    # One lossless PNG and one thumbnail per accepted image, nothing for the rejects.
    added = _media_files() - before
    assert len([k for k in added if k.startswith("images/")]) == 5
    assert len([k for k in added if k.startswith("thumbs/")]) == 5
    stored = LocalMediaStorage(get_settings().media_root).local_path(images[0].storage_key)
    assert PILImage.open(stored).mode == "RGB" and PILImage.open(stored).format == "PNG"


def test_reimporting_the_same_files_creates_no_duplicates(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(image_bytes())
    first = _run(factory, tmp_path, "again")
    with factory.begin() as session:
        dataset_id = first.dataset_id
        from app.datasets.models import Dataset

        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        second_job = importer.create_path_import(session, dataset, tmp_path, actor=None)
        second_id = second_job.id
    settings = get_settings()
    second = importer.execute_import(
        factory, LocalMediaStorage(settings.media_root), settings, second_id
    )
    assert (first.n_imported, second.n_imported, second.n_duplicate) == (3, 0, 3)
    with factory() as session:
        count = session.scalar(select(func.count()).where(Image.dataset_id == dataset_id))
    assert count == 3


def test_hostile_zip_writes_nothing_outside_and_keeps_the_good_members(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    archive = tmp_path / "hostile.zip"
    archive.write_bytes(
        zip_bytes(
            {
                "ok.png": image_bytes(),
                "../../escape.png": image_bytes(),
                "/tmp/absolute.png": image_bytes(),
                "inner.zip": zip_bytes({"a.png": image_bytes()}),
            },
            symlinks={"evil-link": "/etc/passwd"},
        )
    )
    job = _run(factory, archive, "hostile")
    outcomes = _outcomes(factory, job.id)
    assert outcomes["hostile.zip/ok.png"][0] == "imported"
    refused = {n: m for n, (o, m) in outcomes.items() if o == "failed"}
    assert set(refused) == {
        "hostile.zip/../../escape.png",
        "hostile.zip//tmp/absolute.png",
        "hostile.zip/inner.zip",
        "hostile.zip/evil-link",
    }
    assert not list(tmp_path.parent.rglob("escape.png"))
    assert not Path("/tmp/absolute.png").exists()


def test_running_an_import_twice_is_idempotent(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(image_bytes())
    job = _run(factory, tmp_path, "twice")
    with factory.begin() as session:
        session.get(ImportJob, job.id).status = "running"  # type: ignore[union-attr]
    settings = get_settings()
    again = importer.execute_import(
        factory, LocalMediaStorage(settings.media_root), settings, job.id
    )
    assert (again.n_imported, again.n_duplicate) == (1, 0)
    assert len(_outcomes(factory, job.id)) == 1


@pytest.fixture
def admin_client(client: TestClient, db: Session) -> Iterator[tuple[TestClient, str, int]]:
    admin = make_user(db, Role.ADMIN)
    dataset = make_dataset(db, "uploads")
    db.commit()
    csrf = login(client, admin)
    return client, csrf, dataset.id


def test_api_upload_queues_a_celery_task_after_commit(
    admin_client: tuple[TestClient, str, int], db: Session, redis_client: redis.Redis
) -> None:
    client, csrf, dataset_id = admin_client
    files = [
        ("files", ("a.png", image_bytes(), "image/png")),
        ("files", ("b.zip", zip_bytes({"c.jpg": image_bytes("JPEG")}), "application/zip")),
        ("files", ("../../images/ab/d.png", image_bytes(), "image/png")),
    ]
    response = client.post(
        f"/api/datasets/{dataset_id}/imports", files=files, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    job = db.get(ImportJob, body["id"])
    assert job is not None
    # Staged in the media storage under keys of the server's making, whatever the names.
    prefix = job.staging_prefix
    assert prefix is not None and re.fullmatch(r"staging/[0-9a-f]{32}", prefix)
    assert job.uploads == [
        {"name": "a.png", "key": f"{prefix}/00000-a.png"},
        {"name": "b.zip", "key": f"{prefix}/00001-b.zip"},
        {"name": "../../images/ab/d.png", "key": f"{prefix}/00002-d.png"},
    ]
    storage = media_storage(get_settings())
    assert storage.read(job.uploads[0]["key"]) == files[0][1][1]
    assert all(storage.exists(u["key"]) for u in job.uploads)
    discard_staged(storage, [u["key"] for u in job.uploads])  # no worker runs here
    messages = [json.loads(m) for m in redis_client.lrange("cpu", 0, -1)]
    assert [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages] == [
        ("workers.tasks.imports.run_import", f"[{job.id}]")
    ]


def test_oversized_upload_is_refused_and_stores_nothing(
    admin_client: tuple[TestClient, str, int], db: Session, redis_client: redis.Redis
) -> None:
    client, csrf, dataset_id = admin_client
    staging = get_settings().media_root / "staging"
    before = set(staging.iterdir()) if staging.exists() else set()
    too_big = b"\0" * (get_settings().max_upload_bytes + 1)
    response = client.post(
        f"/api/datasets/{dataset_id}/imports",
        files=[("files", ("big.png", too_big, "image/png"))],
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 413
    assert "MISCOMP_MAX_UPLOAD_BYTES" in response.json()["detail"]
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0
    assert (set(staging.iterdir()) if staging.exists() else set()) == before
    assert redis_client.llen("cpu") == 0


def test_upload_without_files_is_a_clear_error(
    admin_client: tuple[TestClient, str, int], db: Session
) -> None:
    client, csrf, dataset_id = admin_client
    response = client.post(
        f"/datasets/{dataset_id}/import",
        files=[("files", ("", b"", "application/octet-stream"))],
        data={"csrf_token": csrf},
    )
    assert response.status_code == 422
    assert "no files were uploaded" in response.text
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_browser_form_upload_redirects_to_the_progress_page(
    admin_client: tuple[TestClient, str, int], db: Session
) -> None:
    client, csrf, dataset_id = admin_client
    response = client.post(
        f"/datasets/{dataset_id}/import",
        data={"csrf_token": csrf},
        files=[("files", ("a.png", image_bytes(), "image/png"))],
    )
    assert response.status_code == 303
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/imports/{job_id}")
    assert page.status_code == 200
    assert 'data-testid="import-status">queued' in page.text
    assert 'hx-trigger="every 1s"' in page.text
