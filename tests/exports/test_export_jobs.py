"""A researcher asks for an export on the study page or through the API; a real worker writes
it with progress; the finished file is listed with its size and date and downloads as the
records the CLI writes. Wrong input changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.roles import Role
from app.exports.models import ExportJob
from app.studies.models import Annotation
from app.users import service as user_service
from tests.conftest import login
from tests.exports.helpers import api_headers, label_everything, wait_for_export
from tests.factories import make_user
from tests.studies.helpers import blind_study, finished_run


def test_an_export_is_written_by_a_worker_and_downloaded(
    committed_client: TestClient, committed_db: Engine, request: pytest.FixtureRequest
) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db), raters_per_item=2)
    label_everything(committed_db, study_id)
    # The worker starts only now: finished_run codes in this process, and a worker running
    # meanwhile would take the post-processing tasks it sends.
    request.getfixturevalue("celery_worker_thread")
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        _, secret = user_service.create_token(session, researcher, "script")
        annotations = session.scalar(select(func.count()).where(Annotation.study_id == study_id))
        session.commit()
    api = {"Authorization": f"Bearer {secret}"}

    asked = committed_client.post(
        f"/api/studies/{study_id}/exports", json={"format": "jsonl"}, headers=api
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["download_url"] is None
    done = wait_for_export(committed_client, asked.json()["id"], api)
    assert done["status"] == "done", done
    assert done["done"] == done["total"] == annotations
    download = committed_client.get(str(done["download_url"]), headers=api)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in download.headers["content-disposition"]
    records = [json.loads(line) for line in download.content.splitlines()]
    assert len(records) == annotations
    assert {r["study"]["id"] for r in records} == {study_id}
    assert int(download.headers["content-length"]) == done["size_bytes"]
    # Nothing half-written is left beside the file.
    assert [
        p.name for p in get_settings().exports_dir.iterdir() if p.name.endswith(".partial")
    ] == []

    # The study page's panel: ask, then see it listed with its size and a download link.
    csrf = login(committed_client, researcher)
    panel = committed_client.post(
        f"/studies/{study_id}/exports",
        data={"format": "csv", "all_revisions": "true", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert panel.status_code == 200 and "every revision" in panel.text
    job_id = max(j["id"] for j in committed_client.get(f"/api/studies/{study_id}/exports").json())
    assert wait_for_export(committed_client, job_id, {})["status"] == "done"
    listed = committed_client.get(f"/studies/{study_id}/exports")
    assert f"/api/exports/{job_id}/download" in listed.text and "bytes" in listed.text
    csv_file = committed_client.get(f"/api/exports/{job_id}/download")  # the browser's session
    assert csv_file.status_code == 200 and csv_file.text.startswith("study.id,study.name,")


def test_wrong_requests_change_nothing(committed_client: TestClient, committed_db: Engine) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db))
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        annotator = make_user(session, Role.ANNOTATOR)
        _, secret = user_service.create_token(session, researcher, "script")
        _, annotator_secret = user_service.create_token(session, annotator, "script")
        session.commit()
    api = {"Authorization": f"Bearer {secret}"}
    unknown = committed_client.post(
        f"/api/studies/{study_id}/exports", json={"format": "xml"}, headers=api
    )
    assert unknown.status_code == 422 and "unknown export format 'xml'" in unknown.text
    extra = committed_client.post(
        f"/api/studies/{study_id}/exports", json={"format": "csv", "path": "/etc"}, headers=api
    )
    assert extra.status_code == 422
    assert (
        committed_client.post(
            "/api/studies/99999999999999999999/exports", json={}, headers=api
        ).status_code
        == 422
    )
    assert (
        committed_client.post("/api/studies/999999/exports", json={}, headers=api).status_code
        == 404
    )
    refused = committed_client.post(
        f"/api/studies/{study_id}/exports",
        json={},
        headers={"Authorization": f"Bearer {annotator_secret}"},
    )
    assert refused.status_code == 403
    not_yet = committed_client.get("/api/exports/999999/download", headers=api)
    assert not_yet.status_code == 404
    csrf = login(committed_client, researcher)
    form = committed_client.post(
        f"/studies/{study_id}/exports", data={"format": "xml", "csrf_token": csrf}
    )
    assert form.status_code == 422 and "unknown export format" in form.text
    with Session(committed_db) as session:
        assert session.scalar(select(func.count()).select_from(ExportJob)) == 0


def test_a_job_not_yet_written_has_no_file(
    committed_client: TestClient, committed_db: Engine, tmp_path: Path
) -> None:
    """Without a worker the job stays queued: its download is a clear 404, not a half file."""
    study_id = blind_study(committed_db, finished_run(committed_db))
    api = api_headers(committed_db)
    job = committed_client.post(f"/api/studies/{study_id}/exports", json={}, headers=api).json()
    answer = committed_client.get(f"/api/exports/{job['id']}/download", headers=api)
    assert answer.status_code == 404
    assert answer.json()["detail"] == f"export {job['id']} has no file (queued)"


def test_a_job_whose_writing_fails_says_why_and_leaves_no_file(
    committed_db: Engine, tmp_path: Path
) -> None:
    """The exports folder cannot be written (a file stands where the folder should be): the
    job fails with the reason, shown with it, and nothing half-written is left."""
    from app.config import Settings
    from app.db import make_sessionmaker
    from app.exports import service
    from app.exports.records import ExportOptions
    from app.studies.models import Study

    study_id = blind_study(committed_db, finished_run(committed_db))
    media = tmp_path / "media"
    media.mkdir()
    (media / "exports").write_text("not a folder")
    settings = Settings(var_dir=tmp_path, media_root=media, secret_key="x")
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        study = session.get(Study, study_id)
        assert study is not None
        job = service.request_export(session, study, "jsonl", ExportOptions(), actor=researcher)
        session.info.pop("miscomp_jobs")  # this test runs the worker's step itself
        session.commit()
    assert service.run_export(make_sessionmaker(committed_db), settings, job.id) == "failed"
    with Session(committed_db) as session:
        failed = session.get(ExportJob, job.id)
        assert failed is not None and failed.status == "failed"
        assert failed.error and "exports" in failed.error and failed.file_name is None
    assert (media / "exports").read_text() == "not a folder"
