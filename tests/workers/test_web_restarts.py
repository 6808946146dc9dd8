"""Issue 18: the web server killed (SIGKILL) and started again while an upload comes in,
after an upload's import was queued, and while a worker writes an export. Nothing
half-received is imported or left behind, a queued import is the worker's to finish, and
no download is ever offered before its file is whole.

The web server is ``miscomp serve`` in a subprocess, on this test session's PostgreSQL,
Redis and media folder; the worker is a real Celery worker (``celery_worker_thread``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image as PILImage
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.datasets.models import Image, ImportJob
from app.domain.roles import Role
from app.exports.models import ExportJob
from app.storage import media_storage
from app.users import service as user_service
from tests.factories import make_dataset, make_user
from tests.s3 import S3Media
from tests.servers import free_port, wait_until_answering
from tests.studies.helpers import annotators, label_items, open_study_with_items
from tests.workers.helpers import wait_for

pytestmark = pytest.mark.worker

UPLOADED_IMAGES = 15
"""Noise PNGs of 256 x 256 (about 200 kB each): a 3 MB zip, under the tests' 4 MB limit."""
EXPORTED_ITEMS, RATERS = 4_000, 3
"""12,000 annotations: exports that take a worker a second or two each to write."""
EXPORT_FORMATS = ("parquet", "csv", "jsonl")
"""Queued together, written one after another by the worker: seconds of writing to restart
the web server in."""


@dataclass
class WebServer:
    """``miscomp serve`` in a process group of its own, with its own temporary folder (where
    it spools request bodies); logs to ``log``."""

    tmp: Path
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                env={**os.environ, "TMPDIR": str(self.tmp)},
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until_answering(f"{self.url}/healthz", self.process, log=self.log.read_text)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash or an OOM kill leaves it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebServer]:
    (tmp_path / "web-tmp").mkdir()
    server = WebServer(tmp=tmp_path / "web-tmp", log=tmp_path / "web.log")
    try:
        yield server
    finally:
        server.kill()


def _admin_token(engine: Engine) -> dict[str, str]:
    with Session(engine, expire_on_commit=False) as session:
        admin = make_user(session, Role.ADMIN)
        _, secret = user_service.create_token(session, admin, "script")
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _photos_zip() -> bytes:
    rng = np.random.default_rng(18)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i in range(UPLOADED_IMAGES):
            pixels = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
            picture = io.BytesIO()
            PILImage.fromarray(pixels).save(picture, format="PNG")
            archive.writestr(f"photos/noise-{i:02d}.png", picture.getvalue())
    return buffer.getvalue()


def _multipart(field: str, name: str, data: bytes, boundary: str) -> bytes:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{name}"\r\nContent-Type: application/zip\r\n\r\n'
    )
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode()


def _send_part_then_lose_the_server(
    web: WebServer, path: str, headers: dict[str, str], body: bytes, boundary: str
) -> bytes:
    """Stream the first half of ``body`` slowly (64 kB every 20 ms), SIGKILL the server,
    then try to send the rest; returns whatever the server answered (nothing, it died)."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{web.port}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
        f"Content-Length: {len(body)}",
        *(f"{key}: {value}" for key, value in headers.items()),
        "Connection: close",
    ]
    half, chunk = len(body) // 2, 64 * 1024
    with socket.create_connection(("127.0.0.1", web.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for start in range(0, half, chunk):
            sock.sendall(body[start : min(start + chunk, half)])
            time.sleep(0.02)
        time.sleep(0.5)  # the server has read what was sent
        web.kill()
        answer = b""
        try:
            sock.sendall(body[half:])
            while received := sock.recv(65536):
                answer += received
        except OSError:
            pass  # reset by the dead server's kernel
    return answer


@pytest.fixture(params=["local", "s3"])
def media(request: pytest.FixtureRequest) -> S3Media | None:
    """Media in the local folder, or in a bucket (uploads staged there, not on the web's disk)."""
    return request.getfixturevalue("s3_media") if request.param == "s3" else None


def _staged(media: S3Media | None) -> set[str]:
    """The staging folder's batches on the web's disk, and the staged objects in the bucket."""
    staging = get_settings().media_root / "staging"
    local = {p.name for p in staging.iterdir()} if staging.is_dir() else set()
    return local | (media.server.keys(f"{media.prefix}staging/") if media else set())


def _import_jobs(engine: Engine, dataset_id: int) -> list[ImportJob]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(ImportJob).where(ImportJob.dataset_id == dataset_id).order_by(ImportJob.id)
            )
        )


def _image_count(engine: Engine, dataset_id: int) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).where(Image.dataset_id == dataset_id)) or 0)


@pytest.mark.timeout(240)
def test_an_upload_cut_by_a_web_restart_leaves_nothing_and_a_queued_import_is_finished(
    media: S3Media | None, committed_db: Engine, web: WebServer, request: pytest.FixtureRequest
) -> None:
    api = _admin_token(committed_db)
    with Session(committed_db, expire_on_commit=False) as session:
        dataset = make_dataset(session, f"restarts-{uuid.uuid4().hex[:8]}")
        session.commit()
    photos = _photos_zip()
    path = f"/api/datasets/{dataset.id}/imports"
    staged_before = _staged(media)

    # 1. The server dies with half the upload received: nothing of it is imported, queued,
    # staged or spooled.
    web.start()
    boundary = uuid.uuid4().hex
    answer = _send_part_then_lose_the_server(
        web, path, api, _multipart("files", "photos.zip", photos, boundary), boundary
    )
    assert answer == b"", answer[:200]  # no answer: it was still reading the body
    assert _import_jobs(committed_db, dataset.id) == []
    assert _image_count(committed_db, dataset.id) == 0
    assert _staged(media) == staged_before
    assert list(web.tmp.iterdir()) == []  # the spooled half went with the process

    # 2. Uploaded again after the restart: received whole and queued; then the server dies
    # before any worker took the import, which is no less the workers' to run.
    web.start()
    queued = httpx.post(
        f"{web.url}{path}",
        headers=api,
        files={"files": ("photos.zip", photos, "application/zip")},
        timeout=60,
    )
    assert queued.status_code == 202, queued.text
    import_id = queued.json()["id"]
    web.kill()
    (job,) = _import_jobs(committed_db, dataset.id)
    assert (job.id, job.status) == (import_id, "queued")
    storage = media_storage(get_settings())
    assert job.staging_prefix is not None
    assert all(storage.exists(upload["key"]) for upload in job.uploads)
    assert list(web.tmp.iterdir()) == []  # received, stored, and the local copy removed

    request.getfixturevalue("celery_worker_thread")  # a worker comes up; no web server runs
    wait_for(
        lambda: _import_jobs(committed_db, dataset.id)[0].status not in ("queued", "running"),
        120,
        "the worker to finish the import",
    )
    (job,) = _import_jobs(committed_db, dataset.id)
    assert job.status == "done", job.error
    assert (job.processed, job.n_imported, job.n_failed) == (UPLOADED_IMAGES, UPLOADED_IMAGES, 0)
    assert _image_count(committed_db, dataset.id) == UPLOADED_IMAGES
    assert not any(storage.exists(upload["key"]) for upload in job.uploads)  # read, removed
    assert _staged(media) == staged_before

    # 3. The restarted server shows the import whole.
    web.start()
    report = httpx.get(f"{web.url}/api/imports/{import_id}", headers=api, timeout=30).json()
    assert report["status"] == "done" and report["n_imported"] == UPLOADED_IMAGES
    assert [f["outcome"] for f in report["files"]] == ["imported"] * UPLOADED_IMAGES
    shown = httpx.get(f"{web.url}/api/datasets/{dataset.id}", headers=api, timeout=30).json()
    assert shown["image_count"] == UPLOADED_IMAGES


def _labelled_study(engine: Engine) -> tuple[int, int]:
    """A study of EXPORTED_ITEMS items, each labelled by RATERS raters; (id, annotations)."""
    study_id, item_ids = open_study_with_items(engine, EXPORTED_ITEMS, raters_per_item=RATERS)
    raters = annotators(engine, RATERS)
    rows: list[dict[str, object]] = [
        {
            "item_id": item_id,
            "user_id": rater,
            "verdict": "miscompression" if (item_id + rater) % 7 == 0 else "no_miscompression",
            "categories": ["shape"] if (item_id + rater) % 7 == 0 else [],
            "modifiers": [],
            "confidence": 1 + (item_id + rater) % 5,
        }
        for item_id in item_ids
        for rater in raters
    ]
    label_items(engine, study_id, rows)
    return study_id, len(rows)


DOWNLOAD_LINK = re.compile(r"/api/exports/(\d+)/download")


def _records_in(format_name: str, content: bytes) -> int:
    """How many records a downloaded export holds, read to its end by the library its users
    read it with (a torn file fails to parse)."""
    if format_name == "parquet":
        return int(pq.read_table(io.BytesIO(content)).num_rows)
    if format_name == "csv":
        return sum(1 for _ in csv.DictReader(io.StringIO(content.decode())))
    return len([json.loads(line) for line in content.splitlines()])


class ExportWatch:
    """Everything the web server shows of a study's exports, checked at each look: a job is
    offered for download (in the API's list, on the study page's panel, by the download
    route) only once it is done, and what downloads is then the whole file."""

    def __init__(self, study_id: int, annotations: int, headers: dict[str, str]) -> None:
        self.study_id, self.annotations, self.headers = study_id, annotations, headers
        self.looks: list[dict[str, str]] = []

    def look(self, web: WebServer) -> dict[str, str]:
        """One look at the exports through ``web``; returns each one's status by format.
        The list, then the panel, then each download: a job may end between two of them, so
        what each one shows is checked against what the later ones must then show."""
        with httpx.Client(base_url=web.url, headers=self.headers, timeout=60) as client:
            jobs = client.get(f"/api/studies/{self.study_id}/exports").json()
            panel = client.get(f"/studies/{self.study_id}/exports")
            assert panel.status_code == 200, panel.text
            linked = {int(found) for found in DOWNLOAD_LINK.findall(panel.text)}
            for job in jobs:
                download = client.get(f"/api/exports/{job['id']}/download")
                if job["status"] == "done":
                    assert job["download_url"] == f"/api/exports/{job['id']}/download"
                    assert len(download.content) == job["size_bytes"]
                    assert job["done"] == job["total"] == self.annotations, job
                else:
                    assert job["download_url"] is None, job
                if job["status"] == "done" or job["id"] in linked:
                    assert download.status_code == 200, (job, download.status_code)
                if download.status_code == 200:  # whatever is offered is the whole file
                    records = _records_in(job["format"], download.content)
                    assert records == self.annotations, (job, records)
                else:
                    assert download.status_code == 404, (job, download.status_code)
        self.looks.append({job["format"]: job["status"] for job in jobs})
        return self.looks[-1]


@pytest.mark.timeout(240)
def test_exports_written_across_a_web_restart_are_never_offered_half_written(
    committed_db: Engine, web: WebServer, celery_worker_thread: None
) -> None:
    study_id, annotations = _labelled_study(committed_db)
    api = _admin_token(committed_db)
    watch = ExportWatch(study_id, annotations, api)
    web.start()
    for format_name in EXPORT_FORMATS:
        asked = httpx.post(
            f"{web.url}/api/studies/{study_id}/exports",
            headers=api,
            json={"format": format_name},
            timeout=60,
        )
        assert asked.status_code == 202, asked.text

    def statuses() -> set[str]:
        with Session(committed_db) as session:
            return set(
                session.scalars(select(ExportJob.status).where(ExportJob.study_id == study_id))
            )

    # Watched through the first server while the worker writes, then the server is killed.
    while "running" not in watch.look(web).values():
        assert statuses() & {"queued", "running"}, "the exports ended before they were watched"
    web.kill()
    assert statuses() & {"queued", "running"}, "the web server was to die mid-way"

    # The restarted server: watched until every export has ended.
    web.start()
    deadline = time.monotonic() + 120
    while set(watch.look(web).values()) & {"queued", "running"}:
        assert time.monotonic() < deadline, watch.looks[-3:]
    assert watch.looks[-1] == dict.fromkeys(EXPORT_FORMATS, "done"), watch.looks[-3:]
    exports = get_settings().exports_dir
    assert [p.name for p in exports.iterdir() if p.name.endswith(".partial")] == []
