"""Bounded numbers and JSON (issue 13, findings 5 and 6) and anonymous bodies refused before
they are read (finding 11)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Dataset
from app.domain.bounds import JsonRefused, json_depth, parse_json
from app.domain.roles import Role
from app.request_limits import ANONYMOUS_MAX_BODY_BYTES
from app.studies.models import Study
from app.users import service as user_service
from tests.conftest import login, run_async
from tests.factories import image_bytes, make_dataset, make_user, store_image

DEEP = "[" * 10_000 + "]" * 10_000


def _admin(client: TestClient, db: Session) -> str:
    admin = make_user(db, Role.ADMIN)
    db.commit()
    return login(client, admin)


def _finished_run(db: Session) -> CodecRun:
    dataset = make_dataset(db)
    image = store_image(db, dataset.id, PILImage.open(io.BytesIO(image_bytes())), "a.png")
    run = CodecRun(dataset_id=dataset.id, codec="jpeg", params={"quality": 20}, seeds=[0])
    db.add(run)
    db.flush()
    db.add(
        CodecResult(
            run_id=run.id, image_id=image.id, seed=0, status="done", recon_key=image.storage_key
        )
    )
    db.commit()
    return run


def test_ids_past_the_integer_column_are_422_naming_the_field(
    client: TestClient, db: Session
) -> None:
    csrf = _admin(client, db)
    for url in ("/api/runs/18446744073709551616", "/runs/9223372036854775808"):
        response = client.get(url, headers={"Accept": "application/json"})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["path", "run_id"]
    response = client.get("/api/audit?offset=99999999999999999999")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]
    response = client.post(
        "/api/runs",
        json={"dataset_id": 1, "codec": "jpeg", "seeds": [2**64]},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "seeds", 0]


def test_nan_quota_is_refused_and_no_study_is_stuck(client: TestClient, db: Session) -> None:
    csrf = _admin(client, db)
    run = _finished_run(db)
    response = client.post(
        "/api/studies",
        content=(
            f'{{"name": "s", "run_ids": [{run.id}], "methods": ["random"],'
            ' "quotas": {"guided": 0, "random": NaN, "control": 1}}'
        ),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "NaN" in response.json()["detail"][0]["msg"]
    assert db.scalar(select(func.count()).select_from(Study)) == 0


def test_infinite_lease_comes_back_in_the_form_with_what_was_entered(
    client: TestClient, db: Session
) -> None:
    csrf = _admin(client, db)
    run = _finished_run(db)
    form = {
        "name": "kept name",
        "run_ids": str(run.id),
        "methods": "random",
        "items": "300",
        "quota_guided": "0",
        "quota_random": "nan",
        "quota_control": "100",
        "lease_min": "inf",
        "seed": "18446744073709551616",
        "csrf_token": csrf,
    }
    response = client.post("/studies", data=form)
    assert response.status_code == 422
    for field in ("quota_random", "lease_min"):
        assert f"{field}: must be a finite number" in response.text
    assert 'value="kept name"' in response.text
    assert 'value="inf"' in response.text
    assert db.scalar(select(func.count()).select_from(Study)) == 0
    response = client.post("/studies", data={**form, "quota_random": "0", "lease_min": "15"})
    assert response.status_code == 422
    assert "seed: must be at most 2,147,483,647" in response.text
    assert 'value="18446744073709551616"' in response.text


def test_deep_json_in_the_run_form_is_refused_by_name(client: TestClient, db: Session) -> None:
    csrf = _admin(client, db)
    dataset = make_dataset(db)
    db.commit()
    response = client.post(
        "/runs",
        data={"dataset_id": str(dataset.id), "codec": "jpeg", "params": DEEP, "csrf_token": csrf},
    )
    assert response.status_code == 422
    assert "params: nested deeper than 32 levels" in response.text
    assert db.scalar(select(func.count()).select_from(CodecRun)) == 0


def test_deep_json_bodies_are_refused_by_name(client: TestClient, db: Session) -> None:
    csrf = _admin(client, db)
    for body in (DEEP, '{"dataset_id": 1, "codec": "jpeg", "params": ' + "[" * 40 + "]" * 40 + "}"):
        response = client.post(
            "/api/runs",
            content=body,
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"loc": ["body"], "msg": "body: nested deeper than 32 levels", "type": "json_invalid"}
        ]


def test_parse_json_bounds() -> None:
    assert json_depth('[{"a": "[[[["}, []]') == 2
    assert parse_json('{"a": [1, 2.5]}', field="f") == {"a": [1, 2.5]}
    for text, reason in (
        (DEEP, "f: nested deeper"),
        ('{"a": NaN}', "f: NaN"),
        ("[1e309]", "f: 1e309 is too large"),
        ('["\\u0000"]', "f.0: must not contain the control character NUL"),
        ("x" * 2_000_000, "f: larger than"),
        ("{oops", "f: not valid JSON"),
    ):
        with pytest.raises(JsonRefused, match=f"^{re.escape(reason)}"):
            parse_json(text, field="f")


def _call(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """Send a POST straight to the ASGI app; (status, body messages the app asked for)."""
    reads = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        start = b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
        return {
            "type": "http.request",
            "body": start * (reads == 1) + b"\0" * 65_536,
            "more_body": True,
        }

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/datasets/1/imports",
        "raw_path": b"/api/datasets/1/imports",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "app": app,
    }
    run_async(app(scope, receive, send))
    return status, reads


def test_anonymous_upload_is_refused_before_its_body_is_read(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, Role.ADMIN)
    _, secret = user_service.create_token(db, user, "t")
    db.commit()
    multipart = (b"content-type", b"multipart/form-data; boundary=x")
    big = (b"content-length", str(ANONYMOUS_MAX_BODY_BYTES + 1).encode())
    app = client.app
    for headers in (
        [multipart, big],
        [multipart, big, (b"authorization", b"Bearer not-a-token")],
        [multipart, (b"transfer-encoding", b"chunked")],
    ):
        status, reads = _call(app, headers)
        assert status == 401, headers
        # Declared too large: not a byte read. Chunked: refused at the chunk that passes the
        # anonymous limit.
        assert reads == (0 if big in headers else 1), headers
    # With a live token the same request reaches the route (which finds no dataset 1... or
    # reads its body): it is not refused for being anonymous.
    status, _ = _call(app, [multipart, big, (b"authorization", f"Bearer {secret}".encode())])
    assert status != 401


def test_login_form_still_works_for_anonymous_users(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.ANNOTATOR)
    db.commit()
    login(client, user)  # asserts the 303 of a successful login


def test_nul_in_a_text_field_is_422_and_stores_nothing(client: TestClient, db: Session) -> None:
    """PostgreSQL cannot store NUL in text: a form field with one is refused with its name
    (URL-encoded forms) or as a 422 (multipart forms), never a 500, and nothing is stored."""
    csrf = _admin(client, db)
    encoded = client.post(
        "/datasets",
        data={"name": "nul-form", "description": "a\x00b", "csrf_token": csrf},
    )
    assert encoded.status_code == 422 and "description" in encoded.text
    multipart = client.post(
        "/datasets",
        data={"name": "nul-multipart", "description": "a\x00b", "csrf_token": csrf},
        files=[("unused", ("x.txt", b"x", "text/plain"))],
    )
    assert multipart.status_code == 422 and "NUL" in multipart.text
    stored = db.scalar(select(func.count()).where(Dataset.name.in_(["nul-form", "nul-multipart"])))
    assert stored == 0
